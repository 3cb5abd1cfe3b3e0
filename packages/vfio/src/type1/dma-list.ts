/**
 * The type1 IOMMU's `dma_list` (drivers/vfio/vfio_iommu_type1.c): the user's mappings keyed by IOVA,
 * with the decisions of `VFIO_IOMMU_MAP_DMA` (`vfio_dma_do_map`) and `VFIO_IOMMU_UNMAP_DMA`
 * (`vfio_dma_do_unmap`) in the kernel's order, `dma_avail` accounting and the valid IOVA list. It
 * decides and records; pinning and mapping into IOMMU domains happen through a {@link DmaBackend}.
 *
 * Addresses are `number`s inside: the simulated address spaces end below 2^53 (the IOMMU core refuses
 * more with `ERANGE`), while the u64 checks the kernel does (wrap, `U64_MAX` for unmap-all) are done
 * in `bigint` once per call.
 */
import { IOMMU_READ, IOMMU_WRITE, IommuError } from "@iommu-sim/iommu";
import {
  VFIO_DEFAULT_DMA_ENTRY_LIMIT,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
} from "../uapi/constants.js";
import { DIRTY_BITMAP_SIZE_MAX, dirtyBitmapBytes } from "../uapi/type1-info.js";
import { ffs64, hex, toU64, U64_MAX, type U64Like, u64ToSafe } from "../util/u64.js";

/** One user mapping (`struct vfio_dma`). Owned by the list; read-only to everyone else. */
export interface VfioDma<O = unknown> {
  /** First IO virtual address. */
  readonly iova: number;
  /** Bytes, a multiple of the smallest IOMMU page size. */
  readonly size: number;
  /** Process virtual address backing `iova`. */
  readonly vaddr: number;
  /** `IOMMU_READ`/`IOMMU_WRITE` as the device may access (the backend adds `IOMMU_CACHE`). */
  readonly prot: number;
  /** The mapping task's mm (whoever asked, compared by identity): only it may unmap. */
  readonly owner: O | undefined;
  /** Pinned and mapped into the IOMMU domains (false in a container without IOMMU-backed domains). */
  readonly iommuMapped: boolean;
  /** Set by UNMAP with `VFIO_DMA_UNMAP_FLAG_VADDR` until MAP with `VFIO_DMA_MAP_FLAG_VADDR` supplies a new vaddr. */
  readonly vaddrInvalid: boolean;
}

/**
 * Where the list's decisions take effect: pinning user pages and mapping them into every IOMMU
 * domain (`vfio_pin_map_dma`), and undoing that (`vfio_unmap_unpin`).
 */
export interface DmaBackend<O = unknown> {
  /**
   * Whether the container has an IOMMU-backed domain. Without one (mdev-only) MAP only records the
   * mapping and pinning is left to `vfio_pin_pages` callers. Read at each MAP.
   * @default true
   */
  readonly iommuBacked?: boolean;
  /**
   * Pins `dma`'s pages and maps them at `dma.iova` into every domain. All or nothing: when it throws
   * (`ENOMEM` past `RLIMIT_MEMLOCK`, `EFAULT` for bad user memory, a mapping failure) it has undone
   * its own partial work, and the list drops the mapping, so a failed MAP leaves no trace.
   */
  pinAndMap(dma: VfioDma<O>): void;
  /** Unmaps `dma` from every domain and unpins its pages. Called once per removed mapping; must not fail. */
  unmapAndUnpin(dma: VfioDma<O>): void;
}

/** An IOVA range, `end` inclusive (`struct vfio_iova`). */
export interface IovaRange {
  start: U64Like;
  end: U64Like;
}

