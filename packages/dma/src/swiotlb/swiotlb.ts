/**
 * swiotlb bouncing with real copies (kernel/dma/swiotlb.c `swiotlb_tbl_map_single()`,
 * `swiotlb_tbl_unmap_single()`, `swiotlb_sync_single_for_cpu/device()`, `swiotlb_bounce()`):
 * the slot bookkeeping of {@link createSwiotlbPool} plus the bytes, moved through the machine's
 * physical memory bus. Addresses are numbers (physical addresses below 2^53).
 */
import { IommuError, type PhysBus } from "@iommu-sim/iommu";
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDirection } from "../direction.js";
import { IO_TLB_SIZE, type SwiotlbMapOptions, type SwiotlbPool, type SwiotlbStats } from "./pool.js";

/** Counters of {@link Swiotlb}, on top of the pool's. */
export interface SwiotlbBounceStats extends SwiotlbStats {
  /** Bounce buffers handed out. */
  readonly bounces: number;
  /** Bytes copied between original buffers and bounce buffers, both ways. */
  readonly bytesCopied: number;
  /** Bounce buffers live now. */
  readonly live: number;
}

/** A bounce-buffer pool with copies, made by {@link createSwiotlb}. */
export interface Swiotlb {
  /** The slot bookkeeping underneath. */
  readonly pool: SwiotlbPool;
  /**
   * `swiotlb_tbl_map_single()`: a bounce buffer for `size` bytes at `orig`, filled with the original
   * bytes whatever the direction (so a device writing only part of it cannot read stale pool data).
   * Returns its physical address, or -1 when the pool is full ("swiotlb buffer is full").
   */
  map(orig: number, size: number, options?: SwiotlbMapOptions): number;
  /**
   * `swiotlb_tbl_unmap_single()`: copies the buffer back for FROM_DEVICE / BIDIRECTIONAL unless
   * `DMA_ATTR_SKIP_CPU_SYNC`, then frees its slots. `tlb` is the address {@link map} returned.
   * @throws IommuError EINVAL if `tlb` is not a live bounce buffer.
   */
  unmap(tlb: number, size: number, dir: DmaDirection, attrs: number): void;
  /** `swiotlb_sync_single_for_cpu()`: bounce buffer to original for FROM_DEVICE / BIDIRECTIONAL. `tlb` may point inside a buffer. */
  syncForCpu(tlb: number, size: number, dir: DmaDirection): void;
  /** `swiotlb_sync_single_for_device()`: original to bounce buffer for TO_DEVICE / BIDIRECTIONAL. */
  syncForDevice(tlb: number, size: number, dir: DmaDirection): void;
  /** `is_swiotlb_buffer()`: whether `pa` lies inside a live bounce buffer's slots. */
  isBuffer(pa: number): boolean;
  /** Counters. */
  stats(): SwiotlbBounceStats;
}

/**
 * Wraps a pool with the copies (`swiotlb_bounce()`) through `memory`.
 * @throws IommuError EINVAL if the pool is not slot-aligned (it always is when made by createSwiotlbPool).
 */
export function createSwiotlb(memory: PhysBus, pool: SwiotlbPool): Swiotlb {
  if (pool.start % IO_TLB_SIZE !== 0)
    throw new IommuError("EINVAL", "swiotlb pool start is not slot aligned");
  // Per slot: the address of the bounce buffer covering it (+1, 0 = free), so syncs inside a buffer
  // find it in O(1), as Linux finds `orig_addr` in its slot array.
  const owner = new Float64Array(pool.nslabs);
  const origOf = new Map<number, { orig: number; size: number; minAlignMask: number }>();
  let bounces = 0;
  let bytesCopied = 0;

  const slotOf = (pa: number): number => Math.floor((pa - pool.start) / IO_TLB_SIZE);
  const find = (tlb: number): { head: number; orig: number; size: number } | undefined => {
    const slot = slotOf(tlb);
    if (slot < 0 || slot >= pool.nslabs) return undefined;
    const head = owner[slot]! - 1;
    if (head < 0) return undefined;
    const info = origOf.get(head);
    return info === undefined ? undefined : { head, ...info };
  };
  // `swiotlb_bounce()`: copies `size` bytes between the original buffer and the bounce buffer at `tlb`.
  const bounce = (tlb: number, size: number, toDevice: boolean): void => {
    const found = find(tlb);
    if (found === undefined) throw new IommuError("EINVAL", `${tlb} is not inside a live swiotlb buffer`);
    const offset = tlb - found.head;
    const n = Math.min(size, found.size - offset);
    if (n <= 0) return;
    const orig = found.orig + offset;
    if (toDevice) memory.write(tlb, memory.read(orig, n));
    else memory.write(orig, memory.read(tlb, n));
    bytesCopied += n;
  };

  return {
    pool,
    map(orig, size, options) {
      const tlb = pool.mapSingle(orig, size, options);
      if (tlb < 0) return -1;
      const first = slotOf(tlb);
      const last = slotOf(tlb + size - 1);
      for (let s = first; s <= last; s++) owner[s] = tlb + 1;
      origOf.set(tlb, { orig, size, minAlignMask: options?.minAlignMask ?? 0 });
      bounces++;
      bounce(tlb, size, true);
      return tlb;
    },
    unmap(tlb, size, dir, attrs) {
      const info = origOf.get(tlb);
      if (info === undefined) throw new IommuError("EINVAL", `${tlb} is not a live swiotlb buffer`);
      if (
        (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 &&
        (dir === DmaDirection.FROM_DEVICE || dir === DmaDirection.BIDIRECTIONAL)
      ) {
        bounce(tlb, size, false);
      }
      const first = slotOf(tlb);
      const last = slotOf(tlb + info.size - 1);
      for (let s = first; s <= last; s++) owner[s] = 0;
      origOf.delete(tlb);
      pool.release(tlb, info.minAlignMask);
    },
    syncForCpu(tlb, size, dir) {
      if (dir === DmaDirection.FROM_DEVICE || dir === DmaDirection.BIDIRECTIONAL) bounce(tlb, size, false);
    },
    syncForDevice(tlb, size, dir) {
      if (dir === DmaDirection.TO_DEVICE || dir === DmaDirection.BIDIRECTIONAL) bounce(tlb, size, true);
    },
    isBuffer(pa) {
      return find(pa) !== undefined;
    },
    stats() {
      return { ...pool.stats(), bounces, bytesCopied, live: origOf.size };
    },
  };
}
