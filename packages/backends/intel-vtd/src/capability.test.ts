import { describe, expect, it } from "vitest";
import { agawToLevel, agawToWidth, decodeVtdCapability, widthToAgaw } from "./capability.js";

describe("VT-d capability register", () => {
  it("decodes the fields the driver uses", () => {
    // Built by hand: ND=2 (64 ids), CM, SAGAW=0b00110 (39 and 48-bit), MGAW field 47 (48 bits),
    // FRO=0x22 (0x220 bytes), SLLPS=0b0011, PSI, NFR field 7 (8 records), MAMV=0x3f, FL1GP.
    const cap =
      2n |
      (1n << 7n) |
      (0b00110n << 8n) |
      (47n << 16n) |
      (0x22n << 24n) |
      (0b0011n << 34n) |
      (1n << 39n) |
      (7n << 40n) |
      (0x3fn << 48n) |
      (1n << 56n);
    expect(decodeVtdCapability(cap)).toEqual({
      domainIds: 256,
      cachingMode: true,
      sagaw: 6,
      mgaw: 48,
      faultRecordOffset: 0x220,
      superPages: 3,
      pageSelectiveInvalidation: true,
      faultRecords: 8,
      maxAddressMask: 63,
      firstStage1G: true,
      firstStage5Level: false,
    });
  });
  it("converts between AGAW, width and levels as intel/iommu.h does", () => {
    expect([1, 2, 3].map(agawToWidth)).toEqual([39, 48, 57]);
    expect([39, 48, 57, 40].map(widthToAgaw)).toEqual([1, 2, 3, 2]);
    expect([1, 2, 3].map(agawToLevel)).toEqual([3, 4, 5]);
  });
});
