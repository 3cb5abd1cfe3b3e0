/**
 * gem5-style walk caches: per stage and per level, set-associative caches of non-leaf (table)
 * descriptors, keyed by tags, stage, level and the input-address bits above that level's span, and
 * holding the next-level table's address (hw-facts 4.4: gem5 `WalkCache`, S1 L0..L3 4/28/348/4,
 * S2 4/28/92/4 entries, 4-way, round robin). A translation unit consults them to skip the upper
 * levels of a walk after an IOTLB miss.
 *
 * Each level is an {@link Iotlb} whose "page" is the span one table descriptor of that level maps
 * (2^shift bytes) and whose "output" is the next table, so indexing, replacement, tag matching and
 * statistics are the IOTLB's.
 */
import { HwError } from "../errors.js";
import { Iotlb } from "./iotlb.js";
import type {
  IotlbEntrySnapshot,
  IotlbHit,
  IotlbReplacement,
  IotlbStats,
  IotlbTagFilter,
  IotlbTags,
} from "./types.js";
import { createIotlbHit } from "./types.js";

/** Stage of a walk: 1 or 2. */
export type WalkStage = 1 | 2;

/** One cached level. */
export interface WalkCacheLevelConfig {
  /** Level number of the table descriptors cached, in the format's numbering. */
  level: number;
  /** log2 of the input span one descriptor of this level maps (LPAE 4K: L0 39, L1 30, L2 21, L3 12). */
  shift: number;
  /** Entries. */
  entries: number;
  /** Ways. @default min(4, entries) */
  ways?: number;
}

/** Options of {@link createWalkCache}. */
export interface WalkCacheOptions {
  /** Stage-1 levels. @default gem5's S1 sizes for a 4 KiB granule ({@link gem5WalkCacheLevels}) */
  stage1?: readonly WalkCacheLevelConfig[];
  /** Stage-2 levels. @default gem5's S2 sizes for a 4 KiB granule */
  stage2?: readonly WalkCacheLevelConfig[];
  /** Replacement of every level. @default "round-robin" (gem5) */
  replacement?: Exclude<IotlbReplacement, "qemu">;
  /** Seed for `"random"`. @default 1 */
  seed?: number;
}

const GEM5_SIZES: Record<WalkStage, readonly number[]> = { 1: [4, 28, 348, 4], 2: [4, 28, 92, 4] };

/**
 * gem5's walk-cache geometry for an ARM LPAE granule: levels 0..3 with 4/28/348/4 (stage 1) or
 * 4/28/92/4 (stage 2) entries, 4-way; level L spans 2^(g + (g - 3) x (3 - L)) for a 2^g granule.
 * Levels whose span exceeds 2^52 (level 0 with 64 KiB) are left out.
 */
export function gem5WalkCacheLevels(stage: WalkStage, granule = 4096): WalkCacheLevelConfig[] {
  const g = Math.log2(granule);
  if (g !== 12 && g !== 14 && g !== 16)
    throw new HwError("EINVAL", `granule ${granule} is not 4K, 16K or 64K`);
  const out: WalkCacheLevelConfig[] = [];
  GEM5_SIZES[stage].forEach((entries, level) => {
    const shift = g + (g - 3) * (3 - level);
    if (shift <= 52) out.push({ level, shift, entries, ways: 4 });
  });
  return out;
}

/** Counters of the walk cache: per stage and level, and in total. */
export interface WalkCacheStats {
  total: IotlbStats;
  levels: { stage: WalkStage; level: number; stats: IotlbStats }[];
}

/** Range invalidation of the walk cache. */
export interface WalkCacheRangeInvalidation {
  start: bigint | number;
  /** @default 1 */
  size?: bigint | number;
  /** Entries selected by tag (`stage` is not used: choose caches with `stage`). */
  filter?: Omit<IotlbTagFilter, "stage">;
  /** Only leaf entries changed: the walk cache keeps everything (SMMUv3 LEAF=1, VT-d IH=1). */
  leafOnly?: boolean;
  /** Only this stage's caches. @default both */
  stage?: WalkStage;
}

interface LevelCache {
  stage: WalkStage;
  level: number;
  shift: number;
  cache: Iotlb;
}

function sumStats(all: IotlbStats[]): IotlbStats {
  const t: IotlbStats = {
    lookups: 0,
    hits: 0,
    misses: 0,
    insertions: 0,
    evictions: 0,
    overflowFlushes: 0,
    invalidations: { all: 0, tag: 0, range: 0 },
    dropped: { all: 0, tag: 0, range: 0 },
  };
  for (const s of all) {
    t.lookups += s.lookups;
    t.hits += s.hits;
    t.misses += s.misses;
    t.insertions += s.insertions;
    t.evictions += s.evictions;
    for (const k of ["all", "tag", "range"] as const) {
      t.dropped[k] += s.dropped[k];
    }
  }
  return t;
}

/** Walk caches for both stages (see the module documentation). */
export class WalkCache {
  readonly #levels: LevelCache[] = [];
  // [stage][level] -> cache, for the lookup path.
  readonly #byStage: (LevelCache | undefined)[][] = [[], [], []];
  readonly #hit: IotlbHit = createIotlbHit();
  // Invalidation requests, counted once per request (each level cache counts its own too).
  readonly #requests = { all: 0, tag: 0, range: 0 };

