import { describe, expect, it } from "vitest";
import { DMA_ATTR_PRIVILEGED, DmaDirection, dmaInfoToProt } from "./direction.js";

describe("dma_info_to_prot", () => {
  it("follows dma-iommu: direction as the device sees it, CACHE when coherent, PRIV on request", () => {
    // IOMMU_READ=1, WRITE=2, CACHE=4, PRIV=32 (include/linux/iommu.h)
    expect(dmaInfoToProt(DmaDirection.BIDIRECTIONAL, false)).toBe(3);
    expect(dmaInfoToProt(DmaDirection.TO_DEVICE, true)).toBe(1 | 4);
    expect(dmaInfoToProt(DmaDirection.FROM_DEVICE, false, DMA_ATTR_PRIVILEGED)).toBe(2 | 32);
    expect(dmaInfoToProt(DmaDirection.NONE, true)).toBe(0);
  });
});
