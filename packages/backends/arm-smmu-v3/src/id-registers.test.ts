import { describe, expect, it } from "vitest";
import { decodeSmmuV3IdRegisters } from "./id-registers.js";

describe("SMMUv3 ID registers", () => {
  it("decodes gem5's default IDR0 0x094C100F, IDR1 0x00E00000, IDR5 0x55", () => {
    // hw-facts 4.4: 2-level ST, stall not supported, LE walks, CD2L, VMID16, ASID16, AArch32+64, S1P+S2P;
    // CMDQS 7; 64K + 4K granules, 48-bit OAS.
    const f = decodeSmmuV3IdRegisters({ idr0: 0x094c100f, idr1: 0x00e00000, idr5: 0x55 });
    expect(f).toMatchObject({
      stage1: true,
      stage2: true,
      ttf: 3,
      asidBits: 16,
      vmidBits: 16,
      cd2l: true,
      ttEndian: 2,
      stallModel: 1,
      streamTable: "2-level",
      cmdqShift: 7,
      oas: 48,
      granules: [4096, 65536],
      rangeInvalidation: false,
    });
  });
  it("refuses an SMMU with no translation stage or a reserved OAS", () => {
    expect(() => decodeSmmuV3IdRegisters({ idr0: 0x8, idr1: 0, idr5: 0x15 })).toThrowError(
      /no translation stage/,
    );
    expect(() => decodeSmmuV3IdRegisters({ idr0: 0xb, idr1: 0, idr5: 0x17 })).toThrowError(/OAS encoding 7/);
  });
});
