/**
 * The per-CPU IOVA range caches of `drivers/iommu/iova.c` (Bonwick and Adams' magazines, as merged
 * in Linux 4.7): for each power-of-two size up to 32 granules, every CPU holds a `loaded` and a
 * `prev` magazine of freed pfns, and a shared depot holds full magazines. Frees go to the cache
 * instead of the tree; allocations come from it first, LIFO, so the tree and its lock are touched
 * only on a miss.
 *
 * Cached ranges stay allocated in the tree (flagged), exactly as Linux keeps their `struct iova`.
 * Magazines hold tree node ids rather than pfns, which is the same thing while a node lives and
 * spares a lookup when a cached range is flushed back.
 */
import { IommuError } from "@iommu-sim/iommu";
import { fls, type IovaDomain, iovaDomainInternals } from "./iova-domain.js";
import { NIL, NODE_CACHED, NODE_RESERVED } from "./range-tree.js";

/** `IOVA_RANGE_CACHE_MAX_SIZE`: number of size bins (orders 0..5, 1 to 32 granules). */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** `IOVA_MAG_SIZE` in current kernels: 127 pfns, so that a magazine is exactly 1 KiB. */
export const IOVA_MAG_SIZE = 127;
/** `IOVA_MAG_SIZE` from Linux 4.7 to about 6.1. */
export const IOVA_MAG_SIZE_LEGACY = 128;
/** `MAX_GLOBAL_MAGS`: the fixed depot size per bin before the list depot (about 6.7). */
export const MAX_GLOBAL_MAGS = 32;
/** `IOVA_DEPOT_DELAY`: interval of the depot-trimming work, in ns (100 ms). */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

/** `order_base_2(n)`: ceil(log2(n)) for n >= 1. */
export function orderBase2(n: number): number {
  return n <= 1 ? 0 : fls(n - 1);
}

/**
 * The number of granules dma-iommu allocates for `len` granules (`iommu_dma_alloc_iova()`): sizes
 * below 32 (`1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1)`) round up to a power of two so that a freed range
 * always fits the cache bin it lands in; larger ones stay as they are (they bypass the caches).
 * @throws IommuError EINVAL if `len` is not a positive integer.
 */
export function iovaAllocationPages(len: number): number {
  if (!Number.isSafeInteger(len) || len <= 0) {
    throw new IommuError("EINVAL", `IOVA length ${String(len)} is not a positive integer number of granules`);
  }
  return len < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? 2 ** orderBase2(len) : len;
}

/** Options of {@link createIovaRcache}. */
export interface IovaRcacheOptions {
  /** `num_online_cpus()`: CPUs are numbered 0..cpus-1, and the list depot is trimmed to this many. */
  cpus: number;
  /** Pfns per magazine. @default IOVA_MAG_SIZE (127; use IOVA_MAG_SIZE_LEGACY for 128) */
  magazineSize?: number;
  /**
   * Depot flavour: `"list"` (current kernels) grows without bound and delayed work trims it by one
   * magazine every 100 ms while it holds more than `cpus`; `"fixed"` (before about 6.7) holds at most
   * `maxGlobalMags` and frees a full magazine's ranges to the tree when it is full. @default "list"
   */
  depot?: "list" | "fixed";
  /** Depot capacity per bin for the fixed depot. @default MAX_GLOBAL_MAGS (32) */
  maxGlobalMags?: number;
  /**
   * Virtual clock (ns) driving the list depot's trimming work. Without one the work never runs, as
   * if time stood still.
   */
  clock?: { now(): number };
}

/** Counters of a range cache. Arrays are indexed by bin (order). */
export interface IovaRcacheStats {
  /** Allocations served from a magazine. */
  readonly hits: readonly number[];
  /** Cacheable allocations that found nothing suitable in the caches. */
  readonly misses: readonly number[];
  /** Frees taken by a magazine. */
  readonly inserts: readonly number[];
  /** Successful allocations from the tree (`alloc_iova()` calls from `alloc_iova_fast()`). */
  readonly treeAllocs: number;
  /** `alloc_iova_fast()` calls that returned 0. */
  readonly failures: number;
  /** Times every cache was flushed back to the tree to retry a failed allocation. */
  readonly flushes: number;
  /** Full magazines currently in each bin's depot. */
  readonly depotSizes: readonly number[];
  /** Magazines the depot-trimming work (or a full fixed depot) freed back to the tree. */
  readonly depotTrims: number;
  /** Ranges currently held by all caches. */
  readonly cachedRanges: number;
}

