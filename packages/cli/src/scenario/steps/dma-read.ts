import { ADDRESS_REF, type AddressRef, addressRef } from "../address-ref.js";
import { bytes, int, map, str } from "../decoders.js";
import { bytesText, hex } from "../format.js";
import { resolve } from "../run-names.js";
import { BYTES, DEVICE, object } from "../schema-parts.js";
import { checkFault, EXPECTED_FAULT, type ExpectedFault, expectedFault } from "./dma-fault.js";
import { dmaThroughHardware, faultDetail } from "./dma-transaction.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
  readonly iova: AddressRef;
  readonly length: number;
  readonly expect: Uint8Array | undefined;
  readonly fault: ExpectedFault;
}

/**
 * `dma.read`: the device reads memory through its IOMMU's translation unit (the hardware
 * datapath, IOTLB included). `expect` checks the bytes read; `fault` expects a fault.
 */
export const dmaReadStep: StepDefinition<Params> = {
  kind: "dma.read",
  summary: "device DMA read through the hardware (translation, IOTLB, permission check, fault)",
  schema: object(
    {
      device: DEVICE,
      iova: ADDRESS_REF,
      length: { type: "integer", minimum: 1, maximum: 1048576 },
      expect: BYTES,
      fault: EXPECTED_FAULT,
    },
    ["device", "iova"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const e = m.opt("expect");
    const l = m.opt("length");
    const f = m.opt("fault");
    const expect = e ? bytes(e) : undefined;
    const p = {
      device: str(m.req("device")),
      iova: addressRef(m.req("iova")),
      length: l ? int(l, 1, 1 << 20) : (expect?.length ?? 4),
      expect,
      fault: f ? expectedFault(f) : false,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const iova = resolve(ctx, p.iova);
    const t = dmaThroughHardware(ctx, p.device, iova, { length: p.length, write: false });
    const r = t.result;
    if (!r.ok) {
      return {
        summary: `${p.device} read ${hex(iova)}: fault (${r.reason}) at ${hex(r.iova)}${t.record ? `, ${t.record.event}` : ""}`,
        failures: checkFault(p.fault, r.reason),
        detail: faultDetail(t),
      };
    }
    const data = r.data ?? new Uint8Array(0);
    const failures = checkFault(p.fault, undefined);
    if (p.expect && bytesText(p.expect, 1 << 20) !== bytesText(data, 1 << 20))
      failures.push(`read ${bytesText(data)}, expected ${bytesText(p.expect)}`);
    return {
      summary: `${p.device} read ${hex(iova)}: ${bytesText(data, 16)}`,
      failures,
      detail: { data: bytesText(data, 1 << 20), ...(t.iotlb && { iotlb: t.iotlb }) },
    };
  },
};
