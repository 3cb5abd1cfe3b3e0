import { map, str } from "../decoders.js";
import { object } from "../schema-parts.js";
import { vfioState } from "../vfio-state.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly process: string;
}

/**
 * `vfio.close`: the process closes its device, group and container files and exits: remaining
 * mappings are unmapped and unpinned, DMA ownership is released and the group goes back to its
 * default domain.
 */
export const vfioCloseStep: StepDefinition<Params> = {
  kind: "vfio.close",
  summary: "a process closes its VFIO files and exits (the group returns to its default domain)",
  schema: object({ process: { type: "string", minLength: 1 } }, ["process"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { process: str(m.req("process")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = vfioState(ctx);
    const u = s.user(p.process);
    u.close();
    s.vfio.exitProcess(u.proc);
    s.users.delete(p.process);
    return {
      summary: `${p.process} closed its files and exited; ${ctx.deviceLabel(u.device)} now on ${ctx.domainLabel(ctx.core.getDomainForDevice(u.device))}`,
    };
  },
};