/** A copy of the caches' contents (pfns), for before/after comparisons. */
export interface IovaRcacheSnapshot {
  /** `[cpu][bin]` = { loaded, prev } pfns in magazine order. */
  readonly cpus: ReadonlyArray<ReadonlyArray<{ loaded: number[]; prev: number[] }>>;
  /** `[bin]` = depot magazines, oldest first. */
  readonly depot: ReadonlyArray<ReadonlyArray<number[]>>;
}

/** The range caches of one IOVA domain, made by {@link createIovaRcache}. */
export interface IovaRcache {
  /** The domain whose tree backs the caches. */
  readonly domain: IovaDomain;
  /** Number of CPUs. */
  readonly cpus: number;
  /** Pfns per magazine. */
  readonly magazineSize: number;
  /**
   * `alloc_iova_fast()`: `size` granules at or below `limitPfn` (inclusive) for `cpu`: the most
   * recently freed suitable pfn of that CPU's bin if any, else a size-aligned tree allocation; on
   * failure with `flushRcache`, every cache is flushed to the tree and the tree tried once more.
   * Returns the low pfn, or 0 when nothing fits. Cacheable sizes (up to 32) must be powers of two:
   * round with {@link iovaAllocationPages} first, as dma-iommu does.
   * @throws IommuError EINVAL for a bad size, limit or CPU.
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean, cpu: number): number;
  /**
   * `free_iova_fast()`: gives back the range at `pfn` of `size` granules (rounded or not: only its
   * order selects the bin) to `cpu`'s cache, or to the tree when it is too large for the caches.
   * @throws IommuError EINVAL if `pfn` does not start an allocated range, the range is already cached
   *   or reserved, `size` is not of the range's order, or `cpu` is out of range.
   */
  freeIovaFast(pfn: number, size: number, cpu: number): void;
  /** `free_cpu_cached_iovas()`: empties one CPU's magazines into the tree. */
  freeCpuCachedIovas(cpu: number): void;
  /** `free_global_cached_iovas()`: empties every depot into the tree. */
  freeGlobalCachedIovas(): void;
  /** Runs the depot-trimming work that is due by the clock. Every other call does this first. */
  runDueWork(): void;
  /** Counters; see {@link IovaRcacheStats}. */
  stats(): IovaRcacheStats;
  /** Contents, for tests. */
  snapshot(): IovaRcacheSnapshot;
}

interface Magazine {
  size: number;
  readonly ids: Int32Array;
}

/**
 * Creates the range caches of `domain` (`iova_domain_init_rcaches()`): empty `loaded` and `prev`
 * magazines for every CPU and bin, and empty depots.
 * @throws IommuError EINVAL if `cpus`, `magazineSize` or `maxGlobalMags` is not a positive integer.
 */
