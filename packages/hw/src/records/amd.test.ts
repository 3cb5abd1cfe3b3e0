import { describe, expect, it } from "vitest";
import {
  AMD_COMMAND_LAYOUTS,
  type AmdCommandName,
  amdBuildInvAddress,
  amdCommandWords,
  amdInvalidatePagesFields,
  decodeAmdCommand,
  encodeAmdCommand,
} from "./amd-command.js";
import {
  AMD_EVENT_CODES,
  type AmdEventName,
  amdEventWords,
  decodeAmdEvent,
  encodeAmdEvent,
  formatAmdIoPageFault,
} from "./amd-event.js";
import { u32sToRecord } from "./record-codec.js";

describe("AMD commands: hw-facts 4.3 vectors", () => {
  it("build_inv_address", () => {
    expect(amdBuildInvAddress(0x3000, 0x2000)).toBe(0x3001n);
    expect(amdBuildInvAddress(0x5000, 0x1000)).toBe(0x5000n);
    expect(amdBuildInvAddress(0, 2n ** 63n)).toBe(0x7fff_ffff_ffff_f001n);
    // 0x10000 + 64K: end 0x1ffff, xor 0xffff -> msb 15: 0x10000 | 0x7fff -> 0x17000 | S.
    expect(amdBuildInvAddress(0x10000, 0x10000)).toBe(0x17001n);
  });

  it("INVALIDATE_IOMMU_PAGES domain 0x0b: range, single page, all", () => {
    const words = (address: bigint | number, size: bigint | number) =>
      amdCommandWords(
        encodeAmdCommand(
          "INVALIDATE_IOMMU_PAGES",
          amdInvalidatePagesFields({ address, size, domainId: 0x0b }),
        ),
      );
    expect(words(0x3000, 0x2000)).toEqual([0, 0x3000000b, 0x00003003, 0]);
    expect(words(0x5000, 0x1000)[2]).toBe(0x00005002);
    const all = words(0, 2n ** 63n);
    expect([all[2], all[3]]).toEqual([0xfffff003, 0x7fffffff]);
    expect(
      amdCommandWords(
        encodeAmdCommand(
          "INVALIDATE_IOMMU_PAGES",
          amdInvalidatePagesFields({ address: 0x1000, size: 0x1000, domainId: 1, pasid: 0xabcde }),
        ),
      ),
    ).toEqual([0xabcde, 0x30000001, 0x1006, 0]);
  });

  it("other commands (hand-computed words)", () => {
    const w = (name: AmdCommandName, f: Record<string, number | bigint | boolean>) =>
      amdCommandWords(encodeAmdCommand(name, f));
    expect(w("COMPLETION_WAIT", { s: 1, address: 0x1_2345_6788n, data: 0xdead_beef_0000_0001n })).toEqual([
      0x23456789, 0x10000001, 0x00000001, 0xdeadbeef,
    ]);
    expect(w("INVALIDATE_DEVTAB_ENTRY", { deviceId: 0x0300 })).toEqual([0x0300, 0x20000000, 0, 0]);
    expect(
      w("INVALIDATE_IOTLB_PAGES", {
        deviceId: 0x0300,
        maxPend: 0x20,
        queueId: 0x0300,
        pasid: 0xabcd,
        gn: 1,
        addr: 0x5000n,
      }),
    ).toEqual([0x20ab0300, 0x40cd0300, 0x5004, 0]);
    expect(w("INVALIDATE_INTERRUPT_TABLE", { deviceId: 7 })).toEqual([7, 0x50000000, 0, 0]);
    expect(w("COMPLETE_PPR_REQUEST", { deviceId: 1, pasid: 2, gn: 1, tag: 0x1ff, status: 0xf })).toEqual([
      1, 0x70000002, 4, 0xf1ff,
    ]);
    expect(w("INVALIDATE_IOMMU_ALL", {})).toEqual([0, 0x80000000, 0, 0]);
  });

  it("every command round-trips; decoders refuse truncated, reserved opcodes and bits", () => {
    for (const l of AMD_COMMAND_LAYOUTS) {
      const fields: Record<string, number | bigint | boolean> = {};
      for (const f of l.fields) {
        const max = (1n << BigInt(f.highBit)) - (1n << BigInt(f.lowBit));
        fields[f.name] = f.kind === "boolean" ? true : f.kind === "number" ? Number(max) : max;
      }
      expect(decodeAmdCommand(encodeAmdCommand(l.name as AmdCommandName, fields))).toEqual({
        name: l.name,
        code: l.code,
        fields,
      });
    }
    expect(() => decodeAmdCommand(new Uint8Array(12))).toThrow(/must be 16 bytes, got 12/);
    expect(() => decodeAmdCommand(u32sToRecord([0, 0x60000000, 0, 0]))).toThrow(/code 0x6 is reserved/);
    expect(() => decodeAmdCommand(u32sToRecord([0x10000, 0x20000000, 0, 0]))).toThrow(
      /reserved bits set: 0x10000/,
    );
  });
});

