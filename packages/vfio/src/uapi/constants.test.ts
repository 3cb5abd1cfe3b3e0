import { describe, expect, it } from "vitest";
import { VfioIoctl } from "./constants.js";

describe("VFIO ioctl numbers", () => {
  it("are _IO(';', 100 + n) as in include/uapi/linux/vfio.h", () => {
    // ';' = 0x3b; _IO(t, nr) = (t << 8) | nr with no size or direction bits.
    expect(VfioIoctl.GET_API_VERSION).toBe(0x3b64);
    expect(VfioIoctl.IOMMU_MAP_DMA).toBe(0x3b71);
    expect(VfioIoctl.IOMMU_UNMAP_DMA).toBe(0x3b72);
    expect(VfioIoctl.IOMMU_DIRTY_PAGES).toBe(0x3b75);
  });
});
