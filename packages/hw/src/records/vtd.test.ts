import { describe, expect, it } from "vitest";
import { u64sToRecord } from "./record-codec.js";
import {
  decodeVtdDescriptor,
  encodeVtdDescriptor,
  VTD_DESCRIPTOR_LAYOUTS,
  type VtdDescriptorName,
  vtdDescriptorQwords,
} from "./vtd-descriptor.js";
import {
  decodeVtdFaultRecord,
  encodeVtdFaultRecord,
  formatVtdFault,
  formatVtdFaultStatus,
  vtdFaultReason,
} from "./vtd-fault.js";
import { vtdPsiAddressMask } from "./vtd-psi.js";

const qw = (name: VtdDescriptorName, fields: Record<string, number | bigint | boolean>) =>
  vtdDescriptorQwords(encodeVtdDescriptor(name, fields));

describe("VT-d invalidation descriptors", () => {
  it("IOTLB PSI: G=3, DW, DR, DID; AM, IH, ADDR (hand-computed)", () => {
    // qw0: type 2 | G 3 << 4 | DW << 6 | DR << 7 | DID 0x0b << 16; qw1: AM 3 | IH << 6 | ADDR.
    expect(qw("iotlb", { g: 3, dw: 1, dr: 1, did: 0x0b, am: 3, ih: 1, addr: 0x0n })).toEqual([
      0x000b_00f2n,
      0x43n,
    ]);
    expect(qw("iotlb", { g: 2, did: 1 })).toEqual([0x0001_0022n, 0n]);
    expect(qw("iotlb", { g: 1 })).toEqual([0x12n, 0n]);
  });

  it("context cache, device TLB, IEC, wait, PASID IOTLB, PASID cache, PASID device TLB", () => {
    expect(qw("context-cache", { g: 3, did: 2, sid: 0x0300, fm: 3 })).toEqual([0x0003_0300_0002_0031n, 0n]);
    // PFSID 0x1234: low nibble 4 at [15:12], 0x123 at [63:52].
    expect(qw("device-tlb", { sid: 0x0300, qdep: 0x1f, pfsid: 0x1234, s: 1, addr: 0x7000n })).toEqual([
      0x1230_0300_001f_4003n,
      0x7001n,
    ]);
    expect(qw("iec", { g: 1, im: 0x1f, iidx: 0xffff })).toEqual([0x0000_ffff_f800_0014n, 0n]);
    expect(qw("invalidation-wait", { sw: 1, fn: 1, statusData: 1, statusAddr: 0x1_0000_0004n })).toEqual([
      0x0000_0001_0000_0065n,
      0x1_0000_0004n,
    ]);
    expect(qw("pasid-iotlb", { g: 3, did: 4, pasid: 0xfffff, am: 2, ih: 0, addr: 0x4000n })).toEqual([
      0x000f_ffff_0004_0036n,
      0x4002n,
    ]);
    expect(qw("pasid-cache", { g: 1, did: 4, pasid: 5 })).toEqual([0x0000_0005_0004_0017n, 0n]);
    expect(
      qw("pasid-device-tlb", { qdep: 0x1f, pfsid: 0x10, sid: 0x0300, pasid: 1, s: 1, addr: 0x3000n }),
    ).toEqual([0x0010_0001_0300_01f8n, 0x3800n]);
  });

  it("256-bit form: upper 128 bits zero; round-trips at both widths", () => {
    const bytes = encodeVtdDescriptor("iotlb", { g: 2, did: 1 }, { width: 256 });
    expect(vtdDescriptorQwords(bytes)).toEqual([0x0001_0022n, 0n, 0n, 0n]);
    for (const l of VTD_DESCRIPTOR_LAYOUTS) {
      const fields: Record<string, number | bigint | boolean> = {};
      for (const f of l.fields) {
        const max = (1n << BigInt(f.highBit)) - (1n << BigInt(f.lowBit));
        fields[f.name] = f.kind === "boolean" ? true : f.kind === "number" ? Number(max) : max;
      }
      for (const width of [128, 256] as const) {
        expect(
          decodeVtdDescriptor(encodeVtdDescriptor(l.name as VtdDescriptorName, fields, { width })),
        ).toEqual({
          name: l.name,
          code: l.code,
          fields,
        });
      }
    }
  });

  it("refuses truncated, reserved-type and reserved-bit descriptors", () => {
    expect(() => decodeVtdDescriptor(new Uint8Array(24))).toThrow(/must be 16 or 32 bytes, got 24/);
    expect(() => decodeVtdDescriptor(u64sToRecord([0x0n, 0n]))).toThrow(
      expect.objectContaining({ code: "EINVAL", message: expect.stringMatching(/0x0 is reserved/) }),
    );
    expect(() => decodeVtdDescriptor(u64sToRecord([0x9n, 0n]))).toThrow(
      expect.objectContaining({ code: "EOPNOTSUPP" }),
    );
    expect(() => decodeVtdDescriptor(u64sToRecord([0x2n | (1n << 9n), 0n]))).toThrow(
      /reserved bits set: 0x200/,
    );
    expect(() => decodeVtdDescriptor(u64sToRecord([0x22n, 0n, 0n, 1n]))).toThrow(/reserved bits/);
    expect(() => encodeVtdDescriptor("iotlb", { am: 64 })).toThrow(/am = 0x40 does not fit 6 bits/);
  });
});

