/**
 * A small ID allocator handing out the lowest free ID in [min, max] (Linux's `xa_alloc` for ASIDs
 * with `XA_LIMIT(1, (1 << asid_bits) - 1)` and `ida_alloc_range` for VMIDs).
 */
import { IommuError } from "@iommu-sim/iommu";

/** An ID allocator. */
export interface IdAllocator {
  /** The lowest free ID; `ENOSPC` when none is left. */
  alloc(): number;
  /** Returns an ID. */
  free(id: number): void;
  /** IDs in use. */
  readonly inUse: number;
}

/** Creates an allocator over [min, max]; `what` names it in errors. */
export function createIdAllocator(min: number, max: number, what: string): IdAllocator {
  const used = new Set<number>();
  let hint = min;
  return {
    alloc() {
      for (let n = 0, id = hint; n <= max - min; n++, id = id === max ? min : id + 1) {
        if (!used.has(id)) {
          used.add(id);
          // Lowest free: the hint only moves forward past IDs that are taken.
          if (id === hint) hint = id === max ? min : id + 1;
          return id;
        }
      }
      throw new IommuError("ENOSPC", `no free ${what} in [${min}, ${max}]`);
    },
    free(id) {
      used.delete(id);
      if (id < hint) hint = id;
    },
    get inUse() {
      return used.size;
    },
  };
}
