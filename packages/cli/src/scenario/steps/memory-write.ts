import { ADDRESS_REF, type AddressRef, addressRef } from "../address-ref.js";
import { bytes, map, str } from "../decoders.js";
import { bytesText, hex } from "../format.js";
import { resolve } from "../run-names.js";
import { BYTES, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly paddr: AddressRef;
  readonly data: Uint8Array;
  readonly iommu: string | undefined;
}

/** `memory.write`: the CPU writes bytes to physical memory (a buffer a device will read). */
export const memoryWriteStep: StepDefinition<Params> = {
  kind: "memory.write",
  summary: "CPU writes bytes to physical memory",
  schema: object({ paddr: ADDRESS_REF, data: BYTES, iommu: { type: "string" } }, ["paddr", "data"]),
  canFail: false,
  decode(at) {
    const m = map(at);
    const i = m.opt("iommu");
    const p = {
      paddr: addressRef(m.req("paddr")),
      data: bytes(m.req("data")),
      iommu: i ? str(i) : undefined,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const paddr = resolve(ctx, p.paddr);
    ctx.memory(p.iommu).write(paddr, p.data);
    return { summary: `wrote ${bytesText(p.data, 16)} at ${hex(paddr)}` };
  },
};
