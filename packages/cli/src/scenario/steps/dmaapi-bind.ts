import { map, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { DEVICE, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
}

/**
 * `dmaapi.bind`: a kernel driver binds to the device and will use the DMA API
 * (`iommu_device_use_default_domain()` at `really_probe()`). `EBUSY` when the group is claimed by
 * user space or sits on a domain other than its default one.
 */
export const dmaApiBindStep: StepDefinition<Params> = {
  kind: "dmaapi.bind",
  summary: "a kernel driver binds and will use the DMA API (iommu_device_use_default_domain)",
  schema: object({ device: DEVICE }, ["device"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { device: str(m.req("device")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const device = ctx.device(p.device);
    const handle = dmaApiState(ctx).handle(device);
    const ops = handle.opsKind;
    return {
      summary: `${p.device}: driver bound, DMA API served by ${ops} ops`,
      detail: { device: p.device, ops },
    };
  },
};
