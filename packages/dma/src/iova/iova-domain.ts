/**
 * The IOVA allocator of Linux's `drivers/iommu/iova.c`: an ordered tree of allocated (and reserved)
 * pfn ranges in granule units, searched top-down below a limit from a cached node, with a separate
 * cached node for searches under 4 GiB and a fast fail for 32-bit sizes known not to fit.
 *
 * Pfns are plain numbers: every pfn is below 2^53, so double arithmetic is exact and the hot path does
 * no `bigint` work. The anchor sits at {@link IOVA_ANCHOR}, above every pfn a caller can name.
 */
import { IommuError } from "@iommu-sim/iommu";
import { NIL, NODE_CACHED, NODE_RESERVED, RangeTree } from "./range-tree.js";

/**
 * Pfn of the anchor node that keeps the tree non-empty (Linux's `IOVA_ANCHOR = ~0UL`; here the
 * largest safe integer, so that every allowed limit + 1 still sits at or below it).
 */
export const IOVA_ANCHOR = Number.MAX_SAFE_INTEGER;

/** Highest pfn a caller can name; `limitPfn + 1` must stay exact and not exceed the anchor. */
export const MAX_IOVA_PFN = Number.MAX_SAFE_INTEGER - 1;

/** One allocated or reserved range, inclusive on both ends, in granule units (`struct iova`). */
export interface Iova {
  readonly pfnLo: number;
  readonly pfnHi: number;
}

/** What {@link createIovaDomain} needs; the arguments of `init_iova_domain()`. */
export interface IovaDomainOptions {
  /** Smallest mapping unit in bytes: a power of two no larger than `pageSize`. */
  granule: number;
  /** Lowest pfn ever handed out (dma-iommu uses at least 1 so IOVA 0 is never returned). */
  startPfn: number;
  /**
   * Highest pfn (inclusive) any allocation may use; larger `limitPfn` arguments are clamped to it.
   * Not part of Linux's domain (there the callers' masks are the only limit); it models an aperture
   * fixed at creation. @default MAX_IOVA_PFN
   */
  limit?: number;
  /** The CPU page size, only to check the granule as `init_iova_domain()` does. @default 4096 */
  pageSize?: number;
}

/** A copy of a domain's whole state, for before/after comparisons in tests. */
export interface IovaDomainSnapshot {
  readonly ranges: ReadonlyArray<readonly [pfnLo: number, pfnHi: number, flags: number]>;
  readonly cachedPfn: number;
  readonly cached32Pfn: number;
  readonly max32AllocSize: number;
}

