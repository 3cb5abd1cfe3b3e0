import { ADDRESS_REF, type AddressRef, addressRef } from "../address-ref.js";
import { bytes, map, str } from "../decoders.js";
import { bytesText, hex } from "../format.js";
import { resolve } from "../run-names.js";
import { BYTES, DEVICE, object } from "../schema-parts.js";
import { checkFault, EXPECTED_FAULT, type ExpectedFault, expectedFault } from "./dma-fault.js";
import { dmaThroughHardware, faultDetail } from "./dma-transaction.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
  readonly iova: AddressRef;
  readonly data: Uint8Array;
  readonly fault: ExpectedFault;
}

/** `dma.write`: the device writes `data` to memory through its IOMMU's translation unit. */
export const dmaWriteStep: StepDefinition<Params> = {
  kind: "dma.write",
  summary: "device DMA write through the hardware (translation, IOTLB, permission check, fault)",
  schema: object({ device: DEVICE, iova: ADDRESS_REF, data: BYTES, fault: EXPECTED_FAULT }, [
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
      iova: addressRef(m.req("iova")),
      data: bytes(m.req("data")),
      fault: f ? expectedFault(f) : false,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const iova = resolve(ctx, p.iova);
    const t = dmaThroughHardware(ctx, p.device, iova, { length: p.data.length, write: true, data: p.data });
    const r = t.result;
    if (!r.ok) {
      return {
        summary: `${p.device} write ${hex(iova)}: fault (${r.reason}) at ${hex(r.iova)}${t.record ? `, ${t.record.event}` : ""}`,
        failures: checkFault(p.fault, r.reason),
        detail: faultDetail(t),
      };
    }
    return {
      summary: `${p.device} wrote ${bytesText(p.data, 16)} at ${hex(iova)}`,
      failures: checkFault(p.fault, undefined),
      ...(t.iotlb && { detail: { iotlb: t.iotlb } }),
    };
  },
};
