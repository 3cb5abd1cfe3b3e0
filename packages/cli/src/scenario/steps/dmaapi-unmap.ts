import { map, str } from "../decoders.js";
import { directionText, dmaApiState } from "../dma-api-state.js";
import { hex, sizeText } from "../format.js";
import { object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly name: string;
}

/**
 * `dmaapi.unmap`: `dma_unmap_single()` of a buffer `dmaapi.map` named, with its size and
 * direction. In strict mode the IOTLB is invalidated before the call returns; lazily, the IOVA
 * waits in a flush queue. The name stays usable (`NAME.dma`) so a later access can show the fault.
 */
export const dmaApiUnmapStep: StepDefinition<Params> = {
  kind: "dmaapi.unmap",
  summary: "dma_unmap_single() of a named buffer",
  schema: object({ name: { type: "string", description: "A buffer dmaapi.map named." } }, ["name"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { name: str(m.req("name")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    const b = s.buffer(p.name);
    if (b.kind !== "single") throw new Error(`"${p.name}" is a coherent buffer: use dmaapi.free-coherent`);
    if (!b.live) throw Object.assign(new Error(`"${p.name}" is not mapped`), { code: "EINVAL" });
    s.handle(b.device).unmapSingle(b.dmaAddr, b.size, b.direction);
    b.live = false;
    return {
      summary: `dma_unmap_single(${ctx.deviceLabel(b.device)}, ${hex(b.dmaAddr)}, ${sizeText(b.size)}, ${directionText(b.direction)})`,
      detail: { buffer: p.name, dmaAddr: hex(b.dmaAddr) },
    };
  },
};
