import { describe, expect, it } from "vitest";
import { decodeFsynr0, fsrNames } from "./fault-status.js";

describe("ARM SMMU context fault syndrome", () => {
  it("names FSR bits (arm-smmu.h: TF bit 1, PF bit 3, MULTI bit 31)", () => {
    expect(fsrNames(0x2)).toEqual(["TF"]);
    expect(fsrNames(0x8000_0008)).toEqual(["MULTI", "PF"]);
  });
  it("decodes FSYNR0: level in [1:0], WNR bit 4, PNU bit 5, IND bit 6, PTWF bit 10", () => {
    expect(decodeFsynr0(0x13)).toEqual({
      level: 3,
      write: true,
      privileged: false,
      instruction: false,
      walkFault: false,
    });
    expect(decodeFsynr0(0x462)).toEqual({
      level: 2,
      write: false,
      privileged: true,
      instruction: true,
      walkFault: true,
    });
  });
});
