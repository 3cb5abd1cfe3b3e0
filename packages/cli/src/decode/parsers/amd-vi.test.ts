import { describe, expect, it } from "vitest";
import { decodeLog } from "../decode-log.js";
import { decodeFixture } from "../test-fixtures.js";

const amd = { kind: "amd-vi-event" } as const;
const pageFault = { event: "IO_PAGE_FAULT", id: 2 } as const;

describe("AMD-Vi events", () => {
  it("decodes old split-line, old one-line, pci_err, segment and ivhd formats with flags", () => {
    const { records, warnings } = decodeFixture("amd-vi.log");
    expect(records).toEqual([
      // hw-facts 5.3 vector: write to 0xfffff000 by 03:00.0 in domain 0xb, flags RW.
      {
        ...amd,
        ...pageFault,
        line: 1,
        read: false,
        write: true,
        address: "0xfffff000",
        requester: "03:00.0",
        domain: "0xb",
        flags: "0x20",
        flagNames: ["RW"],
      },
      {
        ...amd,
        ...pageFault,
        line: 3,
        read: true,
        write: false,
        address: "0xfdf8f000",
        requester: "00:14.0",
        domain: "0x0",
        flags: "0x50",
        flagNames: ["PR", "PE"],
      },
      {
        ...amd,
        ...pageFault,
        line: 4,
        device: "0000:0a:00.0",
        read: false,
        write: true,
        address: "0x7ffff000",
        requester: "0a:00.0",
        domain: "0x12",
        flags: "0x30",
        flagNames: ["PR", "RW"],
      },
      {
        ...amd,
        ...pageFault,
        line: 6,
        device: "0000:03:00.0",
        read: false,
        write: true,
        address: "0xfffff000",
        requester: "03:00.0",
        domain: "0xb",
        flags: "0x20",
        flagNames: ["RW"],
      },
      // GN set: the domain field is a PASID.
      {
        ...amd,
        ...pageFault,
        line: 7,
        device: "0000:c1:00.0",
        read: false,
        write: true,
        address: "0x7f12345000",
        requester: "c1:00.0",
        flags: "0x25",
        flagNames: ["GN", "US", "RW"],
        pasid: "0x5",
      },
      {
        ...amd,
        line: 8,
        iommu: "ivhd0",
        device: "0000:00:00.2",
        event: "INVALID_DEVICE_REQUEST",
        id: 8,
        address: "0xfffffffdf8000000",
        requester: "00:00.2",
        flags: "0xa00",
        flagNames: ["0xa00"],
        pasid: "0x0",
      },
      // UNKNOWN: the raw words go through the event decoder (code 0xa, else the 5.3 vector).
      {
        ...amd,
        line: 11,
        iommu: "ivhd1",
        event: "UNKNOWN",
        id: 10,
        address: "0xfffff000",
        requester: "03:00.0",
        domain: "0xb",
        flags: "0x20",
        flagNames: ["RW"],
      },
      {
        ...amd,
        ...pageFault,
        line: 12,
        requester: "03:00.0",
        domain: "0xb",
        error: "truncated: no closing ']'",
      },
      {
        ...amd,
        line: 13,
        error: "split event line: the line with the event name and fields is missing",
      },
    ]);
    expect(warnings.map((w) => w.line)).toEqual([12, 13]);
  });

  it("flags malformed values instead of dropping them", () => {
    const { records } = decodeLog(
      "AMD-Vi: Event logged [IO_PAGE_FAULT device=zz:00.0 domain=0x000b address=0xfffff000 flags=0x0020]",
    );
    expect(records[0]?.error).toBe("malformed values: device=zz:00.0");
    expect(records[0]?.address).toBe("0xfffff000");
  });
});
