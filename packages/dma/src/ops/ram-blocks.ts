/**
 * System RAM for coherent buffers: whole power-of-two blocks from the machine's page allocator
 * (the contiguous path of `iommu_dma_alloc()` / `dma_direct_alloc()`, `__GFP_ZERO` always), zeroed
 * through the memory bus, remembered by address so a free needs only the CPU address.
 */
import type { PageProvider, PhysBus } from "@iommu-sim/iommu";
import { PAGE_SIZE } from "./ops.js";

/** Coherent-buffer RAM, made by {@link createRamBlocks}. */
export interface RamBlocks {
  /** A zeroed block of at least `size` bytes (rounded up to a power of two, at least a page); -1 when RAM is exhausted. */
  alloc(size: number): number;
  /** Frees the block at `pa`; false when none starts there. */
  free(pa: number): boolean;
  /** Blocks handed out. */
  readonly live: number;
}

/** Wraps `ram` (allocation) and `memory` (zeroing). */
export function createRamBlocks(ram: PageProvider, memory: PhysBus): RamBlocks {
  const blocks = new Map<number, number>();
  return {
    alloc(size) {
      let bytes = PAGE_SIZE;
      while (bytes < size) bytes *= 2;
      let pa: number;
      try {
        pa = ram.alloc(bytes);
      } catch {
        return -1;
      }
      memory.fill(pa, bytes, 0);
      blocks.set(pa, bytes);
      return pa;
    },
    free(pa) {
      const bytes = blocks.get(pa);
      if (bytes === undefined) return false;
      blocks.delete(pa);
      ram.free(pa, bytes);
      return true;
    },
    get live() {
      return blocks.size;
    },
  };
}
