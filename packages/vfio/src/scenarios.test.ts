import { describe, expect, it } from "vitest";
import { runIommufdScenario, runVfioIoctlScenario, runVfioMapScenario } from "./scenarios.js";
import { referenceFactory } from "./test-machine.js";

describe("end-to-end VFIO scenarios on the reference backend", () => {
  it("a process maps a buffer, the device writes it by DMA, the process reads it; unmap faults and unpins", () => {
    const r = runVfioMapScenario(referenceFactory());
    expect(r.faultReason).toBe("unmapped");
    expect(r.dirtyBits).toBe(0b110);
    expect(r.locked).toEqual([0, 1 << 20, 0]);
    expect(r.iovaRanges).toEqual([{ start: 0n, end: 2n ** 48n - 1n }]);
    expect(r.pgsizes).toBe(0x4020_1000n);
  });

  it("the same flow through the binary UAPI alone", () => {
    const r = runVfioIoctlScenario(referenceFactory());
    expect(r.unmappedSize).toBe(1n << 20n);
    expect(r.rets.every((ret) => ret >= 0)).toBe(true);
  });

  it("iommufd: IOAS, automatic IOVA, device DMA, unmap faults", () => {
    const r = runIommufdScenario(referenceFactory());
    expect(r.faultReason).toBe("unmapped");
    expect(r.iova).toBe(0x1_0000n);
    expect(r.ranges).toEqual([{ start: 0n, last: 2n ** 48n - 1n }]);
  });
});