/** Options of {@link createDmaList}. */
export interface DmaListOptions<O = unknown> {
  /** Where pins and maps happen. */
  backend: DmaBackend<O>;
  /** TYPE1v2 semantics (no bisecting unmaps) rather than TYPE1. @default true */
  v2?: boolean;
  /** `iommu->pgsize_bitmap`; its lowest bit is the alignment unit. @default PAGE_MASK (4 KiB and up) */
  pgsizeBitmap?: U64Like;
  /** `dma_entry_limit` module parameter: how many mappings may exist. @default 65535 */
  dmaEntryLimit?: number;
  /** The valid IOVA list (aperture minus reserved regions); empty accepts any IOVA. @default [] */
  iovaRanges?: readonly IovaRange[];
  /**
   * Errno for an IOVA or vaddr range that wraps past 2^64: `EOVERFLOW` since the 2025 unification
   * (selftests/vfio), `EINVAL` before.
   * @default "EOVERFLOW"
   */
  wrapErrno?: "EOVERFLOW" | "EINVAL";
}

/** Arguments of {@link DmaList.map}: the fields of `struct vfio_iommu_type1_dma_map`. */
export interface DmaMapRequest<O = unknown> {
  /** `VFIO_DMA_MAP_FLAG_*`. */
  flags: number;
  vaddr: U64Like;
  iova: U64Like;
  size: U64Like;
  /** The calling task's mm. */
  owner?: O;
}

/** Dirty-bitmap side of an UNMAP with `VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP`. */
export interface DmaUnmapDirty<O = unknown> {
  /** Whether dirty tracking is on (`iommu->dirty_page_tracking`). */
  tracking: boolean;
  /** `vfio_bitmap.pgsize`: must be the smallest page size. */
  pgsize: U64Like;
  /** `vfio_bitmap.size`: bytes of the user's bitmap. */
  bitmapSize: U64Like;
  /** Reports one mapping's dirty pages into the user's bitmap, just before it is removed. */
  report(dma: VfioDma<O>): void;
}

/** Arguments of {@link DmaList.unmap}: the fields of `struct vfio_iommu_type1_dma_unmap`. */
export interface DmaUnmapRequest<O = unknown> {
  /** `VFIO_DMA_UNMAP_FLAG_*`. */
  flags: number;
  iova: U64Like;
  size: U64Like;
  /** The calling task's mm; mappings of another owner stop the walk. */
  owner?: O;
  /** Required with `VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP`. */
  dirty?: DmaUnmapDirty<O>;
}

/** What {@link DmaList.unmap} did. */
export interface DmaUnmapResult<O = unknown> {
  /** Bytes unmapped (or invalidated with VADDR): what the kernel writes back to `unmap.size`. */
  size: bigint;
  /** Mappings removed (or, with VADDR, invalidated), in IOVA order. */
  mappings: VfioDma<O>[];
}

/** The type1 mapping list, from {@link createDmaList}. */
export interface DmaList<O = unknown> {
  /** TYPE1v2 semantics. */
  readonly v2: boolean;
  /** `iommu->pgsize_bitmap`. */
  readonly pgsizeBitmap: bigint;
  /** Smallest page size (`1 << __ffs(pgsize_bitmap)`): the alignment MAP and UNMAP demand. */
  readonly minPageSize: number;
  /** Mappings that may still be created (`dma_avail`). */
  readonly dmaAvail: number;
  /** Number of mappings. */
  readonly count: number;
  /** Mappings whose vaddr is invalid (`vaddr_invalid_count`); groups cannot be added while non-zero. */
  readonly vaddrInvalidCount: number;
  /** The valid IOVA list, ends inclusive. */
  readonly iovaRanges: readonly { start: bigint; end: bigint }[];

