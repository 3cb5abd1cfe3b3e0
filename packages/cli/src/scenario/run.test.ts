import { describe, expect, it } from "vitest";
import { loadScenario } from "./load.js";
import { renderScenarioReport, traceToJson } from "./report.js";
import { runScenario } from "./run.js";

const scenario = (steps: string, backend = "reference") =>
  loadScenario(
    `name: t\nmachine:\n  iommus:\n    - { name: io0, backend: ${backend} }\n  platform:\n    - { name: dev, iommu: io0, streamIds: [7] }\nsteps:\n${steps}`,
    "t.yaml",
  );

describe("runScenario", () => {
  it("fails an expectation that does not hold, naming the step, and goes on", () => {
    const trace = runScenario(
      scenario(
        "  - domain.alloc: { name: d, device: dev }\n  - attach: { domain: d, device: dev }\n  - expect:\n      iovaToPhys: { domain: d, iova: 0x1000, is: 0x2000 }\n  - clock.advance: 5\n",
      ),
    );
    expect(trace.ok).toBe(false);
    const bad = trace.steps[2]!;
    expect(bad).toMatchObject({ status: "failed", path: "steps[2]", line: 10, kind: "expect" });
    expect(bad.failures).toEqual(["iovaToPhys(d, 0x1000) is unmapped, expected 0x2000"]);
    expect(trace.steps[3]!.status).toBe("ok");
    expect(renderScenarioReport(trace)).toContain(
      "FAILED: t.yaml:10: steps[2] (expect): iovaToPhys(d, 0x1000)",
    );
  });
  it("stops at an unexpected error and skips the rest", () => {
    const trace = runScenario(
      scenario("  - map: { domain: nope, iova: 0, paddr: 0, size: 4K, prot: r }\n  - clock.advance: 1\n"),
    );
    expect(trace.steps.map((s) => s.status)).toEqual(["error", "skipped"]);
    expect(trace.steps[0]!.failures[0]).toMatch(/no domain named "nope"/);
  });
  it("checks an expected errno", () => {
    const trace = runScenario(
      scenario(
        "  - domain.alloc: { name: d, device: dev }\n  - map: { domain: d, iova: 0x1000, paddr: 0, size: 4K, prot: r }\n  - map: { domain: d, iova: 0x1000, paddr: 0, size: 4K, prot: r }\n    error: EEXIST\n  - map: { domain: d, iova: 0x3000, paddr: 0, size: 4K, prot: r }\n    error: EEXIST\n",
      ),
    );
    expect(trace.steps.map((s) => s.status)).toEqual(["ok", "ok", "ok", "failed"]);
    expect(trace.steps[3]!.failures).toEqual(["succeeded, but was expected to fail with EEXIST"]);
  });
  it("snapshots groups, devices, domains with mappings, and faults after each step", () => {
    const trace = runScenario(
      scenario(
        "  - domain.alloc: { name: d, device: dev }\n  - attach: { domain: d, device: dev }\n  - map: { domain: d, iova: 0x1000, paddr: 0x5000, size: 8K, prot: rw }\n  - unmap: { domain: d, iova: 0x2000, size: 4K }\n  - dma.read: { device: dev, iova: 0x2000, fault: unmapped }\n",
      ),
    );
    expect(trace.ok).toBe(true);
    const last = trace.steps.at(-1)!.snapshot!;
    expect(last.devices).toEqual([
      expect.objectContaining({
        name: "dev",
        domain: "d",
        defaultDomain: "default:dev",
        dmaApiUsable: false,
      }),
    ]);
    expect(last.domains.find((d) => d.label === "d")).toMatchObject({
      type: "unmanaged",
      mappings: [{ iova: "0x1000", paddr: "0x5000", size: "0x1000" }],
    });
    expect(last.faults).toEqual([
      expect.objectContaining({ device: "dev", domain: "d", iova: "0x2000", write: false }),
    ]);
    expect(trace.initial!.groups[0]).toMatchObject({ devices: ["dev"], domain: "default:dev" });
    expect(JSON.parse(JSON.stringify(traceToJson(trace)))).toMatchObject({
      ok: true,
      final: { faultCount: 1 },
    });
  });
  it("reports a backend without page-table bytes or IOTLB in a dump, without failing", () => {
    const trace = runScenario(
      scenario("  - domain.alloc: { name: d, device: dev }\n  - dump: { domain: d }\n"),
    );
    expect(trace.ok).toBe(true);
    expect(trace.steps[1]!.text).toMatch(/none to show/);
    expect(trace.steps[1]!.text).toMatch(/io0 has no IOTLB model/);
  });
  it("dumps an SMMUv3 domain as a tree with the descriptors of hw-facts 1.11", () => {
    const trace = runScenario(
      scenario(
        "  - domain.alloc: { name: d, device: dev }\n  - map: { domain: d, iova: 0x0, paddr: 0x0, size: 4K, prot: [read, write, noexec, cache] }\n  - dump: { domain: d, iotlb: false }\n",
        "arm-smmu-v3",
      ),
    );
    const detail = trace.steps[2]!.detail as {
      pageTable: { entries: { level: number; children: unknown[] }[] };
    };
    let node: unknown = detail.pageTable.entries[0];
    for (let i = 0; i < 3; i++) node = (node as { children: unknown[] }).children[0];
    expect(node).toMatchObject({
      level: 3,
      index: 0,
      descriptor: "0x60000000000f47",
      type: "page",
      prot: "READ|WRITE|CACHE|NOEXEC",
    });
    expect(trace.steps[2]!.text).toContain(
      "L3[0] 0x60000000000f47 page 0x0 -> 0x0 4K READ|WRITE|CACHE|NOEXEC",
    );
  });
});
