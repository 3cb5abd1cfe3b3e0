/**
 * Slot bookkeeping of a swiotlb bounce-buffer pool (kernel/dma/swiotlb.c): 2 KiB slots grouped in
 * segments of 128, each slot holding the number of free slots from it to the end of its segment
 * (so no allocation crosses a segment), searched round-robin from where the last one ended, with
 * the bounce address keeping the original address' bits under the device's `min_align_mask` and
 * the start aligned to `alloc_align_mask`. Pure bookkeeping: the DMA layer copies the data.
 *
 * Modelled as one area (Linux splits the pool into per-CPU areas, each searched the same way) and
 * with the default segment boundary (none): both are noted where they would matter.
 */
import { IommuError } from "@iommu-sim/iommu";

/** `IO_TLB_SHIFT`. */
export const IO_TLB_SHIFT = 11;
/** `IO_TLB_SIZE`: 2 KiB per slot. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** `IO_TLB_SEGSIZE`: most contiguous slots one mapping can take (256 KiB). */
export const IO_TLB_SEGSIZE = 128;
/** `IO_TLB_DEFAULT_SIZE`: 64 MiB. */
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;

/** Options of {@link createSwiotlbPool}. */
export interface SwiotlbPoolOptions {
  /** Physical address of the pool (`io_tlb_pool.start`), a multiple of the slot size. */
  start: number;
  /** Bytes; rounded up to whole segments as `swiotlb_init` does. @default IO_TLB_DEFAULT_SIZE (64 MiB) */
  size?: number;
  /** `PAGE_SIZE`, for the page alignment of page-sized streaming bounces. @default 4096 */
  pageSize?: number;
  /** Receives the warnings Linux prints (`swiotlb buffer is full ...`). */
  warn?(message: string): void;
}

/** Device properties a mapping depends on. */
export interface SwiotlbMapOptions {
  /** `dma_get_min_align_mask(dev)`: address bits the bounce buffer must share with the original. @default 0 */
  minAlignMask?: number;
  /** `alloc_align_mask`: bits that must be zero in the start of the allocation (dma-iommu: granule - 1). @default 0 */
  allocAlignMask?: number;
}

/** Counters of a pool. */
export interface SwiotlbStats {
  /** Slots in the pool. */
  readonly nslabs: number;
  /** Slots in use. */
  readonly used: number;
  /** Most slots ever in use at once. */
  readonly hiwater: number;
  /** Mappings refused because no suitable run of slots was free. */
  readonly full: number;
}

/** One mapping's slots, as {@link SwiotlbPool.allocation} reports them. */
export interface SwiotlbAllocation {
  /** First slot, including any padding slots before the bounce buffer. */
  readonly firstSlot: number;
  /** Slots taken. */
  readonly nslots: number;
  /** The original address the buffer bounces. */
  readonly origAddr: number;
}

/** A copy of a pool's state, for before/after comparisons. */
export interface SwiotlbSnapshot {
  readonly list: number[];
  readonly used: number;
  readonly index: number;
}

/** A bounce-buffer pool, made by {@link createSwiotlbPool}. */
export interface SwiotlbPool {
  /** Physical start. */
  readonly start: number;
  /** Slots. */
  readonly nslabs: number;
  /**
   * `swiotlb_tbl_map_single()`'s slot search: a bounce buffer for `mappingSize` bytes at `origAddr`.
   * Returns its physical address, or -1 when the pool has no suitable run ("swiotlb buffer is full";
   * the caller returns `DMA_MAPPING_ERROR`).
   * @throws IommuError EINVAL if `mappingSize` is not a positive integer, `origAddr` not a
   *   non-negative one, or a mask is not of the form 2^n - 1.
   */
  mapSingle(origAddr: number, mappingSize: number, options?: SwiotlbMapOptions): number;
  /**
   * `swiotlb_release_slots()`: frees the buffer at `tlbAddr` (as returned by {@link mapSingle}, for a
   * device with the same `minAlignMask`) and merges its slots with free neighbours in the segment.
   * @throws IommuError EINVAL if `tlbAddr` is not a live bounce buffer of this pool.
   */
  release(tlbAddr: number, minAlignMask?: number): void;
  /** The mapping a bounce address belongs to, or null. */
  allocation(tlbAddr: number, minAlignMask?: number): SwiotlbAllocation | null;
  /** Counters. */
  stats(): SwiotlbStats;
  /** Copy of the state. */
  snapshot(): SwiotlbSnapshot;
}

