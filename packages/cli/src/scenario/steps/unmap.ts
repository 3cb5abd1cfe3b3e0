import { addr, bool, map, size, str } from "../decoders.js";
import { hex, sizeText } from "../format.js";
import { ADDRESS, DOMAIN, object, SIZE } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string;
  readonly iova: bigint;
  readonly size: bigint;
  readonly sync: boolean;
  readonly unmapped: bigint | undefined;
}

/**
 * `unmap`: `iommu_unmap()` (unmap and sync the IOTLB), or with `sync: false` `iommu_unmap_fast()`
 * into the domain's pending gather, leaving IOTLB entries stale until an `invalidate` step.
 * `unmapped` checks the bytes the call reports.
 */
export const unmapStep: StepDefinition<Params> = {
  kind: "unmap",
  summary: "unmap a range (iommu_unmap; sync: false = iommu_unmap_fast, synced by a later invalidate)",
  schema: object({ domain: DOMAIN, iova: ADDRESS, size: SIZE, sync: { type: "boolean" }, unmapped: SIZE }, [
    "domain",
    "iova",
    "size",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const s = m.opt("sync");
    const u = m.opt("unmapped");
    const p = {
      domain: str(m.req("domain")),
      iova: addr(m.req("iova")),
      size: size(m.req("size")),
      sync: s ? bool(s) : true,
      unmapped: u ? size(u) : undefined,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const domain = ctx.domain(p.domain);
    const done = p.sync
      ? ctx.core.unmap(domain, p.iova, p.size)
      : ctx.core.unmapFast(domain, p.iova, p.size, ctx.pendingGather(domain));
    const summary = `${p.domain}: unmapped ${sizeText(done)} at ${hex(p.iova)}${p.sync ? "" : " (not synced)"}`;
    if (p.unmapped !== undefined && done !== p.unmapped)
      return { summary, failures: [`unmapped ${sizeText(done)}, expected ${sizeText(p.unmapped)}`] };
    return { summary };
  },
};
