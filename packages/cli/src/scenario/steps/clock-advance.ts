import { duration } from "../decoders.js";
import { DURATION } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

/** `clock.advance`: moves the machine's virtual clock on, firing due timers (flush queues). */
export const clockAdvanceStep: StepDefinition<number> = {
  kind: "clock.advance",
  summary: "advance virtual time, firing due timers (flush-queue timeouts)",
  schema: DURATION,
  canFail: false,
  decode: (at) => duration(at),
  run(ns, ctx) {
    ctx.core.advance(ns);
    return { summary: `time is ${ctx.core.now()} ns` };
  },
};
