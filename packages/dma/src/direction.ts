import { IOMMU_CACHE, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";

/** `enum dma_data_direction` (include/linux/dma-direction.h). */
export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
  NONE: 3,
} as const;
/** A DMA direction value. */
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

/** `DMA_ATTR_PRIVILEGED`: the mapping is for privileged device accesses only. */
export const DMA_ATTR_PRIVILEGED = 1 << 9;
/** `DMA_ATTR_SKIP_CPU_SYNC`: map/unmap do no implicit CPU cache synchronisation. */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
/** `DMA_ATTR_WEAK_ORDERING`: the device may reorder writes to this mapping. */
export const DMA_ATTR_WEAK_ORDERING = 1 << 1;

/** `DMA_MAPPING_ERROR`: `(dma_addr_t)~0`, what a failed streaming map returns. */
export const DMA_MAPPING_ERROR = 0xffff_ffff_ffff_ffffn;

/**
 * `dma_info_to_prot()` of dma-iommu: the IOMMU prot for a streaming mapping. Coherent devices add
 * `IOMMU_CACHE`, `DMA_ATTR_PRIVILEGED` adds `IOMMU_PRIV`; the direction gives read/write as the
 * device sees it (TO_DEVICE = the device reads).
 */
export function dmaInfoToProt(direction: DmaDirection, coherent: boolean, attrs = 0): number {
  let prot = coherent ? IOMMU_CACHE : 0;
  if (attrs & DMA_ATTR_PRIVILEGED) prot |= IOMMU_PRIV;
  switch (direction) {
    case DmaDirection.BIDIRECTIONAL:
      return prot | IOMMU_READ | IOMMU_WRITE;
    case DmaDirection.TO_DEVICE:
      return prot | IOMMU_READ;
    case DmaDirection.FROM_DEVICE:
      return prot | IOMMU_WRITE;
    default:
      return 0;
  }
}
