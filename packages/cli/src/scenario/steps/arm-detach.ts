import { map, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { DEVICE, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
}

/**
 * `arm.detach`: `arm_iommu_detach_device(dev)`: the device leaves its ARM mapping (back to its
 * default domain and dma-iommu) and drops its reference. A device on no mapping only warns, as Linux.
 */
export const armDetachStep: StepDefinition<Params> = {
  kind: "arm.detach",
  summary: "arm_iommu_detach_device(): back to the default domain",
  schema: object({ device: DEVICE }, ["device"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { device: str(m.req("device")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    const device = ctx.device(p.device);
    const mapping = s.api.armIommuMappingOf(device);
    s.api.armIommuDetachDevice(device);
    const name = mapping && [...s.mappings].find(([, m]) => m === mapping)?.[0];
    return {
      summary: mapping
        ? `${p.device} detached from ${name ?? "its mapping"} (refcount ${mapping.refcount}); on ${ctx.domainLabel(ctx.core.getDomainForDevice(device))}`
        : `${p.device} was on no ARM mapping (Linux warns "Not attached")`,
    };
  },
};
