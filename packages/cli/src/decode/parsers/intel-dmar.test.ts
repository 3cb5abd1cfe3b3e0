import { describe, expect, it } from "vitest";
import { decodeLog } from "../decode-log.js";
import { decodeFixture } from "../test-fixtures.js";

const vtd = { kind: "vtd-fault" } as const;
const read = { event: "DMA Read", read: true, write: false } as const;
const write = { event: "DMA Write", read: false, write: true } as const;

describe("Intel DMAR faults", () => {
  it("decodes every format, old split lines and interrupt remapping included", () => {
    const { records, warnings } = decodeFixture("intel-dmar.log");
    expect(records).toEqual([
      // hw-facts 5.2 vector: read, reason 6, SID 0x0300, address 0xfffff000.
      {
        ...vtd,
        ...read,
        line: 2,
        address: "0xfffff000",
        requester: "03:00.0",
        reason: 6,
        reasonText: "PTE Read access is not set",
        pasid: null,
      },
      {
        ...vtd,
        ...write,
        line: 3,
        address: "0x7f001000",
        requester: "00:02.0",
        reason: 5,
        reasonText: "PTE Write access is not set",
        pasid: "0x5",
      },
      {
        ...vtd,
        ...read,
        line: 5,
        address: "0x1000",
        requester: "03:00.1",
        reason: 12,
        reasonText: "non-zero reserved fields in PTE",
        pasid: null,
      },
      // 5.x: "PASID ffffffff" means none; the reason is %02d, decimal.
      {
        ...vtd,
        ...write,
        line: 6,
        address: "0x9b4e4000",
        requester: "00:1f.6",
        reason: 2,
        reasonText: "Present bit in context entry is clear",
        pasid: null,
      },
      // 4.x: "[fault reason 12]" is decimal 12 = 0x0c.
      {
        ...vtd,
        ...read,
        line: 7,
        address: "0xffd0e000",
        requester: "02:00.0",
        reason: 12,
        reasonText: "non-zero reserved fields in PTE",
        pasid: null,
      },
      // Oldest: the reason on its own "DMAR:[fault reason 05]" line.
      {
        ...vtd,
        ...write,
        line: 8,
        address: "0x6df084000",
        requester: "00:02.0",
        reason: 5,
        reasonText: "PTE Write access is not set",
        pasid: null,
      },
      {
        ...vtd,
        line: 10,
        event: "INTR-REMAP",
        requester: "f0:1f.0",
        reason: 0x25,
        reasonText: "Blocked a compatibility format interrupt request",
        index: "0x21",
      },
      // Old split INTR-REMAP: index %llx (hex), reason %02d (36 = 0x24).
      {
        ...vtd,
        line: 11,
        event: "INTR-REMAP",
        requester: "f0:1f.0",
        reason: 36,
        reasonText: "Detected reserved fields in the IRTE entry",
        index: "0x21",
      },
      {
        ...vtd,
        ...read,
        line: 13,
        address: "0x0",
        requester: "00:02.0",
        reason: 0x86,
        reasonText: "SM: No read permission for Read/AtomicOp request",
        pasid: null,
      },
      {
        ...vtd,
        ...read,
        line: 14,
        address: "0xfffff000",
        requester: "03:00.0",
        pasid: null,
        error: "fault reason missing: no '[fault reason NN]' after the fault line",
      },
    ]);
    expect(warnings.map((w) => w.line)).toEqual([14]);
  });

  it("takes the reason text from the table, not from the log", () => {
    const { records } = decodeLog(
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] some other wording",
    );
    expect(records[0]?.reasonText).toBe("PTE Read access is not set");
  });

  it("pairs split lines across interleaved noise", () => {
    const text = [
      "DMAR:[DMA Read] Request device [03:00.0] fault addr fffff000 ",
      "e1000e: eth0 NIC Link is Up",
      "DMAR:[fault reason 06] PTE Read access is not set",
    ].join("\r\n");
    const { records, warnings } = decodeLog(text);
    expect(records).toEqual([
      {
        ...vtd,
        ...read,
        line: 1,
        address: "0xfffff000",
        requester: "03:00.0",
        reason: 6,
        reasonText: "PTE Read access is not set",
        pasid: null,
      },
    ]);
    expect(warnings).toEqual([]);
  });
});
