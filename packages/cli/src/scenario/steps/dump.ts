import { bool, int, map, str } from "../decoders.js";
import { iotlbOf, pageTableOf } from "../hardware-view.js";
import { dumpIotlb, renderIotlbDump } from "../iotlb-dump.js";
import { dumpPageTable, renderPageTableDump } from "../page-table-dump.js";
import { DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string;
  readonly iotlb: boolean;
  readonly limit: number;
}

/**
 * `dump`: a domain's page table as a tree (levels, indices, descriptors decoded) and, unless
 * `iotlb: false`, its IOMMU's IOTLB contents and statistics.
 */
export const dumpStep: StepDefinition<Params> = {
  kind: "dump",
  summary: "dump a domain's page table as a tree and its IOMMU's IOTLB with statistics",
  schema: object({ domain: DOMAIN, iotlb: { type: "boolean" }, limit: { type: "integer", minimum: 1 } }, [
    "domain",
  ]),
  canFail: false,
  decode(at) {
    const m = map(at);
    const i = m.opt("iotlb");
    const l = m.opt("limit");
    const p = { domain: str(m.req("domain")), iotlb: i ? bool(i) : true, limit: l ? int(l, 1) : 4096 };
    m.done();
    return p;
  },
  run(p, ctx) {
    const domain = ctx.domain(p.domain);
    const table = pageTableOf(domain);
    const pageTable = table ? dumpPageTable(table, ctx.mappings.ranges(domain.id), p.limit) : null;
    const backend = ctx.machine.backends.get(domain.iommu);
    const tlb = p.iotlb && backend ? iotlbOf(backend) : undefined;
    const iotlb = tlb ? dumpIotlb(domain.iommu, tlb) : null;
    const text = [
      `page table of ${p.domain}: ${pageTable ? renderPageTableDump(pageTable) : `none to show (${domain.iommu}'s domains keep no page-table bytes a viewer can read)`}`,
      ...(p.iotlb ? [iotlb ? renderIotlbDump(iotlb) : `${domain.iommu} has no IOTLB model`] : []),
    ].join("\n");
    return {
      summary: `${p.domain}: ${pageTable ? `${pageTable.leaves} leaves` : "no page table"}${iotlb ? `, ${iotlb.entries.length} IOTLB entries` : ""}`,
      detail: { pageTable, iotlb },
      text,
    };
  },
};