function checkMask(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || (value & (value + 1)) !== 0 || value > 0x7fffffff) {
    throw new IommuError("EINVAL", `${what} ${String(value)} is not a mask of the form 2^n - 1`);
  }
}

/**
 * Creates a pool (`swiotlb_init_io_tlb_pool()`): every slot free, each holding the free run to the
 * end of its segment.
 * @throws IommuError EINVAL if `start` is not a non-negative multiple of IO_TLB_SIZE or `size` is not
 *   a positive integer.
 */
export function createSwiotlbPool(options: SwiotlbPoolOptions): SwiotlbPool {
  const { start } = options;
  const size = options.size ?? IO_TLB_DEFAULT_SIZE;
  const pageSize = options.pageSize ?? 4096;
  if (!Number.isSafeInteger(start) || start < 0 || start % IO_TLB_SIZE !== 0) {
    throw new IommuError("EINVAL", `swiotlb start ${String(start)} is not a multiple of ${IO_TLB_SIZE}`);
  }
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new IommuError("EINVAL", `swiotlb size ${String(size)} is not a positive integer`);
  }
  const nslabs = Math.ceil(Math.ceil(size / IO_TLB_SIZE) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
  // Free run from each slot to the end of its segment; 0 = in use.
  const list = new Uint8Array(nslabs);
  const allocSize = new Float64Array(nslabs);
  const origAddr = new Float64Array(nslabs);
  const padSlots = new Uint8Array(nslabs);
  const head = new Uint8Array(nslabs);
  for (let i = 0; i < nslabs; i++) list[i] = IO_TLB_SEGSIZE - (i & (IO_TLB_SEGSIZE - 1));
  let index = 0;
  let used = 0;
  let hiwater = 0;
  let full = 0;

  const nrSlots = (bytes: number): number => Math.ceil(bytes / IO_TLB_SIZE);
  const wrap = (i: number): number => (i >= nslabs ? 0 : i);

  /** `swiotlb_search_pool_area()`: the first slot of a fitting run, or -1. */
  const search = (orig: number, bytes: number, allocAlignMask: number, minAlignMask: number): number => {
    const nslots = nrSlots(bytes);
    const offset = orig & minAlignMask & (IO_TLB_SIZE - 1);
    // Page-sized streaming bounces stay page aligned when nothing else is asked (old behaviour).
    if (allocAlignMask === 0 && minAlignMask === 0 && bytes >= pageSize) allocAlignMask = pageSize - 1;
    allocAlignMask |= IO_TLB_SIZE - 1;
    const iotlbAlignMask = minAlignMask & ~allocAlignMask;
    const stride = (Math.max(allocAlignMask, iotlbAlignMask) >>> IO_TLB_SHIFT) + 1;
    if (nslots > nslabs - used) return -1;
    let i = index;
    for (let checked = 0; checked < nslabs; ) {
      const tlbAddr = start + i * IO_TLB_SIZE;
      // Alignment is of the physical address; masks are below 2^31, so the low bits suffice.
      const low = tlbAddr % 0x8000_0000;
      if (
        (low & allocAlignMask) !== 0 ||
        (orig !== 0 && (low & iotlbAlignMask) !== (orig & iotlbAlignMask))
      ) {
        i = wrap(i + 1);
        checked++;
        continue;
      }
      if (list[i]! >= nslots) {
        for (let j = i; j < i + nslots; j++) {
          list[j] = 0;
          allocSize[j] = bytes - (offset + (j - i) * IO_TLB_SIZE);
        }
        // Free slots just before the run now end at it.
        let count = 0;
        for (let j = i - 1; (j & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && list[j]! !== 0; j--) {
          list[j] = ++count;
        }
        head[i] = 1;
        index = wrap(i + nslots);
        used += nslots;
        if (used > hiwater) hiwater = used;
        return i;
      }
      i = wrap(i + stride);
      checked += stride;
    }
    return -1;
  };

  /** The head slot of the buffer at `tlbAddr`, or -1. */
  const headOf = (tlbAddr: number, minAlignMask: number): number => {
    if (!Number.isSafeInteger(tlbAddr) || tlbAddr < start || tlbAddr >= start + nslabs * IO_TLB_SIZE)
      return -1;
    const offset = tlbAddr & minAlignMask & (IO_TLB_SIZE - 1);
    let i = Math.floor((tlbAddr - offset - start) / IO_TLB_SIZE);
    if (list[i] !== 0) return -1;
    i -= padSlots[i]!;
    return i >= 0 && head[i] === 1 ? i : -1;
  };

  return {
    start,
    nslabs,
    mapSingle(orig, mappingSize, opts = {}) {
      const minAlignMask = opts.minAlignMask ?? 0;
      const allocAlignMask = opts.allocAlignMask ?? 0;
      if (!Number.isSafeInteger(orig) || orig < 0) {
        throw new IommuError(
          "EINVAL",
          `swiotlb original address ${String(orig)} is not a non-negative integer`,
        );
      }
      if (!Number.isSafeInteger(mappingSize) || mappingSize <= 0) {
        throw new IommuError(
          "EINVAL",
          `swiotlb mapping size ${String(mappingSize)} is not a positive integer`,
        );
      }
      checkMask(minAlignMask, "min_align_mask");
      checkMask(allocAlignMask, "alloc_align_mask");
      // Bytes before the buffer that keep the min_align_mask bits (within the allocation alignment).
      let offset = orig & minAlignMask & (allocAlignMask | (IO_TLB_SIZE - 1));
      const bytes = Math.ceil((mappingSize + offset) / (allocAlignMask + 1)) * (allocAlignMask + 1);
      const first = search(orig, bytes, allocAlignMask, minAlignMask);
      if (first < 0) {
        full++;
        options.warn?.(
          `swiotlb buffer is full (sz: ${bytes} bytes), total ${nslabs} (slots), used ${used} (slots)`,
        );
        return -1;
      }
      const pad = offset >>> IO_TLB_SHIFT;
      offset &= IO_TLB_SIZE - 1;
      const slot = first + pad;
      padSlots[slot] = pad;
      for (let i = 0; i < nrSlots(bytes) - pad; i++) origAddr[slot + i] = orig + i * IO_TLB_SIZE;
      return start + slot * IO_TLB_SIZE + offset;
    },
    release(tlbAddr, minAlignMask = 0) {
      checkMask(minAlignMask, "min_align_mask");
      const first = headOf(tlbAddr, minAlignMask);
      if (first < 0) {
        throw new IommuError("EINVAL", `${String(tlbAddr)} is not a live swiotlb bounce buffer of this pool`);
      }
      const offset = tlbAddr & minAlignMask & (IO_TLB_SIZE - 1);
      const nslots = nrSlots(allocSize[first]! + offset);
      // Join the free run that follows, if it is in the same segment.
      let count =
        first + nslots < Math.ceil((first + 1) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE ? list[first + nslots]! : 0;
      for (let i = first + nslots - 1; i >= first; i--) {
        list[i] = ++count;
        origAddr[i] = 0;
        allocSize[i] = 0;
        padSlots[i] = 0;
      }
      head[first] = 0;
      for (let i = first - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && list[i]! !== 0; i--) {
        list[i] = ++count;
      }
      used -= nslots;
    },
    allocation(tlbAddr, minAlignMask = 0) {
      const first = headOf(tlbAddr, minAlignMask);
      if (first < 0) return null;
      const offset = tlbAddr & minAlignMask & (IO_TLB_SIZE - 1);
      const slot = Math.floor((tlbAddr - offset - start) / IO_TLB_SIZE);
      return { firstSlot: first, nslots: nrSlots(allocSize[first]! + offset), origAddr: origAddr[slot]! };
    },
    stats() {
      return { nslabs, used, hiwater, full };
    },
    snapshot() {
      return { list: Array.from(list), used, index };
    },
  };
}
