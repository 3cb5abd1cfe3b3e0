import { describe, expect, it } from "vitest";
import { decodeLog } from "./decode-log.js";
import { renderJson } from "./render-json.js";
import { renderTable } from "./render-table.js";
import { decodeFixture } from "./test-fixtures.js";

describe("decodeLog", () => {
  it("decodes every family from one interleaved CRLF syslog paste, in input order", () => {
    const { records, warnings } = decodeFixture("mixed-crlf.log");
    expect(records.map((r) => [r.line, r.kind, r.event])).toEqual([
      [1, "vtd-fault", "DMA Write"],
      [2, "arm-smmu-v3-event", "F_TRANSLATION"],
      [3, "amd-vi-event", "IO_PAGE_FAULT"],
      [6, "arm-smmu-context-fault", "TF"],
      [10, "iommu-trace", "io_page_fault"],
    ]);
    expect(records[1]).toMatchObject({
      sid: "0x10",
      ssid: null,
      write: true,
      class: "IN",
      iova: "0xdead000",
    });
    expect(warnings).toEqual([]);
  });

  it("finds nothing in unrelated text", () => {
    expect(decodeLog("hello\nworld\n[    1.0] usb 1-1: new device\n")).toEqual({ records: [], warnings: [] });
  });
});

describe("renderers", () => {
  it("prints JSON with keys in a fixed order and absent fields left out", () => {
    const { records } = decodeLog(
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set",
    );
    const json = renderJson(records);
    expect(json.endsWith("\n")).toBe(true);
    const parsed = JSON.parse(json) as Record<string, unknown>[];
    expect(Object.keys(parsed[0]!)).toEqual([
      "kind",
      "line",
      "event",
      "read",
      "write",
      "address",
      "requester",
      "reason",
      "reasonText",
      "pasid",
    ]);
    expect(renderJson([])).toBe("[]\n");
  });

  it("prints a table with a header, aligned columns and errors spelled out", () => {
    const { records } = decodeFixture("arm-smmu-v3-old.log");
    const lines = renderTable(records).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^LINE +KIND +EVENT +DEVICE +ADDRESS +DETAILS$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(
      /^2 +arm-smmu-v3-event +F_TRANSLATION +sid 0x10 +0xdead000 +iommu=arm-smmu-v3\.0\.auto id=16 /,
    );
    expect(lines[1]).toContain(" write ");
    expect(lines[1]).not.toContain("read");
    expect(lines[4]).toContain("ERROR: expected 4 event record words after the header, found 2");
    expect(renderTable([])).toBe("no IOMMU records found\n");
  });
});
