import { describe, expect, it } from "vitest";
import { decodeLog } from "../decode-log.js";
import { decodeFixture } from "../test-fixtures.js";

const trace = { kind: "iommu-trace" } as const;

describe("iommu tracepoints", () => {
  it("decodes ftrace output: new and old map/unmap, attach, group, io_page_fault", () => {
    const { records, warnings } = decodeFixture("iommu-trace.log");
    expect(records).toEqual([
      { ...trace, line: 7, event: "attach_device_to_domain", device: "0000:03:00.0", requester: "03:00.0" },
      { ...trace, line: 8, event: "map", iova: "0x100000", paddr: "0x123456000", size: 4096 },
      { ...trace, line: 10, event: "unmap", iova: "0x100000", size: 4096, unmappedSize: 4096 },
      {
        ...trace,
        line: 11,
        event: "io_page_fault",
        device: "0000:03:00.0",
        requester: "03:00.0",
        read: false,
        write: true,
        iova: "0xfffff000",
        flags: "0x1",
      },
      {
        ...trace,
        line: 12,
        event: "io_page_fault",
        device: "0000:03:00.0",
        requester: "03:00.0",
        read: true,
        write: false,
        iova: "0x1000",
        flags: "0x0",
      },
      { ...trace, line: 13, event: "map", iova: "0xfee00000", paddr: "0xfee00000", size: 2097152 },
      { ...trace, line: 14, event: "unmap", iova: "0xfee00000", size: 2097152, unmappedSize: 2097152 },
      {
        ...trace,
        line: 15,
        event: "add_device_to_group",
        device: "0000:03:00.0",
        requester: "03:00.0",
        group: 12,
      },
      { ...trace, line: 16, event: "map", error: "unrecognised map trace format: IOMMU: iova=garbage" },
    ]);
    expect(warnings.map((w) => w.line)).toEqual([16]);
  });

  it("accepts a trace line without the ftrace header, and a non-PCI device", () => {
    const { records } = decodeLog(
      "io_page_fault: IOMMU:msm_dpu ae01000.display-controller iova=0x0000000001000000 flags=0x0001",
    );
    expect(records).toEqual([
      {
        ...trace,
        line: 1,
        event: "io_page_fault",
        device: "ae01000.display-controller",
        read: false,
        write: true,
        iova: "0x1000000",
        flags: "0x1",
      },
    ]);
  });

  it("ignores other trace events", () => {
    expect(decodeLog("bash-1 [000] .... 1.0: sched_switch: prev_comm=bash").records).toEqual([]);
  });
});
