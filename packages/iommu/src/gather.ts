/**
 * IOTLB gather: the range of IO addresses an unmap invalidated in the page tables but not yet in the
 * IOTLB, collected across driver calls so one sync invalidates it all. Models Linux's
 * `struct iommu_iotlb_gather` and its helpers (include/linux/iommu.h).
 */

/** A gather. Empty when `start > end`. Mutable: drivers extend it, the core resets it. */
export interface IotlbGather {
  /** First gathered address (`Number.MAX_SAFE_INTEGER` when empty, as Linux uses `ULONG_MAX`). */
  start: number;
  /** Last gathered address, inclusive. */
  end: number;
  /** Page size of the gathered leaves (0 when empty). */
  pgsize: number;
  /** The caller defers invalidation to a flush queue (set by the DMA layer in lazy mode). */
  queued: boolean;
}

/** Creates an empty gather. Models `iommu_iotlb_gather_init()`. */
export function createIotlbGather(): IotlbGather {
  return { start: Number.MAX_SAFE_INTEGER, end: 0, pgsize: 0, queued: false };
}

/** Empties a gather in place (`iommu_iotlb_gather_init()`). */
export function iotlbGatherInit(gather: IotlbGather): void {
  gather.start = Number.MAX_SAFE_INTEGER;
  gather.end = 0;
  gather.pgsize = 0;
  gather.queued = false;
}

/** True when nothing has been gathered. */
export function iotlbGatherIsEmpty(gather: IotlbGather): boolean {
  return gather.start > gather.end;
}

/** Extends the gathered range to cover `[iova, iova + size)`. Models `iommu_iotlb_gather_add_range()`. */
export function iotlbGatherAddRange(gather: IotlbGather, iova: number, size: number): void {
  const end = iova + size - 1;
  if (iova < gather.start) gather.start = iova;
  if (end > gather.end) gather.end = end;
}

/**
 * True when adding `[iova, iova + size)` would make the gathered range cover addresses that were not
 * unmapped (the range is disjoint and not adjacent). Models `iommu_iotlb_gather_is_disjoint()`.
 */
export function iotlbGatherIsDisjoint(gather: IotlbGather, iova: number, size: number): boolean {
  const start = iova;
  const end = iova + size - 1;
  return gather.end !== 0 && (end + 1 < gather.start || start > gather.end + 1);
}

/**
 * Adds a leaf of `size` bytes at `iova`, first syncing through `sync` (the domain's `iotlbSync`)
 * when the page size changes or the range is disjoint, so one range-invalidation never covers a mix.
 * Models `iommu_iotlb_gather_add_page()`.
 */
export function iotlbGatherAddPage(
  gather: IotlbGather,
  iova: number,
  size: number,
  sync: (gather: IotlbGather) => void,
): void {
  if ((gather.pgsize !== 0 && gather.pgsize !== size) || iotlbGatherIsDisjoint(gather, iova, size)) {
    sync(gather);
    const queued = gather.queued;
    iotlbGatherInit(gather);
    gather.queued = queued;
  }
  gather.pgsize = size;
  iotlbGatherAddRange(gather, iova, size);
}
