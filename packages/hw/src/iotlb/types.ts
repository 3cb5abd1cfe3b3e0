/**
 * Shared shapes of the IOTLB and walk-cache models: the tags an entry carries, the reusable lookup
 * result, the filters invalidations select entries with, and the statistics both report.
 */

/**
 * Replacement policy of a set-associative cache, plus `"qemu"`: QEMU's functional IOTLB, an
 * unbounded hash table that is emptied entirely when it reaches its capacity (`SMMU_IOTLB_MAX_SIZE`
 * 256, `VTD_IOTLB_MAX_SIZE` / `AMDVI_IOTLB_MAX_SIZE` 1024).
 */
export type IotlbReplacement = "lru" | "fifo" | "round-robin" | "random" | "qemu";

/**
 * Stage an entry belongs to. 1 = stage 1 (or the only stage: VT-d, AMD), 2 = stage 2 only
 * (IPA -> PA), 3 = a combined nested (stage 1 + stage 2) translation. It is part of the match: a
 * stage-2 entry for IPA X never answers a stage-1 lookup of VA X in the same VMID.
 */
export type IotlbStage = 1 | 2 | 3;

/**
 * Tags of a translation, as the hardware caches them. Unused tags are 0 by convention (and must be
 * 0 on both insert and lookup). A lookup hits only an entry whose tags all equal these, except that a
 * global entry ignores the tags listed in the IOTLB's `globalIgnores` option.
 *
 * Pass one reusable object per context on the hot path: it is read, never kept.
 */
export interface IotlbTags {
  /** Address-space id: SMMUv3 ASID, VT-d domain id (DID), AMD domain id. 32-bit. */
  asid: number;
  /** SMMUv3 VMID (0 when there is no stage 2). 32-bit. */
  vmid: number;
  /** PASID / SMMUv3 SubstreamID (0 when none). 32-bit. */
  pasid: number;
  /** StreamID / requester id (0 when the cache is not tagged by stream). 32-bit. */
  stream: number;
  /** Stage of the cached translation. @default 1 */
  stage: IotlbStage;
}

/** Creates a tags object; missing tags are 0 and `stage` is 1. */
export function createIotlbTags(tags: Partial<IotlbTags> = {}): IotlbTags {
  return {
    asid: tags.asid ?? 0,
    vmid: tags.vmid ?? 0,
    pasid: tags.pasid ?? 0,
    stream: tags.stream ?? 0,
    stage: tags.stage ?? 1,
  };
}

/**
 * Reusable result of a hit, written by `lookup` (numbers only, so a lookup allocates nothing). Same
 * meanings as the page-table `WalkOut` fields of the same names.
 */
export interface IotlbHit {
  /** Index of the entry that hit (slot number), or -1 after a miss. */
  index: number;
  /** Output address of the looked-up input address (output base + offset in the page). */
  outputAddress: number;
  /** Output address of the start of the page (for a walk cache: the next-level table address). */
  outputBase: number;
  /** Bytes covered by the entry. */
  pageSize: number;
  /** Linux prot bits of the entry. */
  perm: number;
  /** Level of the leaf the entry was filled from, in the format's numbering. */
  level: number;
}

/** Creates a zeroed {@link IotlbHit}. */
export function createIotlbHit(): IotlbHit {
  return { index: -1, outputAddress: 0, outputBase: 0, pageSize: 0, perm: 0, level: 0 };
}

/**
 * Selects entries by tag for an invalidation. An absent tag is a wildcard. Examples (SMMUv3):
 * TLBI_NH_ASID = `{ asid, vmid }`, TLBI_NH_ALL = `{ vmid }`, TLBI_S12_VMALL = `{ vmid }`,
 * TLBI_S2_IPA = `{ vmid, stage: 2 }`; VT-d domain-selective = `{ asid: did }`, PASID-selective =
 * `{ asid: did, pasid }`; AMD INVALIDATE_IOMMU_PAGES = `{ asid: domainId }`.
 */
export interface IotlbTagFilter {
  asid?: number;
  vmid?: number;
  pasid?: number;
  stream?: number;
  stage?: IotlbStage;
  /**
   * Whether global entries (which have no ASID/PASID of their own) are selected when `asid` or
   * `pasid` is given. Architecture default: an invalidation by ASID alone (TLBI_NH_ASID) keeps global
   * entries; an invalidation by address within an ASID (TLBI_NH_VA) removes them.
   * @default false for `invalidateTags`, true for `invalidateRange`
   */
  includeGlobal?: boolean;
}

/** An invalidation by input-address range, within the entries a tag filter selects. */
export interface IotlbRangeInvalidation {
  /** First input address of the range. */
  start: bigint | number;
  /**
   * Bytes in the range; an entry is dropped when its page overlaps `[start, start + size)` (a 2 MiB
   * entry overlapping a 4 KiB invalidation is dropped). @default 1 (the entry containing `start`)
   */
  size?: bigint | number;
  /** Which entries (by tag) the range applies to. @default every entry */
  filter?: IotlbTagFilter;
  /**
   * Only leaf entries changed (SMMUv3 LEAF=1, VT-d IH=1, an unmap that freed no table). IOTLB entries
   * are all leaves, so this changes nothing there; walk caches keep their entries. @default false
   */
  leafOnly?: boolean;
  /**
   * Level of the leaves being invalidated (SMMUv3 TTL, in the format's own level numbering). Hardware
   * may skip entries of other levels; the model does so only when created with `honourHints`.
   */
  level?: number;
  /**
   * Leaf size the range was expressed in (the TG granule x TTL level, or the PSI page size). With
   * `honourHints`, only entries of this page size are dropped.
   */
  pageSize?: number;
}

/** Counters of a cache; `resetStats()` zeroes them. */
export interface IotlbStats {
  lookups: number;
  hits: number;
  misses: number;
  insertions: number;
  /** Valid entries displaced to make room (for `"qemu"`: entries dropped by overflow flushes). */
  evictions: number;
  /** `"qemu"` only: times the table was emptied because it reached its capacity. */
  overflowFlushes: number;
  /** Invalidation requests, by kind. */
  invalidations: { all: number; tag: number; range: number };
  /** Entries dropped by each kind of invalidation. */
  dropped: { all: number; tag: number; range: number };
}

/** One valid entry, for dumps, tests and visualisers. */
export interface IotlbEntrySnapshot {
  /** Slot number. */
  index: number;
  /** Set and way (for `"qemu"`: set 0, way = insertion slot). */
  set: number;
  way: number;
  iova: bigint;
  output: bigint;
  size: bigint;
  perm: number;
  level: number;
  asid: number;
  vmid: number;
  pasid: number;
  stream: number;
  stage: IotlbStage;
  global: boolean;
  /** Replacement clock ticks since the entry was last used (LRU) or inserted (other policies). */
  age: number;
}
