import { describe, expect, it } from "vitest";
import { decodeLog } from "../decode-log.js";
import { decodeFixture } from "../test-fixtures.js";

// Hand-computed from hw-facts 5.1 field positions.
const TRANSLATION_WRITE = {
  kind: "arm-smmu-v3-event",
  event: "F_TRANSLATION",
  id: 16,
  sid: "0x10",
  ssid: null,
  read: false,
  write: true,
  privileged: false,
  instruction: false,
  stage: 1,
  class: "IN",
  stall: false,
  stag: "0x0",
  iova: "0xdead000",
  ipa: "0x0",
};

describe("arm-smmu-v3 event dumps", () => {
  it("decodes old-format dumps with noise, two SMMUs interleaved and a truncated block", () => {
    const { records, warnings } = decodeFixture("arm-smmu-v3-old.log");
    expect(records).toEqual([
      { ...TRANSLATION_WRITE, line: 2, iommu: "arm-smmu-v3.0.auto" },
      {
        // dw0 0x0000001000005810: SSV (bit 11) and SSID 5; dw1 0x0000020800000000: RnW, CLASS=IN.
        ...TRANSLATION_WRITE,
        line: 8,
        iommu: "arm-smmu-v3.0.auto",
        ssid: "0x5",
        read: true,
        write: false,
        iova: "0x1000",
      },
      {
        // dw1 0x0000018e80000007: CLASS=TT (41:40=1), S2 (39), RnW (35), InD (34), PnU (33),
        // Stall (31), STAG 7; dw3 0x80123abc masked to 51:12.
        kind: "arm-smmu-v3-event",
        line: 9,
        iommu: "arm-smmu-v3.1.auto",
        event: "F_PERMISSION",
        id: 19,
        sid: "0x2a",
        ssid: null,
        read: true,
        write: false,
        privileged: true,
        instruction: true,
        stage: 2,
        class: "TT",
        stall: true,
        stag: "0x7",
        iova: "0xffff12345000",
        ipa: "0x80123000",
      },
      {
        kind: "arm-smmu-v3-event",
        line: 19,
        iommu: "arm-smmu-v3.0.auto",
        event: "C_BAD_STE",
        id: 4,
        error: "expected 4 event record words after the header, found 2",
      },
    ]);
    expect(warnings).toEqual([
      {
        line: 19,
        message: "arm-smmu-v3-event: cannot decode: expected 4 event record words after the header, found 2",
      },
    ]);
  });

  it("decodes new-format dumps (dev_err, decode lines) behind syslog and dmesg prefixes", () => {
    const { records, warnings } = decodeFixture("arm-smmu-v3-new.log");
    expect(records).toEqual([
      { ...TRANSLATION_WRITE, line: 1, iommu: "arm-smmu-v3.0.auto", device: "0000:03:00.0" },
      {
        kind: "arm-smmu-v3-event",
        line: 9,
        iommu: "arm-smmu-v3.0.auto",
        event: "F_STE_FETCH",
        id: 3,
        sid: "0x20",
        ssid: null,
        address: "0x12345678",
      },
    ]);
    expect(warnings).toEqual([]);
  });

  it("decodes a paste with no prefixes at all (tabs kept)", () => {
    const text = [
      "event 0x10 received:",
      "\t0x0000001000000010",
      "\t0x0000020000000000",
      "\t0x000000000dead000",
      "\t0x0000000000000000",
    ].join("\n");
    expect(decodeLog(text).records).toEqual([{ ...TRANSLATION_WRITE, line: 1 }]);
  });

  it("reports a header whose ID disagrees with the record's EventID, decoding the words", () => {
    const text = ["event 0x13 received:", "0x0000001000000010", "0x0000020000000000", "0xdead000", "0x0"];
    // Words not printed as 16 digits are not record words: the block is truncated.
    expect(decodeLog(text.join("\n")).records[0]?.error).toBe(
      "expected 4 event record words after the header, found 2",
    );
    const full = [
      "event 0x13 received:",
      "0x0000001000000010",
      "0x0000020000000000",
      "0x000000000dead000",
      "0x0000000000000000",
    ];
    const { records, warnings } = decodeLog(full.join("\n"));
    expect(records).toEqual([{ ...TRANSLATION_WRITE, line: 1 }]);
    expect(warnings).toEqual([
      {
        line: 1,
        message: "arm-smmu-v3-event: header says event 0x13 but the record's EventID is 0x10",
      },
    ]);
  });

  it("decodes the driver's decode lines alone when the raw words are missing, and says so", () => {
    const text = [
      "[ 1.0] arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:05:00.0 sid: 0x500 ssid: 0x3 iova: 0x7f0000001000 ipa: 0",
      '[ 1.0] arm-smmu-v3 arm-smmu-v3.0.auto: priv inst read s2 "Stage 1 translation table fetch" ttd_read stall stag: 0x1f',
    ].join("\n");
    const { records, warnings } = decodeLog(text);
    expect(records).toEqual([
      {
        kind: "arm-smmu-v3-event",
        line: 1,
        iommu: "arm-smmu-v3.0.auto",
        device: "0000:05:00.0",
        event: "F_PERMISSION",
        sid: "0x500",
        ssid: "0x3",
        read: true,
        write: false,
        privileged: true,
        instruction: true,
        stage: 2,
        class: "TT",
        stall: true,
        stag: "0x1f",
        iova: "0x7f0000001000",
        ipa: "0x0",
      },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/raw event record words are missing/);
  });
});
