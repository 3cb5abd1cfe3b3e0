import { map, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { DEVICE, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly mapping: string;
  readonly device: string;
}

/**
 * `arm.attach`: `arm_iommu_attach_device(dev, mapping)`: attaches the device to the mapping's
 * domain (`iommu_attach_device()`, so `EINVAL` unless alone in its group, `EBUSY` on another
 * non-default domain) and serves its DMA API from the mapping; takes a reference.
 */
export const armAttachStep: StepDefinition<Params> = {
  kind: "arm.attach",
  summary: "arm_iommu_attach_device(): the device joins a shared ARM mapping",
  schema: object({ mapping: { type: "string", minLength: 1 }, device: DEVICE }, ["mapping", "device"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { mapping: str(m.req("mapping")), device: str(m.req("device")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    const mapping = s.mapping(p.mapping);
    s.api.armIommuAttachDevice(ctx.device(p.device), mapping);
    return {
      summary: `${p.device} attached to ${p.mapping} (refcount ${mapping.refcount}, ${mapping.devices.length} device${mapping.devices.length === 1 ? "" : "s"})`,
      detail: { mapping: p.mapping, refcount: mapping.refcount },
    };
  },
};