export function createIovaRcache(domain: IovaDomain, options: IovaRcacheOptions): IovaRcache {
  const { cpus } = options;
  const magSize = options.magazineSize ?? IOVA_MAG_SIZE;
  const fixedDepot = (options.depot ?? "list") === "fixed";
  const maxGlobalMags = options.maxGlobalMags ?? MAX_GLOBAL_MAGS;
  for (const [name, value] of [
    ["cpus", cpus],
    ["magazineSize", magSize],
    ["maxGlobalMags", maxGlobalMags],
  ] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new IommuError("EINVAL", `range cache ${name} ${String(value)} is not a positive integer`);
    }
  }
  const clock = options.clock;
  const inner = iovaDomainInternals(domain);
  const { tree } = inner;
  const BINS = IOVA_RANGE_CACHE_MAX_SIZE;

  const spare: Magazine[] = [];
  const newMag = (): Magazine => spare.pop() ?? { size: 0, ids: new Int32Array(magSize) };
  // loaded[cpu * BINS + bin], prev[cpu * BINS + bin]
  const loaded: Magazine[] = [];
  const prev: Magazine[] = [];
  for (let i = 0; i < cpus * BINS; i++) {
    loaded.push(newMag());
    prev.push(newMag());
  }
  const depot: Magazine[][] = Array.from({ length: BINS }, () => []);
  // Due time of each bin's delayed depot work, -1 when not pending.
  const workDue = new Float64Array(BINS).fill(-1);

  const hits = new Array<number>(BINS).fill(0);
  const misses = new Array<number>(BINS).fill(0);
  const inserts = new Array<number>(BINS).fill(0);
  let treeAllocs = 0;
  let failures = 0;
  let flushes = 0;
  let depotTrims = 0;
  let cachedRanges = 0;

  /** `iova_magazine_free_pfns()`: every range in the magazine back to the tree. */
  const freePfns = (mag: Magazine): void => {
    for (let i = 0; i < mag.size; i++) {
      const id = mag.ids[i]!;
      tree.flags[id] = tree.flags[id]! & ~NODE_CACHED;
      inner.removeNode(id);
    }
    cachedRanges -= mag.size;
    mag.size = 0;
  };

  const runDueWork = (): void => {
    if (clock === undefined || fixedDepot) return;
    const now = clock.now();
    for (let bin = 0; bin < BINS; bin++) {
      // `iova_depot_work_func()`: trim one magazine per run while above num_online_cpus, re-arming
      // itself after each trim; caught up here run by run, each at its own due time.
      while (workDue[bin]! >= 0 && workDue[bin]! <= now) {
        const bucket = depot[bin]!;
        if (bucket.length > cpus) {
          const mag = bucket.pop()!;
          freePfns(mag);
          spare.push(mag);
          depotTrims++;
          workDue[bin] = workDue[bin]! + IOVA_DEPOT_DELAY_NS;
        } else {
          workDue[bin] = -1;
        }
      }
    }
  };

  const checkCpu = (cpu: number): void => {
    if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu >= cpus) {
      throw new IommuError("EINVAL", `CPU ${String(cpu)} is not one of the ${cpus} online CPUs`);
    }
  };

  /** `__iova_rcache_get()`: a node id of at most `popLimit`, or NIL. */
  const rcacheGet = (slot: number, bin: number, popLimit: number): number => {
    let mag = loaded[slot]!;
    if (mag.size === 0) {
      const other = prev[slot]!;
      if (other.size !== 0) {
        prev[slot] = mag;
        loaded[slot] = other;
        mag = other;
      } else {
        const full = depot[bin]!.pop();
        if (full === undefined) return NIL;
        spare.push(mag);
        loaded[slot] = full;
        mag = full;
      }
    }
    // `iova_magazine_pop()`: the newest pfn at or below the limit; fall back to the tree only when
    // none is, and fill the hole with the last entry.
    const ids = mag.ids;
    const lo = tree.lo;
    let i = mag.size - 1;
    while (lo[ids[i]!]! > popLimit) {
      if (i === 0) return NIL;
      i--;
    }
    const id = ids[i]!;
    ids[i] = ids[--mag.size]!;
    return id;
  };

  /** `__iova_rcache_insert()`; with the fixed depot, a full depot frees a magazine to the tree. */
  const rcacheInsert = (slot: number, bin: number, id: number): void => {
    let mag = loaded[slot]!;
    if (mag.size === magSize) {
      const other = prev[slot]!;
      if (other.size < magSize) {
        prev[slot] = mag;
        loaded[slot] = other;
        mag = other;
      } else {
        const bucket = depot[bin]!;
        if (!fixedDepot) {
          bucket.push(mag);
          if (workDue[bin]! < 0 && clock !== undefined) workDue[bin] = clock.now() + IOVA_DEPOT_DELAY_NS;
        } else if (bucket.length < maxGlobalMags) {
          bucket.push(mag);
        } else {
          freePfns(mag);
          spare.push(mag);
          depotTrims++;
        }
        mag = newMag();
        loaded[slot] = mag;
      }
    }
    mag.ids[mag.size++] = id;
  };

  const freeCpu = (cpu: number): void => {
    for (let bin = 0; bin < BINS; bin++) {
      freePfns(loaded[cpu * BINS + bin]!);
      freePfns(prev[cpu * BINS + bin]!);
    }
  };

  const freeGlobal = (): void => {
    for (let bin = 0; bin < BINS; bin++) {
      const bucket = depot[bin]!;
      for (let mag = bucket.pop(); mag !== undefined; mag = bucket.pop()) {
        freePfns(mag);
        spare.push(mag);
      }
    }
  };

  const pfnsOf = (mag: Magazine): number[] => Array.from(mag.ids.subarray(0, mag.size), (id) => tree.lo[id]!);

  return {
    domain,
    cpus,
    magazineSize: magSize,
    allocIovaFast(size, limitPfn, flushRcache, cpu) {
      inner.checkAlive();
      if (!Number.isSafeInteger(size) || size <= 0) {
        throw new IommuError(
          "EINVAL",
          `IOVA size ${String(size)} is not a positive integer number of granules`,
        );
      }
      if (!Number.isSafeInteger(limitPfn) || limitPfn < 0) {
        throw new IommuError("EINVAL", `IOVA limit ${String(limitPfn)} is not a non-negative integer pfn`);
      }
      checkCpu(cpu);
      const bin = orderBase2(size);
      if (bin < BINS && (size & (size - 1)) !== 0) {
        throw new IommuError(
          "EINVAL",
          `IOVA size ${size} is cacheable but not a power of two; round it with iovaAllocationPages()`,
        );
      }
      runDueWork();
      // Linux passes limit_pfn + 1 - size unchecked; a size above the limit would wrap and accept
      // any cached pfn, so such requests skip the caches here (the tree then fails them).
      const popLimit = limitPfn + 1 - size;
      if (bin < BINS && popLimit >= 0) {
        const id = rcacheGet(cpu * BINS + bin, bin, popLimit);
        if (id !== NIL) {
          hits[bin]!++;
          cachedRanges--;
          tree.flags[id] = tree.flags[id]! & ~NODE_CACHED;
          return tree.lo[id]!;
        }
        misses[bin]!++;
      } else if (bin < BINS) {
        misses[bin]!++;
      }
      for (;;) {
        const id = inner.allocNode(size, limitPfn, true);
        if (id !== NIL) {
          treeAllocs++;
          return tree.lo[id]!;
        }
        if (!flushRcache) break;
        // Replenish the tree from every cache, then one more try.
        flushRcache = false;
        flushes++;
        for (let c = 0; c < cpus; c++) freeCpu(c);
        freeGlobal();
      }
      failures++;
      return 0;
    },
    freeIovaFast(pfn, size, cpu) {
      inner.checkAlive();
      checkCpu(cpu);
      if (!Number.isSafeInteger(size) || size <= 0) {
        throw new IommuError(
          "EINVAL",
          `IOVA size ${String(size)} is not a positive integer number of granules`,
        );
      }
      const id = Number.isSafeInteger(pfn) && pfn >= 0 ? tree.findContaining(pfn) : NIL;
      if (id === NIL || tree.lo[id] !== pfn || tree.hi[id] === Number.MAX_SAFE_INTEGER) {
        throw new IommuError("EINVAL", `pfn ${String(pfn)} does not start an allocated IOVA range`);
      }
      const flags = tree.flags[id]!;
      if ((flags & NODE_CACHED) !== 0) {
        throw new IommuError("EINVAL", `IOVA range at pfn ${pfn} is already free (in a range cache)`);
      }
      if ((flags & NODE_RESERVED) !== 0) {
        throw new IommuError("EINVAL", `IOVA range at pfn ${pfn} is reserved, not allocated`);
      }
      const bin = orderBase2(size);
      const nodeSize = tree.hi[id]! - pfn + 1;
      if (bin !== orderBase2(nodeSize)) {
        throw new IommuError(
          "EINVAL",
          `free of ${size} granules at pfn ${pfn}, but the range there has ${nodeSize} (another size class)`,
        );
      }
      runDueWork();
      if (bin >= BINS) {
        inner.removeNode(id);
        return;
      }
      tree.flags[id] = flags | NODE_CACHED;
      cachedRanges++;
      inserts[bin]!++;
      rcacheInsert(cpu * BINS + bin, bin, id);
    },
    freeCpuCachedIovas(cpu) {
      inner.checkAlive();
      checkCpu(cpu);
      runDueWork();
      freeCpu(cpu);
    },
    freeGlobalCachedIovas() {
      inner.checkAlive();
      runDueWork();
      freeGlobal();
    },
    runDueWork() {
      inner.checkAlive();
      runDueWork();
    },
    stats() {
      return {
        hits: [...hits],
        misses: [...misses],
        inserts: [...inserts],
        treeAllocs,
        failures,
        flushes,
        depotSizes: depot.map((d) => d.length),
        depotTrims,
        cachedRanges,
      };
    },
    snapshot() {
      inner.checkAlive();
      const perCpu = Array.from({ length: cpus }, (_, cpu) =>
        Array.from({ length: BINS }, (_, bin) => ({
          loaded: pfnsOf(loaded[cpu * BINS + bin]!),
          prev: pfnsOf(prev[cpu * BINS + bin]!),
        })),
      );
      return { cpus: perCpu, depot: depot.map((bucket) => bucket.map(pfnsOf)) };
    },
  };
}