describe("AMD event log: hw-facts 5.3 vectors", () => {
  it("IO_PAGE_FAULT: write to 0xfffff000 by 03:00.0 in domain 0x0b", () => {
    const bytes = encodeAmdEvent("IO_PAGE_FAULT", {
      deviceId: 0x0300,
      domainId: 0x0b,
      flags: { rw: true },
      address: 0xfffff000n,
    });
    expect(amdEventWords(bytes)).toEqual([0x00000300, 0x2020000b, 0xfffff000, 0x00000000]);
    const ev = decodeAmdEvent(bytes);
    expect(ev).toMatchObject({
      name: "IO_PAGE_FAULT",
      code: 2,
      domainId: 0x0b,
      fields: { deviceId: 0x300, flags: 0x20, address: 0xfffff000n },
    });
    expect(ev.faultFlags).toEqual({
      gn: false,
      nx: false,
      us: false,
      i: false,
      pr: false,
      rw: true,
      pe: false,
      rz: false,
      tr: false,
    });
    expect(formatAmdIoPageFault(ev, { driver: "nvme" })).toBe(
      "nvme 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xfffff000 flags=0x0020]",
    );
    expect(formatAmdIoPageFault(ev)).toBe(
      "AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x000b address=0xfffff000 flags=0x0020]",
    );
    expect(formatAmdIoPageFault(ev, { style: "old" })).toBe(
      "AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x000b address=0x00000000fffff000 flags=0x0020]",
    );
  });

  it("every flag and the 20-bit PASID split", () => {
    const ev = decodeAmdEvent(encodeAmdEvent("IO_PAGE_FAULT", { deviceId: 1, pasid: 0xfabcd, flags: 0x1ff }));
    expect(Object.values(ev.faultFlags).every(Boolean)).toBe(true);
    expect(amdEventWords(encodeAmdEvent("IO_PAGE_FAULT", { pasid: 0xfabcd }))).toEqual([
      0x000f0000, 0x2000abcd, 0, 0,
    ]);
    expect(ev.fields.pasid).toBe(0xfabcd);
  });

  it("every event code round-trips; undefined codes and truncation are refused", () => {
    for (const [name, code] of Object.entries(AMD_EVENT_CODES) as [AmdEventName, number][]) {
      const ev = decodeAmdEvent(
        encodeAmdEvent(name, { deviceId: 0xffff, pasid: 0xfffff, flags: 0xfff, address: 2n ** 64n - 1n }),
      );
      expect(ev).toMatchObject({
        name,
        code,
        fields: { deviceId: 0xffff, pasid: 0xfffff, flags: 0xfff, address: 2n ** 64n - 1n },
      });
    }
    for (const code of [0x0, 0xa, 0xb, 0xc, 0xf]) {
      expect(() => decodeAmdEvent(u32sToRecord([0, code << 28, 0, 0]))).toThrow(
        expect.objectContaining({ code: "EINVAL" }),
      );
    }
    expect(() => decodeAmdEvent(new Uint8Array(17))).toThrow(/must be 16 bytes, got 17/);
    const stray = u32sToRecord([0x00f00000, 0x20000000, 0, 0]);
    expect(decodeAmdEvent(stray).name).toBe("IO_PAGE_FAULT");
    expect(() => decodeAmdEvent(stray, { strict: true })).toThrow(/reserved bits/);
  });
});
