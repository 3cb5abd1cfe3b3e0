import { createIommuCore, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { E2E_BACKENDS } from "./backends.js";

describe.each(E2E_BACKENDS)("inspecting %s through the IOMMU API", (name, make) => {
  it("offers the IOTLB (geometry, statistics, entries) and each paging domain's page table", () => {
    const { backend } = make();
    const core = createIommuCore();
    core.registerIommu(backend);
    const dev = core.addPciDevice({ bus: 0, slot: 1 });
    const domain = core.getDmaDomain(dev)!;
    core.map(domain, 0x10000n, 0x8000_0000n, 0x1000n, IOMMU_READ | IOMMU_WRITE);
    expect(core.deviceDma(dev, { iova: 0x10008n, length: 4, write: false }).ok).toBe(true);
    if (name === "reference") {
      // The reference backend models no IOTLB and keeps no page-table bytes: it offers neither.
      expect(backend.iotlb ?? null).toBeNull();
      expect(domain.pageTable).toBeUndefined();
      return;
    }
    const iotlb = backend.iotlb!;
    expect(iotlb.geometry.entries).toBeGreaterThan(0);
    expect(iotlb.stats().misses).toBeGreaterThanOrEqual(1);
    expect(iotlb.snapshot()).toContainEqual(
      expect.objectContaining({ iova: 0x10000n, output: 0x8000_0000n, size: 4096n }),
    );
    const walk = domain.pageTable!.walk(0x10008n) as { outputAddress?: bigint; steps: unknown[] };
    expect(walk.outputAddress).toBe(0x8000_0008n);
    expect(walk.steps.length).toBeGreaterThanOrEqual(2);
  });
});