/** An IOVA allocator (`struct iova_domain`), made by {@link createIovaDomain}. */
export interface IovaDomain {
  /** Granule in bytes. */
  readonly granule: number;
  /** `iova_shift()`: log2 of the granule. */
  readonly shift: number;
  /** Lowest pfn handed out. */
  readonly startPfn: number;
  /** Highest pfn handed out (the `limit` option). */
  readonly limitPfn: number;
  /** `dma_32bit_pfn`: first pfn at or above 4 GiB, `1 << (32 - shift)`. */
  readonly dma32bitPfn: number;
  /**
   * `max32_alloc_size`: a size known not to fit below 4 GiB; searches limited to 4 GiB of this size
   * or larger fail at once. Reset to `dma32bitPfn` when anything below 4 GiB is freed.
   */
  readonly max32AllocSize: number;
  /** Ranges in the tree, allocated and reserved, without the anchor. */
  readonly nodeCount: number;
  /** Pfn of the node searches above 4 GiB start from (`cached_node`); {@link IOVA_ANCHOR} for the anchor. */
  readonly cachedPfn: number;
  /** Pfn of the node searches below 4 GiB start from (`cached32_node`); {@link IOVA_ANCHOR} for the anchor. */
  readonly cached32Pfn: number;
  /**
   * `alloc_iova()`: allocates `size` granules, as high as possible at or below `limitPfn` (inclusive),
   * searching down from the cached node and then once more above it. With `sizeAligned` the low pfn
   * is a multiple of `size` rounded up to a power of two. Returns null when nothing fits (and then
   * records `size` as `max32AllocSize`, as Linux does on every failure).
   * @throws IommuError EINVAL if `size` is not a positive integer or `limitPfn` not a non-negative one.
   */
  allocIova(size: number, limitPfn: number, sizeAligned?: boolean): Iova | null;
  /** `find_iova()`: the range containing `pfn`, or null. */
  findIova(pfn: number): Iova | null;
  /**
   * `free_iova()`: frees the range containing `pfn` (reserved ranges included, as in Linux), updating
   * the cached nodes as `__cached_rbnode_delete_update()`; false (and nothing changes) if none does.
   * @throws IommuError EBUSY if the range is held by a range cache (free it through the cache).
   */
  freeIova(pfn: number): boolean;
  /**
   * `reserve_iova()`: marks `[pfnLo, pfnHi]` as never to be allocated. Overlapping ranges are extended
   * rather than duplicated; a range inside an existing one returns that one.
   * @throws IommuError EINVAL if `pfnLo > pfnHi` or either is not a non-negative integer; ERANGE above
   *   {@link MAX_IOVA_PFN} (where Linux WARNs and returns NULL).
   */
  reserveIova(pfnLo: number, pfnHi: number): Iova;
  /** `put_iova_domain()`: frees every range; any later call throws EINVAL. */
  putIovaDomain(): void;
  /** Every range in ascending order, without the anchor. */
  ranges(): Iova[];
  /** A deep copy of the state, for tests. */
  snapshot(): IovaDomainSnapshot;
}

/** What the range caches and the policy need beyond the public interface. Internal to the package. */
export interface IovaDomainInternals {
  readonly tree: RangeTree;
  /** `alloc_iova()` returning the node id (NIL on failure), with `limitPfn` inclusive and clamped. */
  allocNode(size: number, limitPfn: number, sizeAligned: boolean): number;
  /** `remove_iova()`: cache update then erase. */
  removeNode(id: number): void;
  /** Throws if the domain was put. */
  checkAlive(): void;
}

const internals = new WeakMap<IovaDomain, IovaDomainInternals>();

/** The internals of a domain made by {@link createIovaDomain}. Internal to the package. */
export function iovaDomainInternals(domain: IovaDomain): IovaDomainInternals {
  const found = internals.get(domain);
  if (found === undefined) throw new IommuError("EINVAL", "not an IOVA domain made by createIovaDomain()");
  return found;
}

/** `fls_long(x)`: 1-based index of the highest set bit, 0 for 0, exact for any safe integer. */
export function fls(x: number): number {
  if (x <= 0) return 0;
  if (x < 0x1_0000_0000) return 32 - Math.clz32(x);
  return 32 + fls(Math.floor(x / 0x1_0000_0000));
}

function checkPfn(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new IommuError("EINVAL", `${what} ${String(value)} is not a non-negative integer pfn`);
  }
}

/**
 * Creates an IOVA domain: `init_iova_domain(iovad, granule, start_pfn)`. The tree starts with only
 * the anchor; both cached nodes point at it and `max32AllocSize` is `dma32bitPfn`.
 * @throws IommuError EINVAL if the granule is not a power of two no larger than the page size, or a
 *   pfn argument is not a non-negative integer or `limit < startPfn`.
 */