  /**
   * `VFIO_IOMMU_MAP_DMA`. Checks, in order: unknown flags, neither READ/WRITE nor VADDR, or VADDR with
   * READ/WRITE `EINVAL`; zero or unaligned size/iova/vaddr `EINVAL`; wrap {@link DmaListOptions.wrapErrno};
   * VADDR: no overlapping mapping `ENOENT`, not exactly one invalidated mapping `EINVAL`, else the vaddr
   * is updated and that mapping returned; any overlap `EEXIST`; `dma_avail` exhausted `ENOSPC`;
   * outside one valid IOVA range `EINVAL`. Then the mapping is recorded and pinned/mapped through the
   * backend (its error is rethrown with the mapping dropped). Returns the mapping.
   */
  map(request: DmaMapRequest<O>): VfioDma<O>;
  /**
   * `VFIO_IOMMU_UNMAP_DMA`. Checks, in order: unknown flags or GET_DIRTY_BITMAP with ALL/VADDR
   * `EINVAL`; bitmap size (`verify_bitmap_size`) `EINVAL`; unaligned iova `EINVAL`; ALL with non-zero
   * iova or size `EINVAL`, else zero/unaligned size `EINVAL`; wrap {@link DmaListOptions.wrapErrno};
   * GET_DIRTY_BITMAP without tracking or with another page size `EINVAL`; v2: a mapping bisected at
   * either end `EINVAL`. Then whole mappings are removed from the first one overlapping: v1 stops at a
   * mapping starting below `iova` (an unmap starting inside one unmaps nothing) and removes a mapping
   * whose start is covered even if the range ends inside it; any walk stops at another owner's
   * mapping. With VADDR mappings are only marked invalid; meeting one already invalid undoes this
   * call's marks and fails with `EINVAL`. Nothing mapped is success with size 0.
   */
  unmap(request: DmaUnmapRequest<O>): DmaUnmapResult<O>;
  /** The lowest mapping overlapping `[iova, iova + size)` (`vfio_find_dma`; size 0 finds the one containing `iova`). */
  find(iova: U64Like, size: U64Like): VfioDma<O> | undefined;
  /** The mappings in IOVA order (a copy). */
  mappings(): VfioDma<O>[];
  /** Mappings overlapping `[start, end)` in IOVA order, for walkers such as dirty tracking. */
  overlapping(start: number, end: number): VfioDma<O>[];
  /**
   * Replaces the valid IOVA list, as attaching a group with a new aperture or reserved regions does;
   * `EINVAL` (and unchanged) if an existing mapping would fall outside it, or if the list is not
   * sorted and disjoint.
   */
  setIovaRanges(ranges: readonly IovaRange[]): void;
  /** Replaces `pgsize_bitmap` (recomputed when domains come and go); `EINVAL` for 0. */
  setPgsizeBitmap(bitmap: U64Like): void;
  /** Removes every mapping through the backend and restores `dma_avail` (the last group detached). */
  clear(): void;
}

interface Dma<O> {
  iova: number;
  size: number;
  vaddr: number;
  prot: number;
  owner: O | undefined;
  iommuMapped: boolean;
  vaddrInvalid: boolean;
}

/** `PAGE_MASK` as a u64: every power of two from 4 KiB up, the bitmap type1 starts with. */
const PAGE_MASK = 0xffff_ffff_ffff_f000n;
const TWO53 = 2n ** 53n;
const MAP_FLAGS = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
const UNMAP_FLAGS =
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;

function normalizeRanges(ranges: readonly IovaRange[]): { start: bigint; end: bigint }[] {
  const out = ranges.map((r) => ({
    start: toU64(r.start, "IOVA range start"),
    end: toU64(r.end, "IOVA range end"),
  }));
  for (let i = 0; i < out.length; i++) {
    const r = out[i]!;
    const prev = out[i - 1];
    if (r.end < r.start || (prev && r.start <= prev.end)) {
      throw new IommuError(
        "EINVAL",
        `IOVA range ${hex(r.start)}..${hex(r.end)} is empty, unsorted or overlapping`,
      );
    }
  }
  return out;
}

function checkPgsizeBitmap(bitmap: U64Like): bigint {
  const value = toU64(bitmap, "pgsize bitmap");
  if (value === 0n) throw new IommuError("EINVAL", "pgsize bitmap 0 has no page size");
  return value;
}

/**
 * Creates an empty type1 mapping list (the `dma_list` of a fresh `vfio_iommu`) over a backend.
 * See {@link DmaList} for the rules.
 */
