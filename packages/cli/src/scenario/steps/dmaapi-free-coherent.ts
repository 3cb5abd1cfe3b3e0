import { map, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { hex, sizeText } from "../format.js";
import { object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly name: string;
}

/** `dmaapi.free-coherent`: `dma_free_coherent()` of a buffer `dmaapi.alloc-coherent` named. */
export const dmaApiFreeCoherentStep: StepDefinition<Params> = {
  kind: "dmaapi.free-coherent",
  summary: "dma_free_coherent() of a named coherent buffer",
  schema: object({ name: { type: "string", description: "A buffer dmaapi.alloc-coherent named." } }, [
    "name",
  ]),
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
    if (b.kind !== "coherent") throw new Error(`"${p.name}" is a streaming mapping: use dmaapi.unmap`);
    if (!b.live) throw Object.assign(new Error(`"${p.name}" is already freed`), { code: "EINVAL" });
    s.handle(b.device).freeCoherent(b.size, b.cpuAddr, b.dmaAddr);
    b.live = false;
    return {
      summary: `dma_free_coherent(${ctx.deviceLabel(b.device)}, ${sizeText(b.size)}, ${hex(b.cpuAddr)}, ${hex(b.dmaAddr)})`,
    };
  },
};
