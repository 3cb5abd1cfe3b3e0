import { map, str } from "../decoders.js";
import { DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

/** `domain.free`: frees a named domain (`iommu_domain_free()`; `EBUSY` while attached). */
export const domainFreeStep: StepDefinition<{ readonly domain: string }> = {
  kind: "domain.free",
  summary: "free a named domain (iommu_domain_free)",
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
    ctx.core.domainFree(domain);
    ctx.forgetDomain(p.domain);
    return { summary: `freed ${p.domain}` };
  },
};
