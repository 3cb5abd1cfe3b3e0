import { type AddressLike, hex, joinU64, toNumber } from "../address.js";
import { HwError } from "../errors.js";
import { createIotlb, Iotlb, type IotlbOptions } from "../iotlb/iotlb.js";
import {
  createIotlbHit,
  createIotlbTags,
  type IotlbRangeInvalidation,
  type IotlbStage,
  type IotlbTagFilter,
  type IotlbTags,
} from "../iotlb/types.js";
import { WalkCache, type WalkCacheOptions, type WalkStage } from "../iotlb/walk-cache.js";
import type { PhysMemory } from "../memory/phys-memory.js";
import { getFormat } from "../page-table/registry.js";
import {
  createWalkOut,
  type HwWalker,
  type TableFetchTranslator,
  WALK_FAULT_NAMES,
  type WalkOut,
  type WalkTrace,
} from "../page-table/types.js";
import { IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import {
  createTranslateOut,
  DmaAccess,
  type FaultSink,
  type StageConfig,
  type StreamConfig,
  TRANSLATION_FAULT_CODES,
  type TranslateOut,
  type TranslationFault,
  type TranslationFaultKind,
} from "./types.js";
import { walkCacheDepthLevels } from "./walk-cache-levels.js";

/** Options of {@link createTranslationUnit}. */
export interface TranslationUnitOptions {
  /** Physical memory the walkers read and DMA reaches. */
  memory: PhysMemory;
  /**
   * The IOTLB: an instance, options for a new one, or `false` for none (every translation walks).
   * @default a 256-entry, 4-way LRU IOTLB
   */
  iotlb?: Iotlb | IotlbOptions | false;
  /**
   * Walk caches of table descriptors (gem5-style, per stage and level) that an IOTLB miss consults
   * before walking: an instance, options for a new one, or `false` for none. A level serves a walk
   * depth only where its level number and span match the format's (see `walkCacheLevelsFor`); the
   * default levels are gem5's, for ARM LPAE with a 4 KiB granule. @default false
   */
  walkCache?: WalkCache | WalkCacheOptions | false;
  /** Where faults go (the backend's event queue). @default an internal log only */
  faults?: FaultSink;
  /** Name for messages. @default "translation unit" */
  name?: string;
}

/** Counters of a translation unit. */
export interface TranslationStats {
  translations: number;
  iotlbHits: number;
  walks: number;
  bypassed: number;
  faults: number;
  /** Faults by kind. */
  faultsByKind: Record<string, number>;
  /**
   * Stage walks (stage 1, stage 2, and nested table fetches through stage 2) that started below
   * their top table after a walk-cache hit. Always 0 without a walk cache.
   */
  walkCacheHits: number;
}

/** Result of a device DMA through the translation unit. */
export interface DmaResult {
  /** True when every byte was translated and transferred. */
  readonly ok: boolean;
  /** Bytes read (reads that succeeded). */
  readonly data?: Uint8Array;
  /** The fault that stopped the transfer (memory untouched). */
  readonly fault?: TranslationFault;
}

/** Answer of {@link TranslationUnit.probeStale}: what a cached entry would do now. */
export interface StaleProbe {
  /** The IOTLB holds an entry that would answer this address. */
  readonly cached: boolean;
  /** Output address that cached entry gives. */
  readonly cachedOutput?: bigint;
  /** A walk of the page tables (as they are now) succeeds. */
  readonly mapped: boolean;
  /** Output address of that walk. */
  readonly walkOutput?: bigint;
  /**
   * With walk caches: a walk that starts from the cached table descriptors (what the hardware does
   * on an IOTLB miss) used at least one of them.
   */
  readonly walkCached?: boolean;
  /** Output address of that walk, when it succeeds. */
  readonly walkCacheOutput?: bigint;
  /**
   * The IOTLB entry, or the walk through the cached table descriptors, answers although the tables
   * no longer map the address there: a device could still reach memory the driver believes
   * unmapped (the window lazy invalidation opens; a table freed with only a leaf invalidation).
   */
  readonly stale: boolean;
}

interface ResolvedStage {
  readonly config: StageConfig;
  readonly walker: HwWalker;
  readonly root: number;
  readonly asid: number;
  /** Per table depth, the walk-cache level caching its descriptors as stage 1 / stage 2, or -1. */
  readonly wc1: Int32Array;
  readonly wc2: Int32Array;
}

const NO_LEVELS = new Int32Array(0);

/**
 * One stage walk's walk-cache fill: its fetch translator sees every table the walk reads (see
 * {@link TableFetchTranslator}) and caches the descriptor that pointed to it, as gem5 does while the
 * walk proceeds; with `inner` (nested stage 1) only once stage 2 has translated the table's IPA.
 */
class WalkFill {
  cache: WalkCache;
  stage: WalkStage = 1;
  tags: IotlbTags = createIotlbTags();
  levels: Int32Array = NO_LEVELS;
  iova = 0;
  start = 0;
  depth = 0;
  inner: TableFetchTranslator | undefined = undefined;

  constructor(cache: WalkCache) {
    this.cache = cache;
  }

  readonly fetch = (table: number, level: number): number => {
    const d = this.depth++;
    const pa = this.inner === undefined ? table : this.inner(table, level);
    if (pa < 0) return -1;
    // The first table of the walk is the root or the walk cache's own answer: nothing new.
    if (d > this.start) {
      const cached = this.levels[d - 1]!;
      if (cached >= 0) this.cache.insert(this.tags, this.stage, cached, this.iova, table);
    }
    return pa;
  };
}

/** The walk-cache stage(s) an IOTLB tag filter reaches (undefined: both). */
function walkStageOf(filter: IotlbTagFilter): WalkStage | undefined {
  if (filter.stage === 2) return 2;
  if (filter.stage === 1 || filter.stage === 3) return 1;
  // Stage-2 walk-cache entries carry no ASID or PASID (tags 0): a filter naming one means stage 1.
  return filter.asid !== undefined || filter.pasid !== undefined ? 1 : undefined;
}

/** The filter without its stage: the walk cache selects by its own stage argument. */
function walkFilterOf(filter: IotlbTagFilter): Omit<IotlbTagFilter, "stage"> {
  const { stage: _stage, ...rest } = filter;
  return rest;
}

const NO_PASID = -1;
const FAULT_CODE: Record<string, number> = Object.fromEntries(TRANSLATION_FAULT_CODES.map((k, i) => [k, i]));

/**
 * A hardware IOMMU's translation datapath, architecture-neutral: a per-stream configuration table
 * (abort, bypass, stage 1, stage 2, nested), an IOTLB, walkers that read only physical memory, the
 * permission check, and fault reporting that never throws. Backends decode their own structures
 * (STEs, context entries, device table entries, context banks) into {@link StreamConfig}s and turn
 * {@link TranslationFault}s into their architecture's records.
 */
export class TranslationUnit {
  readonly name: string;
  readonly memory: PhysMemory;
  /** The IOTLB, or null when the unit has none. */
  readonly iotlb: Iotlb | null;
  /** The walk caches, or null when the unit has none (the default). */
  readonly walkCache: WalkCache | null;
  /** The most recent faults (up to 64), newest last, for inspection. */
  readonly recentFaults: TranslationFault[] = [];
  readonly #faults: FaultSink | undefined;
  readonly #streams = new Map<number, StreamConfig>();
  readonly #stages = new WeakMap<StageConfig, ResolvedStage>();
  readonly #walkers = new Map<string, HwWalker>();
  #lastStage: StageConfig | undefined;
  #lastResolved: ResolvedStage | undefined;
  // The stream translated last and its configuration: DMA bursts come from one stream at a time,
  // and this skips the Map lookup. Cleared by setStream.
  #lastStream = -1;
  #lastConfig: StreamConfig | undefined;
  readonly #w1: WalkOut = createWalkOut();
  readonly #w2: WalkOut = createWalkOut();
  readonly #wf: WalkOut = createWalkOut();
  readonly #tags = createIotlbTags();
  readonly #hit = createIotlbHit();
  readonly #out = createTranslateOut();
  #stats: TranslationStats = {
    translations: 0,
    iotlbHits: 0,
    walks: 0,
    bypassed: 0,
    faults: 0,
    faultsByKind: {},
    walkCacheHits: 0,
  };
  // Walk-cache fills of a stage-1 and a stage-2 walk (a stage-1 walk's fetches run stage-2 walks),
  // and the stage-2 tags: VMID only, as stage-2 tables are shared by every ASID and PASID.
  readonly #fill1: WalkFill | null;
  readonly #fill2: WalkFill | null;
  readonly #tags2 = createIotlbTags({ stage: 2 });
  /** The table {@link #cachedStart} found. */
  #startTable = 0;
  // Nested walks: the stage 2 that stage-1 table fetches go through, and what a failed fetch saw.
  #fetchStage: ResolvedStage | null = null;
  #fetchFaulted = false;
  #fetchFaultIpa = 0;
  readonly #fetch = (tableAddress: number): number => {
    const s2 = this.#fetchStage!;
    s2.walker.translate(s2.root, tableAddress, this.#wf);
    if (this.#wf.fault !== 0 || !(this.#wf.perm & IOMMU_READ)) {
      this.#fetchFaulted = true;
      this.#fetchFaultIpa = tableAddress;
      return -1;
    }
    return this.#wf.outputAddress;
  };
  // The same through the walk caches (translate's misses when the unit has them).
  readonly #fetchCached = (tableAddress: number): number => {
    this.#walk(this.#fetchStage!, 2, this.#tags2, tableAddress, this.#wf, undefined, this.#fill2!);
    if (this.#wf.fault !== 0 || !(this.#wf.perm & IOMMU_READ)) {
      this.#fetchFaulted = true;
      this.#fetchFaultIpa = tableAddress;
      return -1;
    }
    return this.#wf.outputAddress;
  };

  constructor(options: TranslationUnitOptions) {
    this.name = options.name ?? "translation unit";
    this.memory = options.memory;
    this.#faults = options.faults;
    const iotlb = options.iotlb;
    this.iotlb =
      iotlb === false
        ? null
        : iotlb instanceof Iotlb
          ? iotlb
          : createIotlb({ entries: 256, ways: 4, ...iotlb });
    const wc = options.walkCache ?? false;
    this.walkCache = wc === false ? null : wc instanceof WalkCache ? wc : new WalkCache(wc);
    this.#fill1 = this.walkCache && new WalkFill(this.walkCache);
    this.#fill2 = this.walkCache && new WalkFill(this.walkCache);
  }

  /** Installs (or with `undefined` removes) the configuration of `stream`, as a config-cache fill. */
  setStream(stream: number, config: StreamConfig | undefined): void {
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffff_ffff) {
      throw new HwError("EINVAL", `${this.name}: stream id ${stream} is not a 32-bit unsigned integer`);
    }
    this.#lastStream = -1;
    this.#lastConfig = undefined;
    if (config === undefined) {
      this.#streams.delete(stream);
      return;
    }
    if (config.mode === "translate") {
      if (!config.stage1 && !config.stage2 && !config.pasids) {
        throw new HwError(
          "EINVAL",
          `${this.name}: stream ${stream} translates with neither stage 1 nor stage 2`,
        );
      }
      // Resolve now so a bad config is refused here, not on the first DMA.
      if (config.stage1) this.#resolve(config.stage1, config.asid ?? 0);
      if (config.stage2) this.#resolve(config.stage2, 0);
      for (const [, s] of config.pasids ?? []) this.#resolve(s, s.asid ?? config.asid ?? 0);
    }
    this.#streams.set(stream, config);
  }

  /** The configuration of `stream`, if any. */
  getStream(stream: number): StreamConfig | undefined {
    return this.#streams.get(stream);
  }

  /** Counters since creation or the last {@link resetStats}. */
  stats(): TranslationStats {
    return { ...this.#stats, faultsByKind: { ...this.#stats.faultsByKind } };
  }

  /** Zeroes the counters (the IOTLB and the walk caches keep their own). */
  resetStats(): void {
    this.#stats = {
      translations: 0,
      iotlbHits: 0,
      walks: 0,
      bypassed: 0,
      faults: 0,
      faultsByKind: {},
      walkCacheHits: 0,
    };
  }

  /**
   * Drops every IOTLB and walk-cache entry (SMMUv3 TLBI_NSNH_ALL, VT-d global invalidation, AMD
   * INVALIDATE_IOMMU_ALL). Returns the IOTLB entries dropped.
   */
  invalidateAll(): number {
    const dropped = this.iotlb === null ? 0 : this.iotlb.invalidateAll();
    this.walkCache?.invalidateAll();
    return dropped;
  }

  /**
   * Drops the IOTLB entries `filter` selects ({@link Iotlb.invalidateTags}) and the walk-cache
   * entries of the same tags: `stage` 2 selects stage-2 walks, 1 and 3 stage-1 walks (a nested
   * stage 1 is a stage-1 walk), none both stages unless the filter names an ASID or PASID, which
   * only stage-1 walks carry. Returns the IOTLB entries dropped.
   */
  invalidateTags(filter: IotlbTagFilter): number {
    const dropped = this.iotlb === null ? 0 : this.iotlb.invalidateTags(filter);
    const wc = this.walkCache;
    if (wc !== null) wc.invalidateTags(walkFilterOf(filter), walkStageOf(filter));
    return dropped;
  }

  /**
   * A range invalidation ({@link Iotlb.invalidateRange}) of the IOTLB and, unless `leafOnly`, of
   * the walk-cache entries whose span overlaps the range (stages chosen as in
   * {@link invalidateTags}): SMMUv3 LEAF, VT-d IH, AMD PDE = 0 and SMMU TLBIVAL keep table
   * descriptors cached. Returns the IOTLB entries dropped.
   */
  invalidateRange(inv: IotlbRangeInvalidation): number {
    const dropped = this.iotlb === null ? 0 : this.iotlb.invalidateRange(inv);
    const wc = this.walkCache;
    if (wc !== null) {
      const filter = inv.filter ?? {};
      const stage = walkStageOf(filter);
      wc.invalidateRange({
        start: inv.start,
        size: inv.size ?? 1,
        filter: walkFilterOf(filter),
        leafOnly: inv.leafOnly ?? false,
        ...(stage !== undefined ? { stage } : {}),
      });
    }
    return dropped;
  }

  #resolve(config: StageConfig, asid: number): ResolvedStage {
    // Per-translation path: a one-entry memo in front of the WeakMap (whose lookup hashes).
    if (config === this.#lastStage) return this.#lastResolved!;
    let r = this.#stages.get(config);
    if (r) {
      this.#lastStage = config;
      this.#lastResolved = r;
      return r;
    }
    const key = `${config.format}/${config.ias}/${config.oas}/${config.granule ?? 4096}/${config.s2Concat ?? "mainline"}/${JSON.stringify(config.quirks ?? {})}`;
    let walker = this.#walkers.get(key);
    if (!walker) {
      const spec = {
        memory: this.memory,
        ias: config.ias,
        oas: config.oas,
        granule: config.granule ?? 4096,
        ...(config.quirks ? { quirks: config.quirks } : {}),
        ...(config.s2Concat ? { s2Concat: config.s2Concat } : {}),
      };
      walker = getFormat(config.format).createWalker(spec);
      this.#walkers.set(key, walker);
    }
    const wcGeometry = this.walkCache?.geometry;
    r = {
      config,
      walker,
      root: toNumber(config.root, "table root"),
      asid,
      wc1: wcGeometry ? walkCacheDepthLevels(walker, 1, wcGeometry) : NO_LEVELS,
      wc2: wcGeometry ? walkCacheDepthLevels(walker, 2, wcGeometry) : NO_LEVELS,
    };
    this.#stages.set(config, r);
    this.#lastStage = config;
    this.#lastResolved = r;
    return r;
  }

  /**
   * Translates one access of `stream` at `iova` (with `pasid`, or -1 for none): IOTLB lookup, else a
   * walk (through stage 2 for nested stage-1 table fetches), the permission check against `access`
   * ({@link DmaAccess} flags), and an IOTLB fill. On a fault the sink receives a record and `out.fault`
   * is set; nothing throws. Returns true on success. Allocates nothing on the success path.
   */
  translate(
    stream: number,
    iova: number,
    access: number,
    out: TranslateOut = this.#out,
    pasid = NO_PASID,
  ): boolean {
    this.#stats.translations++;
    out.hit = false;
    let config = this.#lastConfig;
    if (stream !== this.#lastStream || config === undefined) {
      config = this.#streams.get(stream);
      this.#lastStream = stream;
      this.#lastConfig = config;
    }
    if (config === undefined)
      return this.#fail(out, "bad-stream", stream, pasid, iova, access, 0, "cd", -1, 0, 0n);
    if (config.mode === "bypass") {
      this.#stats.bypassed++;
      out.fault = 0;
      out.outputAddress = iova;
      out.pageSize = 4096;
      out.perm = IOMMU_READ | IOMMU_WRITE;
      return true;
    }
    if (config.mode === "abort") {
      if (config.record === false) {
        out.fault = FAULT_CODE["stream-disabled"]!;
        this.#stats.faults++;
        return false;
      }
      return this.#fail(out, "stream-disabled", stream, pasid, iova, access, 0, "cd", -1, 0, 0n);
    }
    let s1Config = config.stage1;
    let asid = config.asid ?? 0;
    if (pasid !== NO_PASID) {
      const p = config.pasids?.get(pasid);
      if (!p) return this.#fail(out, "bad-substream", stream, pasid, iova, access, 0, "cd", -1, 0, 0n);
      s1Config = p;
      asid = p.asid ?? asid;
    } else if (config.pasids && !config.stage1 && config.noPasid !== "stage1") {
      if (config.noPasid === "bypass" && !config.stage2) {
        out.fault = 0;
        out.outputAddress = iova;
        out.pageSize = 4096;
        out.perm = IOMMU_READ | IOMMU_WRITE;
        return true;
      }
      if (!config.stage2)
        return this.#fail(out, "bad-substream", stream, pasid, iova, access, 0, "cd", -1, 0, 0n);
    }
    const s1 = s1Config ? this.#resolve(s1Config, asid) : null;
    const s2 = config.stage2 ? this.#resolve(config.stage2, 0) : null;
    const tags = this.#tags;
    tags.asid = s1 ? asid : 0;
    tags.vmid = config.vmid ?? 0;
    tags.pasid = pasid === NO_PASID ? 0 : pasid;
    tags.stream = 0;
    tags.stage = (s1 && s2 ? 3 : s2 ? 2 : 1) as IotlbStage;

    const iotlb = this.iotlb;
    if (iotlb !== null && iotlb.lookup(iova, tags, this.#hit) >= 0) {
      this.#stats.iotlbHits++;
      out.hit = true;
      const hit = this.#hit;
      if (!permits(hit.perm, access)) {
        return this.#fail(
          out,
          "permission",
          stream,
          pasid,
          iova,
          access,
          s2 && !s1 ? 2 : 1,
          "in",
          hit.level,
          0,
          0n,
        );
      }
      out.fault = 0;
      out.outputAddress = hit.outputAddress;
      out.pageSize = hit.pageSize;
      out.perm = hit.perm;
      return true;
    }
    this.#stats.walks++;

    let output = iova;
    let size = Number.MAX_VALUE;
    let perm = IOMMU_READ | IOMMU_WRITE;
    let level = 0;
    const cached = this.#fill1 !== null;
    if (cached) this.#tags2.vmid = tags.vmid;
    if (s1) {
      const w = this.#w1;
      if (s2) this.#fetchStage = s2;
      if (!cached) s1.walker.translate(s1.root, iova, w, s2 ? this.#fetch : undefined);
      else this.#walk(s1, 1, tags, iova, w, s2 ? this.#fetchCached : undefined, this.#fill1!);
      this.#fetchStage = null;
      if (w.fault !== 0) return this.#stage1Fault(out, w, stream, pasid, iova, access);
      output = w.outputAddress;
      size = w.pageSize;
      perm = w.perm;
      level = w.level;
      if (!permits(w.perm, access))
        return this.#failAt(out, "permission", stream, pasid, iova, access, 1, "in", w, 0);
    }
    if (s2) {
      const w = this.#w2;
      const ipa = output;
      if (!cached) s2.walker.translate(s2.root, ipa, w);
      else this.#walk(s2, 2, this.#tags2, ipa, w, undefined, this.#fill2!);
      if (w.fault !== 0) {
        const kind = WALK_FAULT_NAMES[w.fault] ?? "translation";
        return this.#failAt(out, kind, stream, pasid, iova, access, 2, "in", w, ipa);
      }
      if (!permits(w.perm, access)) {
        return this.#failAt(out, "permission", stream, pasid, iova, access, 2, "in", w, ipa);
      }
      output = w.outputAddress;
      if (s1) {
        // Nested: the combined permissions are what both stages allow.
        perm = (perm & w.perm & (IOMMU_READ | IOMMU_WRITE)) | ((perm | w.perm) & ~(IOMMU_READ | IOMMU_WRITE));
        if (w.pageSize < size) {
          size = w.pageSize;
          level = w.level;
        }
      } else {
        perm = w.perm;
        size = w.pageSize;
        level = w.level;
      }
    }
    if (iotlb !== null) iotlb.insert(iova, size, output, perm, level, tags);
    out.fault = 0;
    out.outputAddress = output;
    out.pageSize = size;
    out.perm = perm;
    return true;
  }

  /**
   * The depth a stage walk of `iova` starts at: one below the deepest table level the walk cache
   * holds a descriptor for (its table in {@link #startTable}), or 0 (the root). `peek` leaves the
   * cache's statistics and replacement state as they were.
   */
  #cachedStart(r: ResolvedStage, stage: WalkStage, tags: IotlbTags, iova: number, peek: boolean): number {
    const wc = this.walkCache!;
    const levels = stage === 1 ? r.wc1 : r.wc2;
    for (let d = levels.length - 1; d >= 0; d--) {
      const level = levels[d]!;
      if (level < 0) continue;
      const next = peek ? wc.peek(tags, stage, level, iova) : wc.lookup(tags, stage, level, iova);
      if (next >= 0) {
        this.#startTable = next;
        return d + 1;
      }
    }
    return 0;
  }

  /**
   * One stage walk through the walk cache: probes it from the deepest table level up for a table
   * that maps `iova`, walks from the depth below the hit (or from the root), and caches every table
   * descriptor the walk follows. `inner` translates table addresses (nested stage 1 over stage 2).
   */
  #walk(
    r: ResolvedStage,
    stage: WalkStage,
    tags: IotlbTags,
    iova: number,
    out: WalkOut,
    inner: TableFetchTranslator | undefined,
    fill: WalkFill,
  ): void {
    const depth = this.#cachedStart(r, stage, tags, iova, false);
    const table = depth > 0 ? this.#startTable : r.root;
    if (depth > 0) this.#stats.walkCacheHits++;
    fill.stage = stage;
    fill.tags = tags;
    fill.levels = stage === 1 ? r.wc1 : r.wc2;
    fill.iova = iova;
    fill.start = depth;
    fill.depth = depth;
    fill.inner = inner;
    r.walker.translateFrom(depth, table, iova, out, fill.fetch);
    fill.inner = undefined;
  }

  // A stage-1 walk failed: either at stage 1 itself, or (nested) because stage 2 could not translate
  // the address of a stage-1 table (SMMUv3 reports S2 = 1, CLASS = TT, IPA = the table address).
  #stage1Fault(
    out: TranslateOut,
    w: WalkOut,
    stream: number,
    pasid: number,
    iova: number,
    access: number,
  ): boolean {
    if (this.#fetchFaulted) {
      this.#fetchFaulted = false;
      const f = this.#wf;
      const kind = f.fault !== 0 ? (WALK_FAULT_NAMES[f.fault] ?? "translation") : "permission";
      return this.#failAt(out, kind, stream, pasid, iova, access, 2, "tt", f, this.#fetchFaultIpa);
    }
    const kind = WALK_FAULT_NAMES[w.fault] ?? "translation";
    return this.#failAt(out, kind, stream, pasid, iova, access, 1, "in", w, 0);
  }

  // A fault found while reading descriptor `w` (its level and raw value go into the record).
  #failAt(
    out: TranslateOut,
    kind: TranslationFaultKind,
    stream: number,
    pasid: number,
    iova: number,
    access: number,
    stage: 0 | 1 | 2,
    cls: "in" | "tt" | "cd",
    w: WalkOut,
    ipa: number,
  ): boolean {
    return this.#fail(
      out,
      kind,
      stream,
      pasid,
      iova,
      access,
      stage,
      cls,
      w.level,
      ipa,
      joinU64(w.descriptorLo, w.descriptorHi),
    );
  }

  #fail(
    out: TranslateOut,
    kind: TranslationFaultKind,
    stream: number,
    pasid: number,
    iova: number,
    access: number,
    stage: 0 | 1 | 2,
    cls: "in" | "tt" | "cd",
    level: number,
    ipa: number,
    descriptor: bigint,
  ): boolean {
    out.fault = FAULT_CODE[kind]!;
    this.#stats.faults++;
    this.#stats.faultsByKind[kind] = (this.#stats.faultsByKind[kind] ?? 0) + 1;
    const fault: TranslationFault = {
      kind,
      stream,
      pasid,
      iova,
      access,
      stage,
      class: cls,
      level,
      ipa,
      descriptor,
    };
    this.recentFaults.push(fault);
    if (this.recentFaults.length > 64) this.recentFaults.shift();
    this.#faults?.record(fault);
    return false;
  }

  /**
   * A device's DMA read of `length` bytes at `iova` (may cross pages): every page is translated
   * first; on the first fault nothing is read and exactly one fault is recorded.
   */
  dmaRead(
    stream: number,
    iova: AddressLike,
    length: number,
    options: { pasid?: number; privileged?: boolean } = {},
  ): DmaResult {
    const pieces = this.#translateRange(
      stream,
      iova,
      length,
      DmaAccess.READ | (options.privileged ? DmaAccess.PRIV : 0),
      options.pasid,
    );
    if (!Array.isArray(pieces)) return { ok: false, fault: pieces };
    const data = new Uint8Array(length);
    let done = 0;
    for (let i = 0; i < pieces.length; i += 2) {
      const n = pieces[i + 1]!;
      data.set(this.memory.read(pieces[i]!, n), done);
      done += n;
    }
    return { ok: true, data };
  }

  /**
   * A device's DMA write of `data` at `iova` (may cross pages): every page is translated first; on
   * the first fault memory is left untouched and exactly one fault is recorded.
   */
  dmaWrite(
    stream: number,
    iova: AddressLike,
    data: Uint8Array,
    options: { pasid?: number; privileged?: boolean } = {},
  ): DmaResult {
    const pieces = this.#translateRange(
      stream,
      iova,
      data.length,
      DmaAccess.WRITE | (options.privileged ? DmaAccess.PRIV : 0),
      options.pasid,
    );
    if (!Array.isArray(pieces)) return { ok: false, fault: pieces };
    let done = 0;
    for (let i = 0; i < pieces.length; i += 2) {
      const n = pieces[i + 1]!;
      this.memory.write(pieces[i]!, data.subarray(done, done + n));
      done += n;
    }
    return { ok: true };
  }

  // Translates [iova, iova + length) page by page into (pa, bytes) pairs, or returns the fault.
  #translateRange(
    stream: number,
    iovaIn: AddressLike,
    length: number,
    access: number,
    pasid = NO_PASID,
  ): number[] | TranslationFault {
    const iova = toNumber(iovaIn, "DMA address");
    if (!Number.isSafeInteger(length) || length <= 0)
      throw new HwError("EINVAL", `DMA length ${length} must be a positive integer`);
    const pieces: number[] = [];
    const out = createTranslateOut();
    let addr = iova;
    const end = iova + length;
    while (addr < end) {
      if (!this.translate(stream, addr, access, out, pasid))
        return this.recentFaults[this.recentFaults.length - 1]!;
      const pageEnd = addr - (addr % out.pageSize) + out.pageSize;
      const n = Math.min(end, pageEnd) - addr;
      pieces.push(out.outputAddress, n);
      addr += n;
    }
    return pieces;
  }

  /**
   * Would a translation of `iova` for `stream` still be answered from the IOTLB, and do the page
   * tables still map it? Reads without touching statistics or replacement state where the IOTLB
   * allows; records no fault.
   */
  probeStale(stream: number, iovaIn: AddressLike, pasid = NO_PASID): StaleProbe {
    const iova = toNumber(iovaIn, "IO address");
    const config = this.#streams.get(stream);
    if (config?.mode !== "translate")
      return { cached: false, mapped: config?.mode === "bypass", stale: false };
    const s1Config = pasid === NO_PASID ? config.stage1 : config.pasids?.get(pasid);
    const asid = (pasid === NO_PASID ? undefined : config.pasids?.get(pasid)?.asid) ?? config.asid ?? 0;
    const s1 = s1Config ? this.#resolve(s1Config, asid) : null;
    const s2 = config.stage2 ? this.#resolve(config.stage2, 0) : null;
    const tags = createIotlbTags({
      asid: s1 ? asid : 0,
      vmid: config.vmid ?? 0,
      pasid: pasid === NO_PASID ? 0 : pasid,
      stage: (s1 && s2 ? 3 : s2 ? 2 : 1) as IotlbStage,
    });
    const hit = createIotlbHit();
    const cached = this.iotlb !== null && this.iotlb.peek(iova, tags, hit) >= 0;
    // Walk the tables as they are now, without filling the IOTLB or recording a fault.
    let mapped = false;
    let output = iova;
    const w = createWalkOut();
    if (s1) {
      if (s2) this.#fetchStage = s2;
      s1.walker.translate(s1.root, iova, w, s2 ? this.#fetch : undefined);
      this.#fetchStage = null;
      this.#fetchFaulted = false;
      mapped = w.fault === 0;
      output = w.outputAddress;
    }
    if (s2 && (mapped || !s1)) {
      s2.walker.translate(s2.root, output, w);
      mapped = w.fault === 0;
      output = w.outputAddress;
    }
    const cachedOutput = cached ? hit.outputAddress : undefined;
    const staleIotlb = cached && (!mapped || output !== cachedOutput);
    const viaCache = this.walkCache !== null ? this.#peekWalkCached(s1, s2, tags, iova) : undefined;
    const staleWalk =
      viaCache?.used === true && viaCache.output >= 0 && (!mapped || viaCache.output !== output);
    return {
      cached,
      ...(cachedOutput !== undefined ? { cachedOutput: BigInt(cachedOutput) } : {}),
      mapped,
      ...(mapped ? { walkOutput: BigInt(output) } : {}),
      ...(viaCache !== undefined ? { walkCached: viaCache.used } : {}),
      ...(viaCache !== undefined && viaCache.output >= 0 ? { walkCacheOutput: BigInt(viaCache.output) } : {}),
      stale: staleIotlb || staleWalk,
    };
  }

  /**
   * For {@link probeStale}: each stage walked from its deepest cached table descriptor (peeked,
   * so statistics and replacement state stay as they were). A nested stage 1's table fetches go
   * through stage 2 from its root. Returns the output address (-1 on a fault) and whether any
   * cached descriptor was used.
   */
  #peekWalkCached(
    s1: ResolvedStage | null,
    s2: ResolvedStage | null,
    tags: IotlbTags,
    iova: number,
  ): { used: boolean; output: number } {
    let used = false;
    const walkStage = (
      r: ResolvedStage,
      stage: WalkStage,
      t: IotlbTags,
      address: number,
      w: WalkOut,
      inner?: TableFetchTranslator,
    ) => {
      const depth = this.#cachedStart(r, stage, t, address, true);
      if (depth > 0) used = true;
      r.walker.translateFrom(depth, depth > 0 ? this.#startTable : r.root, address, w, inner);
      return w.fault === 0 ? w.outputAddress : -1;
    };
    const w = createWalkOut();
    let output = iova;
    if (s1) {
      if (s2) this.#fetchStage = s2;
      output = walkStage(s1, 1, tags, iova, w, s2 ? this.#fetch : undefined);
      this.#fetchStage = null;
      this.#fetchFaulted = false;
      if (output < 0) return { used, output };
    }
    if (s2) {
      const t2 = createIotlbTags({ vmid: tags.vmid, stage: 2 });
      output = walkStage(s2, 2, t2, output, w);
    }
    return { used, output };
  }

  /** Verbose walk of `iova` for `stream` (stage 1 or stage 2 only; for dumps and visualisers). */
  trace(stream: number, iovaIn: AddressLike, pasid = NO_PASID): { stage1?: WalkTrace; stage2?: WalkTrace } {
    const iova = toNumber(iovaIn, "IO address");
    const config = this.#streams.get(stream);
    if (config?.mode !== "translate") {
      throw new HwError(
        "EINVAL",
        `${this.name}: stream ${stream} is not translating (${config?.mode ?? "no configuration"})`,
      );
    }
    const s1Config = pasid === NO_PASID ? config.stage1 : config.pasids?.get(pasid);
    const s1 = s1Config ? this.#resolve(s1Config, 0) : null;
    const s2 = config.stage2 ? this.#resolve(config.stage2, 0) : null;
    const result: { stage1?: WalkTrace; stage2?: WalkTrace } = {};
    if (s1) result.stage1 = s1.walker.trace(s1.root, iova);
    if (s2) {
      const ipa = result.stage1 ? (result.stage1.outputAddress ?? null) : BigInt(iova);
      if (ipa !== null) result.stage2 = s2.walker.trace(s2.root, Number(ipa));
    }
    return result;
  }

  /** One line describing the unit, for dumps. */
  describe(): string {
    const wc = this.walkCache ? `, walk cache of ${this.walkCache.geometry.length} level(s)` : "";
    return `${this.name}: ${this.#streams.size} stream(s), ${this.iotlb ? this.iotlb.describe() : "no IOTLB"}${wc}`;
  }
}

/** True when a leaf with Linux prot bits `perm` allows an access with {@link DmaAccess} flags. */
export function permits(perm: number, access: number): boolean {
  if (access & DmaAccess.READ && !(perm & IOMMU_READ)) return false;
  if (access & DmaAccess.WRITE && !(perm & IOMMU_WRITE)) return false;
  if (access & DmaAccess.EXEC && perm & IOMMU_NOEXEC) return false;
  if (!(access & DmaAccess.PRIV) && perm & IOMMU_PRIV) return false;
  return true;
}

/** Creates a translation unit over `options.memory`. */
export function createTranslationUnit(options: TranslationUnitOptions): TranslationUnit {
  return new TranslationUnit(options);
}

/** Formats a fault for humans: kind, stream, address, access. */
export function describeFault(f: TranslationFault): string {
  const dir = f.access & DmaAccess.WRITE ? "write" : "read";
  return `${f.kind} fault: stream ${hex(f.stream)}${f.pasid >= 0 ? ` pasid ${f.pasid}` : ""} ${dir} at ${hex(f.iova)} (stage ${f.stage}, level ${f.level})`;
}