export function createDmaList<O = unknown>(options: DmaListOptions<O>): DmaList<O> {
  const { backend } = options;
  const v2 = options.v2 ?? true;
  const limit = options.dmaEntryLimit ?? VFIO_DEFAULT_DMA_ENTRY_LIMIT;
  const wrapErrno = options.wrapErrno ?? "EOVERFLOW";
  let pgsizeBitmap = checkPgsizeBitmap(options.pgsizeBitmap ?? PAGE_MASK);
  let minPage = 2 ** ffs64(pgsizeBitmap);
  let ranges = normalizeRanges(options.iovaRanges ?? []);
  // Sorted by iova, disjoint: an array with binary search is the rbtree's job at this size.
  const list: Dma<O>[] = [];
  let dmaAvail = limit;
  let vaddrInvalidCount = 0;

  /** Index of the first mapping whose end is above `addr` (mappings before it end at or below). */
  const lowerBound = (addr: number): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const dma = list[mid]!;
      if (dma.iova + dma.size <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  /** The mapping containing `addr`, if any. */
  const containing = (addr: number): Dma<O> | undefined => {
    const dma = list[lowerBound(addr)];
    return dma && dma.iova <= addr ? dma : undefined;
  };

  /** Lowest mapping overlapping [start, end); `end === start` means the point `start`. */
  const firstOverlap = (start: number, end: number): Dma<O> | undefined => {
    const dma = list[lowerBound(start)];
    if (!dma) return undefined;
    return dma.iova < Math.max(end, start + 1) ? dma : undefined;
  };

  const iovaValid = (start: bigint, last: bigint): boolean => {
    if (ranges.length === 0) return true;
    return ranges.some((r) => r.start <= start && last <= r.end);
  };

  const aligned = (value: bigint): boolean => value % BigInt(minPage) === 0n;

  /** Clamps a u64 address to the simulated space for comparisons (nothing is mapped at or above 2^53). */
  const clamp = (value: bigint): number => Number(value < TWO53 ? value : TWO53);

  const remove = (dma: Dma<O>): void => {
    const at = lowerBound(dma.iova);
    list.splice(at, 1);
    dmaAvail++;
    if (dma.vaddrInvalid) vaddrInvalidCount--;
  };

  const self: DmaList<O> = {
    v2,
    get pgsizeBitmap() {
      return pgsizeBitmap;
    },
    get minPageSize() {
      return minPage;
    },
    get dmaAvail() {
      return dmaAvail;
    },
    get count() {
      return list.length;
    },
    get vaddrInvalidCount() {
      return vaddrInvalidCount;
    },
    get iovaRanges() {
      return ranges.map((r) => ({ ...r }));
    },

    map(request) {
      const { flags } = request;
      if ((flags & ~MAP_FLAGS) !== 0) throw new IommuError("EINVAL", `MAP_DMA: unknown flags ${hex(flags)}`);
      let prot = 0;
      if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
      if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
      const setVaddr = (flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0;
      if ((prot !== 0) === setVaddr) {
        throw new IommuError("EINVAL", "MAP_DMA: need READ and/or WRITE, or VADDR alone");
      }
      const iova = toU64(request.iova, "MAP_DMA iova");
      const size = toU64(request.size, "MAP_DMA size");
      const vaddr = toU64(request.vaddr, "MAP_DMA vaddr");
      if (size === 0n || !aligned(size) || !aligned(iova) || !aligned(vaddr)) {
        throw new IommuError(
          "EINVAL",
          `MAP_DMA: size ${hex(size)}, iova ${hex(iova)}, vaddr ${hex(vaddr)} must be non-zero multiples of ${hex(minPage)}`,
        );
      }
      if (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX) {
        throw new IommuError(wrapErrno, `MAP_DMA: ${hex(iova)}+${hex(size)} wraps the address space`);
      }
      const start = clamp(iova);
      const existing = firstOverlap(start, clamp(iova + size));
      if (setVaddr) {
        if (!existing)
          throw new IommuError("ENOENT", `MAP_DMA VADDR: nothing mapped at ${hex(iova)}+${hex(size)}`);
        if (!existing.vaddrInvalid || BigInt(existing.iova) !== iova || BigInt(existing.size) !== size) {
          throw new IommuError(
            "EINVAL",
            `MAP_DMA VADDR: ${hex(iova)}+${hex(size)} is not one invalidated mapping`,
          );
        }
        existing.vaddr = u64ToSafe(vaddr, "MAP_DMA vaddr");
        existing.vaddrInvalid = false;
        vaddrInvalidCount--;
        return existing;
      }
      if (existing) {
        throw new IommuError(
          "EEXIST",
          `MAP_DMA: ${hex(iova)}+${hex(size)} overlaps mapping at ${hex(existing.iova)}`,
        );
      }
      if (dmaAvail === 0) throw new IommuError("ENOSPC", `MAP_DMA: ${limit} mappings is the dma_entry_limit`);
      if (!iovaValid(iova, iova + size - 1n)) {
        throw new IommuError(
          "EINVAL",
          `MAP_DMA: ${hex(iova)}+${hex(size)} is not inside one valid IOVA range`,
        );
      }
      // Only an empty IOVA list lets a range past 2^53 get here; the model has no such space.
      const end = u64ToSafe(iova + size, "MAP_DMA iova end");
      u64ToSafe(vaddr + size, "MAP_DMA vaddr end");
      const dma: Dma<O> = {
        iova: start,
        size: end - start,
        vaddr: Number(vaddr),
        prot,
        owner: request.owner,
        iommuMapped: false,
        vaddrInvalid: false,
      };
      list.splice(lowerBound(dma.iova), 0, dma);
      dmaAvail--;
      if (backend.iommuBacked ?? true) {
        try {
          backend.pinAndMap(dma);
        } catch (error) {
          remove(dma);
          throw error;
        }
        dma.iommuMapped = true;
      }
      return dma;
    },

    unmap(request) {
      const { flags } = request;
      if ((flags & ~UNMAP_FLAGS) !== 0)
        throw new IommuError("EINVAL", `UNMAP_DMA: unknown flags ${hex(flags)}`);
      const getDirty = (flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
      const all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
      const invalidate = (flags & VFIO_DMA_UNMAP_FLAG_VADDR) !== 0;
      if (getDirty && (all || invalidate)) {
        throw new IommuError("EINVAL", "UNMAP_DMA: GET_DIRTY_BITMAP cannot be combined with ALL or VADDR");
      }
      const iova = toU64(request.iova, "UNMAP_DMA iova");
      let size = toU64(request.size, "UNMAP_DMA size");
      const dirty = request.dirty;
      if (getDirty) {
        if (!dirty) throw new IommuError("EINVAL", "UNMAP_DMA: GET_DIRTY_BITMAP without a vfio_bitmap");
        verifyBitmapSize(size, toU64(dirty.pgsize, "bitmap pgsize"), toU64(dirty.bitmapSize, "bitmap size"));
      }
      if (!aligned(iova))
        throw new IommuError("EINVAL", `UNMAP_DMA: iova ${hex(iova)} is not ${hex(minPage)}-aligned`);
      if (all) {
        if (iova !== 0n || size !== 0n)
          throw new IommuError("EINVAL", "UNMAP_DMA ALL: iova and size must be 0");
        size = U64_MAX;
      } else {
        if (size === 0n || !aligned(size)) {
          throw new IommuError(
            "EINVAL",
            `UNMAP_DMA: size ${hex(size)} must be a non-zero multiple of ${hex(minPage)}`,
          );
        }
        if (iova + size - 1n > U64_MAX) {
          throw new IommuError(wrapErrno, `UNMAP_DMA: ${hex(iova)}+${hex(size)} wraps the address space`);
        }
      }
      if (getDirty && (!dirty!.tracking || toU64(dirty!.pgsize, "bitmap pgsize") !== BigInt(minPage))) {
        throw new IommuError(
          "EINVAL",
          "UNMAP_DMA: GET_DIRTY_BITMAP needs tracking on and the smallest page size",
        );
      }
      const start = clamp(iova);
      // Unmap-all ends at 2^64; that covers everything below 2^53 too.
      const end = clamp(iova + size);
      if (v2 && !all) {
        const head = containing(start);
        if (head && head.iova !== start) {
          throw new IommuError("EINVAL", `UNMAP_DMA: ${hex(iova)} bisects the mapping at ${hex(head.iova)}`);
        }
        const last = iova + size - 1n;
        const tail = last < TWO53 ? containing(Number(last)) : undefined;
        if (tail && tail.iova + tail.size !== end) {
          throw new IommuError("EINVAL", `UNMAP_DMA: ${hex(last)} bisects the mapping at ${hex(tail.iova)}`);
        }
      }
      const touched: Dma<O>[] = [];
      let unmapped = 0n;
      for (let i = lowerBound(start); i < list.length; ) {
        const dma = list[i]!;
        if (dma.iova >= end) break;
        // v1: a mapping that starts below the request ends the walk (no partial unmaps).
        if (!v2 && dma.iova < start) break;
        if (dma.owner !== request.owner) break;
        if (invalidate) {
          if (dma.vaddrInvalid) {
            for (const marked of touched) marked.vaddrInvalid = false;
            vaddrInvalidCount -= touched.length;
            throw new IommuError("EINVAL", `UNMAP_DMA VADDR: mapping at ${hex(dma.iova)} is already invalid`);
          }
          dma.vaddrInvalid = true;
          vaddrInvalidCount++;
          touched.push(dma);
          unmapped += BigInt(dma.size);
          i++;
          continue;
        }
        if (getDirty) dirty!.report(dma);
        unmapped += BigInt(dma.size);
        list.splice(i, 1);
        dmaAvail++;
        if (dma.vaddrInvalid) vaddrInvalidCount--;
        touched.push(dma);
        backend.unmapAndUnpin(dma);
      }
      return { size: unmapped, mappings: touched };
    },

    find(iova, size) {
      const start = clamp(toU64(iova, "iova"));
      return firstOverlap(start, clamp(toU64(iova, "iova") + toU64(size, "size")));
    },

    mappings() {
      return list.slice();
    },

    overlapping(start, end) {
      const out: Dma<O>[] = [];
      for (let i = lowerBound(start); i < list.length; i++) {
        const dma = list[i]!;
        if (dma.iova >= end) break;
        out.push(dma);
      }
      return out;
    },

    setIovaRanges(next) {
      const normalized = normalizeRanges(next);
      if (normalized.length > 0) {
        for (const dma of list) {
          const first = BigInt(dma.iova);
          const last = first + BigInt(dma.size) - 1n;
          if (!normalized.some((r) => r.start <= first && last <= r.end)) {
            throw new IommuError(
              "EINVAL",
              `IOVA list: existing mapping ${hex(dma.iova)}+${hex(dma.size)} falls outside`,
            );
          }
        }
      }
      ranges = normalized;
    },

    setPgsizeBitmap(bitmap) {
      pgsizeBitmap = checkPgsizeBitmap(bitmap);
      minPage = 2 ** ffs64(pgsizeBitmap);
    },

    clear() {
      while (list.length > 0) {
        const dma = list.pop()!;
        dmaAvail++;
        if (dma.vaddrInvalid) vaddrInvalidCount--;
        backend.unmapAndUnpin(dma);
      }
    },
  };
  return self;
}

/**
 * `verify_bitmap_size`: a dirty bitmap for `size` bytes at `pgsize` granularity must be non-empty,
 * at most {@link DIRTY_BITMAP_SIZE_MAX} bytes, and hold a bit for every page (rounded to u64 words).
 * All failures are `EINVAL`.
 */
export function verifyBitmapSize(size: bigint, pgsize: bigint, bitmapSize: bigint): void {
  const shift = ffs64(pgsize);
  const npages = shift < 0 ? 0n : size >> BigInt(shift);
  if (npages === 0n || bitmapSize === 0n || bitmapSize > BigInt(DIRTY_BITMAP_SIZE_MAX)) {
    throw new IommuError("EINVAL", `dirty bitmap: ${npages} pages into ${bitmapSize} bytes`);
  }
  const need = npages > BigInt(Number.MAX_SAFE_INTEGER) ? npages : BigInt(dirtyBitmapBytes(Number(npages)));
  if (bitmapSize < need) {
    throw new IommuError("EINVAL", `dirty bitmap: ${bitmapSize} bytes cannot hold ${npages} pages`);
  }
}