describe("calculate_psi_aligned_address", () => {
  it("hw-facts 4.2 vectors", () => {
    expect(vtdPsiAddressMask(0x3000, 0x2000)).toEqual({ address: 0x0n, am: 3 });
    expect(vtdPsiAddressMask(0x4000, 0x4000)).toEqual({ address: 0x4000n, am: 2 });
  });
  it("single pages, unaligned starts and partial pages", () => {
    expect(vtdPsiAddressMask(0x5000, 0x1000)).toEqual({ address: 0x5000n, am: 0 });
    expect(vtdPsiAddressMask(0x5800, 0x100)).toEqual({ address: 0x5000n, am: 0 });
    // 0x5800 + 0x1000 touches pages 5 and 6: 2 pages, pfn 5 unaligned, ~(5^6) & ~1 -> bit 2,
    // so a 16 KiB block: 0x4000-0x7fff.
    expect(vtdPsiAddressMask(0x5800, 0x1000)).toEqual({ address: 0x4000n, am: 2 });
    expect(vtdPsiAddressMask(0x20_0000, 0x20_0000)).toEqual({ address: 0x20_0000n, am: 9 });
    expect(() => vtdPsiAddressMask(0, 0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

describe("VT-d primary fault records", () => {
  it("hw-facts 5.2 vector: read fault, reason 6, SID 0x0300, addr 0xfffff000", () => {
    const bytes = encodeVtdFaultRecord({ fi: 0xfffff000n, sid: 0x0300, fr: 6, t: true, f: true });
    expect(vtdDescriptorQwords(bytes)).toEqual([0x00000000fffff000n, 0xc000000600000300n]);
    const rec = decodeVtdFaultRecord(bytes);
    expect(rec).toEqual({ fi: 0xfffff000n, sid: 0x0300, pp: false, fr: 6, pv: 0, t: true, f: true });
    expect(formatVtdFault(rec)).toBe(
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set",
    );
  });

  it("write with a PASID, interrupt remapping, scalable mode and unknown reasons", () => {
    const w = decodeVtdFaultRecord(
      encodeVtdFaultRecord({ fi: 0x1000n, sid: 0x0a1b, pp: true, pv: 0x42, fr: 5, t: false, f: true }),
    );
    expect(formatVtdFault(w)).toBe(
      "DMAR: [DMA Write PASID 0x42] Request device [0a:03.3] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set",
    );
    const ir = decodeVtdFaultRecord(
      encodeVtdFaultRecord({ fi: 0x0012_0000_0000_0000n, sid: 0x0010, fr: 0x22, f: true }),
    );
    expect(formatVtdFault(ir)).toBe(
      "DMAR: [INTR-REMAP] Request device [00:02.0] fault index 0x12 [fault reason 0x22] Present field in the IRTE entry is clear",
    );
    expect(vtdFaultReason(0x30)).toEqual({ text: "SM: Invalid Root Table Address", type: "dma-remap" });
    expect(vtdFaultReason(0x85).text).toBe("SM: No write permission for Write/AtomicOp request");
    expect(vtdFaultReason(0x90).text).toBe(
      "SM: A/D bit update needed in first-level entry when set up in no snoop",
    );
    expect(vtdFaultReason(0x33)).toEqual({ text: "Unknown", type: "dma-remap" });
    expect(vtdFaultReason(0x0e)).toEqual({ text: "Unknown", type: "unknown" });
    expect(vtdFaultReason(0x27)).toEqual({ text: "Unknown", type: "unknown" });
    expect(vtdFaultReason(0xd).text).toBe("PCE for translation request specifies blocking");
    expect(formatVtdFaultStatus(0x2)).toBe("DMAR: DRHD: handling fault status reg 2");
  });

  it("refuses a truncated record and values too wide", () => {
    expect(() => decodeVtdFaultRecord(new Uint8Array(8))).toThrow(/must be 16 bytes, got 8/);
    expect(() => encodeVtdFaultRecord({ fr: 0x100 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => encodeVtdFaultRecord({ fi: 0x1234n })).toThrow(/does not fit bits \[63:12\]/);
  });
});
