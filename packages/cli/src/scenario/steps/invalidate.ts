import { map, str } from "../decoders.js";
import { DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

/** `invalidate`: `iommu_iotlb_sync()` of what a domain's lazy (`sync: false`) unmaps gathered. */
export const invalidateStep: StepDefinition<{ readonly domain: string }> = {
  kind: "invalidate",
  summary: "sync the IOTLB for the domain's pending lazy unmaps (iommu_iotlb_sync)",
  schema: object({ domain: DOMAIN }, ["domain"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const domain = str(m.req("domain"));
    m.done();
    return { domain };
  },
  run(p, ctx) {
    const domain = ctx.domain(p.domain);
    const gather = ctx.pendingGather(domain);
    const range =
      gather.start <= gather.end
        ? `0x${gather.start.toString(16)}..0x${gather.end.toString(16)}`
        : "nothing pending";
    ctx.core.iotlbSync(domain, gather);
    return { summary: `${p.domain}: IOTLB sync of ${range}` };
  },
};
