import { describe, expect, it } from "vitest";
import { parseLogLine, splitLogLines } from "./log-line.js";

describe("parseLogLine", () => {
  it.each([
    ["[  123.456789] DMAR: DRHD: handling fault status reg 2", "DMAR: DRHD: handling fault status reg 2"],
    ["<3>[    5.000000] AMD-Vi: Event logged [", "AMD-Vi: Event logged ["],
    ["kernel: AMD-Vi: Event logged [", "AMD-Vi: Event logged ["],
    ["Jan  2 03:04:05 myhost kernel: [   12.000001] DMAR: x", "DMAR: x"],
    ["Mar 14 10:11:12 myhost kernel: DMAR: x", "DMAR: x"],
    ["2024-03-14T10:11:12.123456+00:00 myhost kernel: DMAR: x", "DMAR: x"],
    ["[Thu Mar 14 10:11:12 2024] DMAR: x", "DMAR: x"],
    ["[   12.000001][    T1] DMAR: x", "DMAR: x"],
    ["[   12.000001] [  C3] DMAR: x", "DMAR: x"],
    ["plain text with no prefix  ", "plain text with no prefix"],
  ])("strips the log prefixes of %j", (raw, message) => {
    const line = parseLogLine(raw, 7);
    expect(line).toEqual({ line: 7, raw, message });
  });

  it("separates the dev_printk prefix, device names with colons included", () => {
    expect(parseLogLine("[ 9.1] vfio-pci 0000:0a:00.0: AMD-Vi: Event logged [X]", 1)).toEqual({
      line: 1,
      raw: "[ 9.1] vfio-pci 0000:0a:00.0: AMD-Vi: Event logged [X]",
      message: "AMD-Vi: Event logged [X]",
      driver: "vfio-pci",
      device: "0000:0a:00.0",
    });
    const word = parseLogLine("arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000001000000010", 2);
    expect(word).toMatchObject({ driver: "arm-smmu-v3", device: "arm-smmu-v3.0.auto" });
    expect(word.message.trim()).toBe("0x0000001000000010");
  });

  it("does not mistake subsystem tags or key=value text for a dev prefix", () => {
    for (const raw of [
      "AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0]",
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x0",
      "IO_PAGE_FAULT device=03:00.0 domain=0x000b address=0x0 flags=0x0020]",
      "Unhandled context fault: fsr=0x402, iova=0x00001000",
    ]) {
      expect(parseLogLine(raw, 1).device).toBeUndefined();
    }
  });

  it("recognises ftrace lines, with 4- and 5-character irq flags and odd task names", () => {
    expect(
      parseLogLine(
        "  kworker/u16:3-812     [002] d..1    99.123456: io_page_fault: IOMMU:x y iova=0x1 flags=0x0",
        3,
      ),
    ).toEqual({
      line: 3,
      raw: "  kworker/u16:3-812     [002] d..1    99.123456: io_page_fault: IOMMU:x y iova=0x1 flags=0x0",
      message: "IOMMU:x y iova=0x1 flags=0x0",
      ftrace: { task: "kworker/u16:3", pid: 812, cpu: 2, timestamp: "99.123456", event: "io_page_fault" },
    });
    expect(parseLogLine("<idle>-0  [001] d.h1.  123.456: map: IOMMU: iova=0x0", 1).ftrace).toEqual({
      task: "<idle>",
      pid: 0,
      cpu: 1,
      timestamp: "123.456",
      event: "map",
    });
  });
});

describe("splitLogLines", () => {
  it("splits LF, CRLF and CR line ends and numbers lines from 1", () => {
    const lines = splitLogLines("a\r\nb\nc\rd\r\n");
    expect(lines.map((l) => [l.line, l.message])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
      [4, "d"],
    ]);
  });
  it("gives no lines for empty input", () => {
    expect(splitLogLines("")).toEqual([]);
  });
});
