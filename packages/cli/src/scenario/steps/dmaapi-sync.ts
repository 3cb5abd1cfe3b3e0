import { map, oneOf, str } from "../decoders.js";
import { directionText, dmaApiState } from "../dma-api-state.js";
import { hex } from "../format.js";
import { object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

const OWNERS = ["cpu", "device"] as const;

interface Params {
  readonly name: string;
  readonly for: (typeof OWNERS)[number];
}

/**
 * `dmaapi.sync`: `dma_sync_single_for_cpu()` (before the CPU reads what the device wrote) or
 * `dma_sync_single_for_device()` (before the device reads what the CPU wrote) of a whole named
 * buffer, in its mapping direction.
 */
export const dmaApiSyncStep: StepDefinition<Params> = {
  kind: "dmaapi.sync",
  summary: "dma_sync_single_for_cpu() / _for_device() of a named buffer",
  schema: object(
    {
      name: { type: "string", description: "A buffer dmaapi.map named." },
      for: { enum: [...OWNERS], description: "Who takes ownership of the buffer." },
    },
    ["name", "for"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { name: str(m.req("name")), for: oneOf(m.req("for"), OWNERS) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    const b = s.buffer(p.name);
    const h = s.handle(b.device);
    if (p.for === "cpu") h.syncSingleForCpu(b.dmaAddr, b.size, b.direction);
    else h.syncSingleForDevice(b.dmaAddr, b.size, b.direction);
    return {
      summary: `dma_sync_single_for_${p.for}(${ctx.deviceLabel(b.device)}, ${hex(b.dmaAddr)}, ${directionText(b.direction)})`,
    };
  },
};
