import {
  runArmSharedMappingScenario,
  runDmaLazyScenario,
  runDmaStrictScenario,
  runDriverDomainScenario,
} from "@iommu-sim/dma";
import { describe, expect, it } from "vitest";
import { E2E_BACKENDS } from "./backends.js";

// The scenarios check their own steps and throw naming the first broken expectation; these tests
// also pin what every backend must report the same way.
describe.each(E2E_BACKENDS)("the DMA API on %s", (name, make) => {
  it("maps a buffer, the device writes it through the hardware, the CPU sees it; strict unmap then faults", () => {
    const r = runDmaStrictScenario(make);
    expect(r.faultReason).toBe("unmapped");
    expect(r.sgSegments).toBe(1);
  });

  it("lazy unmap: the IOVA stays reachable from a stale IOTLB entry until the 10 ms flush", () => {
    const r = runDmaLazyScenario(make);
    if (name === "reference") {
      // The reference backend has no IOTLB and does not claim IOMMU_CAP_DEFERRED_FLUSH, so
      // dma-iommu demotes its DMA-FQ domain to strict DMA, as Linux does.
      expect(r.demoted).toBe(true);
      return;
    }
    expect(r.demoted).toBe(false);
    expect(r.windowNs).toBe(10_000_000); // IOVA_DEFAULT_FQ_TIMEOUT, 10 ms of virtual time
    // Real IOTLBs keep the entry until the flush-all: the device's access after unmap still works.
    expect(r).toMatchObject({ staleSupported: true, staleHit: true });
  });

  it("two bus masters on one ARM mapping share one IO address space, first fit from its base", () => {
    const { iovas } = runArmSharedMappingScenario(make);
    // Bitmap first-fit with get_order alignment (4.3): 4K, 8K at +8K (aligned), 4K in the hole, ...
    expect(iovas).toEqual([0x1000_0000n, 0x1000_2000n, 0x1000_1000n, 0x1001_0000n, 0x1000_4000n]);
  });

  it("a driver-owned domain refuses the DMA API until detach", () => {
    expect(runDriverDomainScenario(make).refusal).toMatch(/EBUSY/);
  });
});