  constructor(options: WalkCacheOptions = {}) {
    const replacement = options.replacement ?? "round-robin";
    const configs: [WalkStage, readonly WalkCacheLevelConfig[]][] = [
      [1, options.stage1 ?? gem5WalkCacheLevels(1)],
      [2, options.stage2 ?? gem5WalkCacheLevels(2)],
    ];
    for (const [stage, levels] of configs) {
      for (const c of levels) {
        if (!Number.isInteger(c.shift) || c.shift < 12 || c.shift > 52)
          throw new HwError("EINVAL", `walk-cache level ${c.level} shift ${c.shift} must be 12..52`);
        if (this.#byStage[stage]![c.level])
          throw new HwError("EINVAL", `walk-cache stage ${stage} level ${c.level} configured twice`);
        const cache = new Iotlb({
          entries: c.entries,
          ways: c.ways ?? Math.min(4, c.entries),
          replacement,
          seed: options.seed ?? 1,
          checkOutputAlignment: false,
          name: `S${stage}L${c.level} walk cache`,
        });
        const lc = { stage, level: c.level, shift: c.shift, cache };
        this.#levels.push(lc);
        this.#byStage[stage]![c.level] = lc;
      }
    }
  }

  /** The configured levels. */
  get geometry(): {
    stage: WalkStage;
    level: number;
    shift: number;
    entries: number;
    ways: number;
    sets: number;
  }[] {
    return this.#levels.map((l) => ({
      stage: l.stage,
      level: l.level,
      shift: l.shift,
      entries: l.cache.entries,
      ways: l.cache.ways,
      sets: l.cache.sets,
    }));
  }

  /**
   * The next-level table address cached for the table descriptor at `level` of `stage` that maps
   * `iova` with `tags`, or -1 (also when the level is not cached). No allocation.
   */
  lookup(tags: IotlbTags, stage: WalkStage, level: number, iova: number): number {
    const lc = this.#byStage[stage]?.[level];
    if (lc === undefined) return -1;
    return lc.cache.lookup(iova, tags, this.#hit) >= 0 ? this.#hit.outputBase : -1;
  }

  /** Like {@link lookup}, but leaves statistics and replacement state untouched (for probes). */
  peek(tags: IotlbTags, stage: WalkStage, level: number, iova: number): number {
    const lc = this.#byStage[stage]?.[level];
    if (lc === undefined) return -1;
    return lc.cache.peek(iova, tags, this.#hit) >= 0 ? this.#hit.outputBase : -1;
  }

  /** Caches the table descriptor at `level` of `stage` that maps `iova`: its next table is `nextTable`. No-op for an uncached level. */
  insert(tags: IotlbTags, stage: WalkStage, level: number, iova: number, nextTable: number): void {
    const lc = this.#byStage[stage]?.[level];
    if (lc === undefined) return;
    const span = 2 ** lc.shift;
    const base = Math.floor(iova / span) * span;
    lc.cache.insert(base, span, nextTable, 0, level, tags);
  }

  /** Drops everything. Returns entries dropped. */
  invalidateAll(): number {
    this.#requests.all++;
    return this.#levels.reduce((n, l) => n + l.cache.invalidateAll(), 0);
  }

  /** Drops every entry matching the tags (TLBI_NH_ASID, TLBI_S12_VMALL, VT-d DSI, ...). */
  invalidateTags(filter: Omit<IotlbTagFilter, "stage">, stage?: WalkStage): number {
    this.#requests.tag++;
    return this.#levels
      .filter((l) => stage === undefined || l.stage === stage)
      .reduce((n, l) => n + l.cache.invalidateTags(filter), 0);
  }

  /**
   * A range invalidation. Leaf-only: nothing is dropped (the tables above the leaves did not
   * change). Otherwise every cached descriptor whose span overlaps the range is dropped.
   */
  invalidateRange(inv: WalkCacheRangeInvalidation): number {
    this.#requests.range++;
    if (inv.leafOnly) return 0;
    const base = { start: inv.start, size: inv.size ?? 1, ...(inv.filter ? { filter: inv.filter } : {}) };
    return this.#levels
      .filter((l) => inv.stage === undefined || l.stage === inv.stage)
      .reduce((n, l) => n + l.cache.invalidateRange(base), 0);
  }

  /** Counters per level and in total (invalidations in the total count requests, not levels). */
  stats(): WalkCacheStats {
    const levels = this.#levels.map((l) => ({ stage: l.stage, level: l.level, stats: l.cache.stats() }));
    const total = sumStats(levels.map((l) => l.stats));
    total.invalidations = { ...this.#requests };
    return { total, levels };
  }

  /** Zeroes every counter. */
  resetStats(): void {
    for (const l of this.#levels) l.cache.resetStats();
    this.#requests.all = this.#requests.tag = this.#requests.range = 0;
  }

  /** Every valid entry, with its stage and level; `output` is the next table's address. */
  snapshot(): (IotlbEntrySnapshot & { walkStage: WalkStage })[] {
    return this.#levels.flatMap((l) => l.cache.snapshot().map((e) => ({ ...e, walkStage: l.stage })));
  }

  /** One line per cached level. */
  describe(): string {
    return this.#levels.map((l) => l.cache.describe()).join("\n");
  }
}

/** Creates walk caches (defaults: gem5's geometry for a 4 KiB granule). */
export function createWalkCache(options?: WalkCacheOptions): WalkCache {
  return new WalkCache(options);
}
