import { map, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly mapping: string;
}

/**
 * `arm.release`: `arm_iommu_release_mapping()`: drops the creator's reference; the last reference
 * frees the domain (and the scenario forgets its name).
 */
export const armReleaseStep: StepDefinition<Params> = {
  kind: "arm.release",
  summary: "arm_iommu_release_mapping(): drop the creator's reference",
  schema: object({ mapping: { type: "string", minLength: 1 } }, ["mapping"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { mapping: str(m.req("mapping")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    const mapping = s.mapping(p.mapping);
    s.api.armIommuReleaseMapping(mapping);
    const freed = mapping.refcount === 0;
    if (freed) {
      s.mappings.delete(p.mapping);
      ctx.forgetDomain(p.mapping);
    }
    return {
      summary: freed
        ? `${p.mapping}: last reference dropped, domain freed`
        : `${p.mapping}: refcount ${mapping.refcount}`,
    };
  },
};
