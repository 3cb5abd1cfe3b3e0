/**
 * Dumping domains at the end of a run (the `dump` command): which domains, and their dumps.
 */
import { isPagingType } from "@iommu-sim/iommu";
import type { RunContext } from "./context.js";
import { iotlbOf, pageTableOf } from "./hardware-view.js";
import { dumpIotlb, type IotlbDump } from "./iotlb-dump.js";
import { dumpPageTable, type PageTableDump } from "./page-table-dump.js";
import { liveDomains } from "./snapshot.js";

/** A domain's dump. */
export interface DomainDump {
  readonly domain: string;
  readonly id: number;
  readonly iommu: string;
  /** `null` when the backend keeps no page-table bytes a viewer can read. */
  readonly pageTable: PageTableDump | null;
}

/** Dumps of the domains `refs` name, else of every live paging domain; plus each IOMMU's IOTLB. */
export function dumpDomains(
  ctx: RunContext,
  refs: readonly string[],
  limit = 4096,
): { domains: DomainDump[]; iotlbs: IotlbDump[] } {
  const targets = refs.length
    ? refs.map((r) => ctx.domain(r))
    : liveDomains(ctx).filter((d) => isPagingType(d.type));
  const domains = targets.map((d) => {
    const table = pageTableOf(d);
    return {
      domain: ctx.domainLabel(d),
      id: d.id,
      iommu: d.iommu,
      pageTable: table ? dumpPageTable(table, ctx.mappings.ranges(d.id), limit) : null,
    };
  });
  const iotlbs: IotlbDump[] = [];
  for (const name of new Set(targets.map((d) => d.iommu))) {
    const backend = ctx.machine.backends.get(name);
    const tlb = backend && iotlbOf(backend);
    if (tlb) iotlbs.push(dumpIotlb(name, tlb));
  }
  return { domains, iotlbs };
}
