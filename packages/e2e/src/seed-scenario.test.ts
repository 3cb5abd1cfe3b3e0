import { describe, expect, it } from "vitest";
import { E2E_BACKENDS } from "./backends.js";
import { runSeedScenario } from "./seed-scenario.js";

// What every backend must show: written from the IOMMU API's documented semantics, not recorded.
const EXPECTED = [
  "0000:00:01.0: group of 1, default DMA",
  "0000:00:02.0: group of 1, default DMA",
  "nic DMA write across pages: ok",
  "memory at RAM+0xffc: 1,2,3,4,5,6,7,8",
  "gpu on unmanaged, DMA API usable: false",
  "gpu DMA in its own domain: ok, RAM+0x200000 = 9,9,9,9",
  "gpu DMA to an unmapped address: fault; handler saw: 0000:00:02.0 iova=0x80000000 write",
  "gpu reading the NIC's IOVA: fault",
  "after detach gpu on DMA, DMA API usable: true",
  "nic DMA after unmap: fault",
];

describe.each(E2E_BACKENDS)("the seed story on %s", (_name, make) => {
  it("shows the same observable results", () => {
    expect(runSeedScenario(() => make().backend)).toEqual(EXPECTED);
  });
});