export function createIovaDomain(options: IovaDomainOptions): IovaDomain {
  const { granule, startPfn } = options;
  const pageSize = options.pageSize ?? 4096;
  const limit = options.limit ?? MAX_IOVA_PFN;
  if (
    !Number.isSafeInteger(granule) ||
    granule <= 0 ||
    (granule & (granule - 1)) !== 0 ||
    granule > pageSize
  ) {
    throw new IommuError(
      "EINVAL",
      `IOVA granule ${String(granule)} is not a power of two no larger than the page size ${pageSize}`,
    );
  }
  checkPfn(startPfn, "IOVA start pfn");
  checkPfn(limit, "IOVA limit pfn");
  if (limit > MAX_IOVA_PFN || limit < startPfn) {
    throw new IommuError(
      "EINVAL",
      `IOVA limit pfn ${limit} is below start pfn ${startPfn} or above ${MAX_IOVA_PFN}`,
    );
  }
  const shift = 31 - Math.clz32(granule);
  const dma32bitPfn = 2 ** (32 - shift);

  const tree = new RangeTree();
  let anchor = tree.insert(IOVA_ANCHOR, IOVA_ANCHOR);
  let cached = anchor;
  let cached32 = anchor;
  let max32AllocSize = dma32bitPfn;
  let dead = false;

  const checkAlive = (): void => {
    if (dead) throw new IommuError("EINVAL", "IOVA domain used after putIovaDomain()");
  };

  /** `iova_find_limit()`: the first node a search from the anchor would actually stop at. */
  const findLimit = (limitExcl: number): number => tree.lowestEndingAtOrAbove(limitExcl);

  // `__alloc_and_insert_iova_range()` with `limitExcl` = limit_pfn + 1 as Linux passes it.
  const allocNode = (size: number, limitPfn: number, sizeAligned: boolean): number => {
    const limitExcl = Math.min(limitPfn, limit) + 1;
    const align = sizeAligned ? 2 ** fls(size - 1) : 1;
    if (limitExcl <= dma32bitPfn && size >= max32AllocSize) return NIL;

    // Read once: the arrays are only replaced by the insert at the end.
    const pfnLo = tree.lo;
    const pfnHi = tree.hi;
    let curr = limitExcl <= dma32bitPfn ? cached32 : cached;
    const retryPfn = pfnHi[curr]!;
    let high = limitExcl;
    let low = startPfn;
    let newPfn = 0;
    let retried = false;
    for (;;) {
      let fits = true;
      do {
        const currLo = pfnLo[curr]!;
        if (currLo < high) high = currLo;
        // Linux computes `high - size` in unsigned arithmetic; a wrap makes the loop stop and the
        // `high < size` test below fail the pass, which is what stopping here does.
        if (high < size) {
          fits = false;
          break;
        }
        newPfn = high - size;
        if (align > 1) newPfn -= newPfn % align;
        curr = tree.prev(curr);
      } while (curr !== NIL && newPfn <= pfnHi[curr]! && newPfn >= low);

      if (!fits || newPfn < low) {
        // One more pass over the space above the cached node, which the first pass never saw. Linux
        // tests only `low == start_pfn`; `retried` also stops the pass repeating when the cached
        // node ends just below start_pfn (a reserved range there), where Linux would spin.
        if (!retried && low === startPfn && retryPfn < limitExcl) {
          retried = true;
          high = limitExcl;
          low = retryPfn + 1;
          curr = findLimit(limitExcl);
          continue;
        }
        max32AllocSize = size;
        return NIL;
      }
      break;
    }
    const id = tree.insert(newPfn, newPfn + size - 1);
    if (newPfn + size - 1 < dma32bitPfn) cached32 = id;
    else cached = id;
    return id;
  };

  const removeNode = (id: number): void => {
    const pfnLo = tree.lo;
    const pfnHi = tree.hi;
    const freeLo = pfnLo[id]!;
    const freeHi = pfnHi[id]!;
    if (id === cached32 || (freeHi < dma32bitPfn && freeLo >= pfnLo[cached32]!)) cached32 = tree.next(id);
    if (freeLo < dma32bitPfn) max32AllocSize = dma32bitPfn;
    if (freeLo >= pfnLo[cached]!) cached = tree.next(id);
    tree.erase(id);
  };

  const toIova = (id: number): Iova => ({ pfnLo: tree.lo[id]!, pfnHi: tree.hi[id]! });

  const domain: IovaDomain = {
    granule,
    shift,
    startPfn,
    limitPfn: limit,
    dma32bitPfn,
    get max32AllocSize() {
      return max32AllocSize;
    },
    get nodeCount() {
      return tree.size - 1;
    },
    get cachedPfn() {
      return tree.lo[cached]!;
    },
    get cached32Pfn() {
      return tree.lo[cached32]!;
    },
    allocIova(size, limitPfn, sizeAligned = false) {
      checkAlive();
      if (!Number.isSafeInteger(size) || size <= 0) {
        throw new IommuError(
          "EINVAL",
          `IOVA size ${String(size)} is not a positive integer number of granules`,
        );
      }
      checkPfn(limitPfn, "IOVA limit");
      const id = allocNode(size, limitPfn, sizeAligned);
      return id === NIL ? null : toIova(id);
    },
    findIova(pfn) {
      checkAlive();
      checkPfn(pfn, "pfn");
      const id = tree.findContaining(pfn);
      return id === NIL || id === anchor ? null : toIova(id);
    },
    freeIova(pfn) {
      checkAlive();
      checkPfn(pfn, "pfn");
      const id = tree.findContaining(pfn);
      if (id === NIL || id === anchor) return false;
      if ((tree.flags[id]! & NODE_CACHED) !== 0) {
        throw new IommuError("EBUSY", `IOVA range at pfn ${tree.lo[id]} is held by a range cache`);
      }
      removeNode(id);
      return true;
    },
    reserveIova(pfnLo, pfnHi) {
      checkAlive();
      checkPfn(pfnLo, "reserve_iova low pfn");
      checkPfn(pfnHi, "reserve_iova high pfn");
      if (pfnLo > MAX_IOVA_PFN || pfnHi > MAX_IOVA_PFN) {
        throw new IommuError("ERANGE", `reserve_iova pfn ${Math.max(pfnLo, pfnHi)} is above ${MAX_IOVA_PFN}`);
      }
      if (pfnLo > pfnHi) {
        throw new IommuError("EINVAL", `reserve_iova range ${pfnLo}..${pfnHi} is empty (low above high)`);
      }
      // Walk the overlapping nodes in order: each swallows the part of the range below it (it grows
      // down), and whatever lies past the last one becomes a new node.
      const pLo = tree.lo;
      const pHi = tree.hi;
      let overlap = false;
      for (let id = tree.first(); id !== NIL; id = tree.next(id)) {
        if (pfnLo <= pHi[id]! && pfnHi >= pLo[id]!) {
          if (pfnLo < pLo[id]!) pLo[id] = pfnLo;
          if (pfnHi > pHi[id]!) pfnLo = pHi[id]! + 1;
          if (pfnLo >= pLo[id]! && pfnHi <= pHi[id]!) return toIova(id);
          overlap = true;
        } else if (overlap) {
          break;
        }
      }
      const id = tree.insert(pfnLo, pfnHi);
      tree.flags[id] = NODE_RESERVED;
      return toIova(id);
    },
    putIovaDomain() {
      checkAlive();
      dead = true;
      tree.clear();
      anchor = NIL;
      cached = NIL;
      cached32 = NIL;
    },
    ranges() {
      checkAlive();
      const out: Iova[] = [];
      for (let id = tree.first(); id !== NIL && id !== anchor; id = tree.next(id)) out.push(toIova(id));
      return out;
    },
    snapshot() {
      checkAlive();
      const ranges: Array<readonly [number, number, number]> = [];
      for (let id = tree.first(); id !== NIL && id !== anchor; id = tree.next(id)) {
        ranges.push([tree.lo[id]!, tree.hi[id]!, tree.flags[id]!]);
      }
      return { ranges, cachedPfn: tree.lo[cached]!, cached32Pfn: tree.lo[cached32]!, max32AllocSize };
    },
  };
  internals.set(domain, { tree, allocNode, removeNode, checkAlive });
  return domain;
}
