import { ADDRESS_REF, type AddressRef, addressRef } from "../address-ref.js";
import { bytes, map, str } from "../decoders.js";
import { bytesText, hex } from "../format.js";
import { resolve } from "../run-names.js";
import { BYTES, object } from "../schema-parts.js";
import { vfioState } from "../vfio-state.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly process: string;
  readonly vaddr: AddressRef;
  readonly data: Uint8Array;
}

/** `vfio.write`: the process writes bytes to its own memory, at a virtual address (`region.vaddr`). */
export const vfioWriteStep: StepDefinition<Params> = {
  kind: "vfio.write",
  summary: "a process writes to its own (virtual) memory",
  schema: object({ process: { type: "string", minLength: 1 }, vaddr: ADDRESS_REF, data: BYTES }, [
    "process",
    "vaddr",
    "data",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = {
      process: str(m.req("process")),
      vaddr: addressRef(m.req("vaddr")),
      data: bytes(m.req("data")),
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const u = vfioState(ctx).user(p.process);
    const va = resolve(ctx, p.vaddr);
    u.proc.write(va, p.data);
    const pa = u.proc.translate(va);
    return {
      summary: `${p.process} wrote ${bytesText(p.data, 16)} at virtual ${hex(va)}${pa === undefined ? "" : ` (physical ${hex(pa)})`}`,
    };
  },
};
