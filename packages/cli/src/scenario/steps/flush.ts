import { map, str } from "../decoders.js";
import { DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

/** `flush`: invalidates every IOTLB entry of a domain (`iommu_flush_iotlb_all()`). */
export const flushStep: StepDefinition<{ readonly domain: string }> = {
  kind: "flush",
  summary: "invalidate all of a domain's IOTLB entries (iommu_flush_iotlb_all)",
  schema: object({ domain: DOMAIN }, ["domain"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const domain = str(m.req("domain"));
    m.done();
    return { domain };
  },
  run(p, ctx) {
    ctx.core.flushIotlbAll(ctx.domain(p.domain));
    return { summary: `${p.domain}: IOTLB flushed` };
  },
};
