import { demoScenario, loadScenario } from "iommu-sim/scenario";
import { describe, expect, it } from "vitest";
import { applyWhatIf, inspectAt, MAPPINGS_KEPT, runSession, summarize, truncated } from "./engine.js";
import { bigScenarioText } from "./test-big-scenario.js";

describe("the playground's engine", () => {
  const demo = demoScenario("arm-smmu-v3");
  const session = runSession(demo);
  const firstWrite = session.steps.findIndex((s) => s.kind === "dma.write");

  it("keeps one slim record per step, with the IOTLB activity and fault records", () => {
    expect(session.steps).toHaveLength(demo.steps.length);
    expect(session.steps[firstWrite]!.iotlbActivity).toEqual({ lookups: 1, hits: 0, misses: 1 });
    expect(session.steps[firstWrite + 1]!.iotlbActivity).toEqual({ lookups: 1, hits: 1, misses: 0 });
    const records = session.steps.flatMap((s) => (s.faultRecord ? [s.faultRecord] : []));
    expect(records.map((r) => [r.event, r.iova, r.fields.InputAddr])).toEqual([
      ["F_TRANSLATION", "0xfffff000", "0xfffff000"],
    ]);
    for (const s of session.steps) for (const t of s.machine?.iotlbs ?? []) expect(t.entries).toEqual([]);
  });

  it("inspects the live machine at a step: the walk of the last DMA and the IOTLB's sets and ways", () => {
    const ins = inspectAt(demo, firstWrite);
    expect(ins.lastTranslation).toMatchObject({
      device: "nic",
      iova: "0xfffff000",
      write: true,
      domain: "default:nic",
    });
    expect(ins.lastTranslation!.path).toHaveLength(4);
    expect(ins.lastTranslation!.outcome).toBe("translates to 0x80000000");
    const tlb = ins.iommus[0]!.iotlb!;
    expect([tlb.entries, tlb.ways, tlb.sets, tlb.replacement]).toEqual([2048, 4, 512, "round-robin"]);
    // A 4K entry lives in set (IOVA >> 12) mod 512: 0xfffff -> 511, first way.
    expect(tlb.slots.map((s) => [s.set, s.way, s.iova, s.output])).toEqual([
      [511, 0, "0xfffff000", "0x80000000"],
    ]);
    // Deterministic: inspecting again gives the same machine.
    expect(inspectAt(demo, firstWrite).domains).toEqual(ins.domains);
    expect(inspectAt(demo, -1).lastTranslation).toBeUndefined();
  });

  it("applies a what-if to the machine section only", () => {
    const changed = applyWhatIf(demo, {
      backend: "amd-vi",
      iotlb: { entries: 8, ways: 2, replacement: "lru" },
      strict: false,
    });
    expect(changed.steps).toBe(demo.steps);
    expect(changed.machine.strict).toBe(false);
    expect(changed.machine.iommus.map((i) => [i.name, i.backend, i.options])).toEqual([
      ["smmu0", "amd-vi", { iotlb: { entries: 8, ways: 2, replacement: "lru" } }],
    ]);
    const tlb = inspectAt(changed, -1).iommus[0]!.iotlb!;
    expect([tlb.entries, tlb.ways, tlb.sets, tlb.replacement]).toEqual([8, 2, 4, "lru"]);
    expect(
      applyWhatIf(demo, { backend: "reference", iotlb: { entries: 8, ways: 2, replacement: "lru" } }).machine
        .iommus[0]!.options,
    ).toEqual({});
    expect(summarize(session)).toMatchObject({
      steps: demo.steps.length,
      ok: demo.steps.length,
      failed: 0,
      faults: 1,
    });
  });

  it("keeps at most a few mappings per domain in each record of a long run", () => {
    const big = loadScenario(bigScenarioText(300), "big.yaml");
    const s = runSession(big);
    expect(s.ok).toBe(true);
    const d = s.steps.at(-1)!.machine!.domains.find((x) => x.label === "d")!;
    expect(d.mappings.length).toBe(MAPPINGS_KEPT);
    expect(d.mappingCount).toBeGreaterThan(MAPPINGS_KEPT);
    expect(truncated(big, 5).steps).toHaveLength(5);
  });
});
