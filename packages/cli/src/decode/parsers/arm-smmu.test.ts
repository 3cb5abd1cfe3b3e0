import { describe, expect, it } from "vitest";
import { decodeLog } from "../decode-log.js";
import { decodeFixture } from "../test-fixtures.js";

describe("arm-smmu context faults", () => {
  it("decodes every format of the fault line, the decode lines, and flags a malformed one", () => {
    const { records, warnings } = decodeFixture("arm-smmu.log");
    expect(records).toEqual([
      {
        // 6.11+: fsr 0x402 = TF, Format=2; fsynr 0x21 = PNU, PLVL 1 (read); cbfrsynra 0x800.
        kind: "arm-smmu-context-fault",
        line: 1,
        iommu: "15000000.iommu",
        event: "TF",
        sid: "0x800",
        read: true,
        write: false,
        privileged: true,
        instruction: false,
        stall: false,
        iova: "0x1000",
        fsr: "0x402",
        fsynr0: "0x21",
        cbfrsynra: "0x800",
        cb: 5,
      },
      {
        // 4.x: fsr 0x40000008 = PF + SS (stalled); fsynr 0x10011 = WNR, S1CBNDX 1, PLVL 1.
        kind: "arm-smmu-context-fault",
        line: 5,
        iommu: "d00000.smmu",
        event: "PF",
        read: false,
        write: true,
        privileged: false,
        instruction: false,
        stall: true,
        iova: "0xffe0f000",
        fsr: "0x40000008",
        fsynr0: "0x10011",
        cb: 1,
      },
      {
        // Oldest: no fsr, so no event name.
        kind: "arm-smmu-context-fault",
        line: 6,
        iommu: "2b400000.smmu",
        read: true,
        write: false,
        privileged: false,
        instruction: false,
        iova: "0x7fff0000",
        fsynr0: "0x1",
        cb: 0,
      },
      {
        // Decode lines only (6.11-rc printed the first line with dev_dbg).
        kind: "arm-smmu-context-fault",
        line: 7,
        iommu: "3da0000.iommu",
        event: "TF",
        sid: "0x1c01",
        read: false,
        write: true,
        privileged: false,
        instruction: true,
        stall: false,
        fsr: "0x80000402",
        fsynr0: "0x10050",
        cbfrsynra: "0x1c01",
      },
      {
        kind: "arm-smmu-context-fault",
        line: 9,
        iommu: "3da0000.iommu",
        sid: "0x0",
        read: true,
        write: false,
        privileged: false,
        instruction: false,
        iova: "0x1000",
        fsynr0: "0x0",
        cbfrsynra: "0x0",
        cb: 3,
        error: "malformed context fault line: fsr=0xZZ",
      },
    ]);
    expect(warnings.map((w) => w.line)).toEqual([7, 9]);
  });

  it("keeps two SMMUs' interleaved decode lines apart", () => {
    const text = [
      "arm-smmu a.iommu: Unhandled context fault: fsr=0x402, iova=0x1000, fsynr=0x0, cbfrsynra=0x1, cb=1",
      "arm-smmu b.iommu: Unhandled context fault: fsr=0x408, iova=0x2000, fsynr=0x10, cbfrsynra=0x2, cb=2",
      "arm-smmu a.iommu: FSR    = 00000402 [Format=2 TF], SID=0x1",
      "arm-smmu b.iommu: FSR    = 00000408 [Format=2 PF], SID=0x2",
      "arm-smmu a.iommu: FSYNR0 = 00000000 [S1CBNDX=0 PLVL=0]",
      "arm-smmu b.iommu: FSYNR0 = 00000010 [S1CBNDX=0 WNR PLVL=0]",
    ].join("\n");
    const { records, warnings } = decodeLog(text);
    expect(records.map((r) => [r.line, r.iommu, r.event, r.cb])).toEqual([
      [1, "a.iommu", "TF", 1],
      [2, "b.iommu", "PF", 2],
    ]);
    expect(warnings).toEqual([]);
  });
});
