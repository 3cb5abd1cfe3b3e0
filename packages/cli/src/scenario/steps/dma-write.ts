import { addr, bytes, map, str } from "../decoders.js";
import { bytesText, hex } from "../format.js";
import { ADDRESS, BYTES, DEVICE, object } from "../schema-parts.js";
import { checkFault, EXPECTED_FAULT, type ExpectedFault, expectedFault } from "./dma-fault.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
  readonly iova: bigint;
  readonly data: Uint8Array;
  readonly fault: ExpectedFault;
}

/** `dma.write`: the device writes `data` to memory through its IOMMU's translation unit. */
export const dmaWriteStep: StepDefinition<Params> = {
  kind: "dma.write",
  summary: "device DMA write through the hardware (translation, IOTLB, permission check, fault)",
  schema: object({ device: DEVICE, iova: ADDRESS, data: BYTES, fault: EXPECTED_FAULT }, [
    "device",
    "iova",
    "data",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const f = m.opt("fault");
    const p = {
      device: str(m.req("device")),
      iova: addr(m.req("iova")),
      data: bytes(m.req("data")),
      fault: f ? expectedFault(f) : false,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const r = ctx.core.deviceDma(ctx.device(p.device), {
      iova: p.iova,
      length: p.data.length,
      write: true,
      data: p.data,
    });
    if (!r.ok) {
      return {
        summary: `${p.device} write ${hex(p.iova)}: fault (${r.reason}) at ${hex(r.iova)}`,
        failures: checkFault(p.fault, r.reason),
        detail: { fault: { iova: hex(r.iova), reason: r.reason, flags: r.flags } },
      };
    }
    return {
      summary: `${p.device} wrote ${bytesText(p.data, 16)} at ${hex(p.iova)}`,
      failures: checkFault(p.fault, undefined),
    };
  },
};
