/**
 * Mapping protection flags of the IOMMU API, with Linux's values (include/linux/iommu.h).
 * `@iommu-sim/hw` exports the same values: it stands alone and imports nothing of ours.
 */

/** DMA read allowed. */
export const IOMMU_READ = 1 << 0;
/** DMA write allowed. */
export const IOMMU_WRITE = 1 << 1;
/** Cache-coherent memory. */
export const IOMMU_CACHE = 1 << 2;
/** No instruction fetch. */
export const IOMMU_NOEXEC = 1 << 3;
/** Device (MMIO) memory. */
export const IOMMU_MMIO = 1 << 4;
/** Privileged accesses only. */
export const IOMMU_PRIV = 1 << 5;

/** Fault flags handed to fault handlers (`IOMMU_FAULT_READ` is 0). */
export const IOMMU_FAULT_READ = 0x0;
/** The faulting access was a write. */
export const IOMMU_FAULT_WRITE = 0x1;
