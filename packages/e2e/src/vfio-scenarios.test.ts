import { runIommufdScenario, runVfioIoctlScenario, runVfioMapScenario } from "@iommu-sim/vfio";
import { describe, expect, it } from "vitest";
import { E2E_BACKENDS } from "./backends.js";

// The scenarios check their own steps and throw naming the first broken expectation.
describe.each(E2E_BACKENDS)("VFIO type1 on %s", (_name, make) => {
  it("a process maps a buffer, the device writes it by DMA, the process reads it; unmap faults and unpins", () => {
    const r = runVfioMapScenario(make);
    expect(r.faultReason).toBe("unmapped");
    expect(r.locked).toEqual([0, 1 << 20, 0]);
  });

  it("the same flow through the binary UAPI alone", () => {
    expect(runVfioIoctlScenario(make).unmappedSize).toBe(1n << 20n);
  });

  it("iommufd: an IOAS with an automatic domain, kernel-chosen IOVA, device DMA, unmap faults", () => {
    expect(runIommufdScenario(make).faultReason).toBe("unmapped");
  });
});
