/**
 * The VT-d PASID cache (specification 6.2.1 "PASID Cache"): decoded scalable-mode PASID table
 * entries by (source id, PASID), tagged with the entry's domain id. A PASID entry (or a directory
 * entry) the driver changes in memory is not seen until a PASID-cache invalidation descriptor
 * (type 7: domain-selective, PASID-selective within a domain, or global) drops the cached copy.
 * Without Caching Mode only present, valid entries are cached.
 */
import type { StageConfig } from "@iommu-sim/hw";

/** One cached PASID entry: how requests of that PASID are translated, or (Caching Mode) a fault. */
export interface CachedPasid {
  /** False for a cached fault (Caching Mode only). */
  readonly valid: boolean;
  /** Fault reason a cached invalid entry gives; 0 when valid. */
  readonly faultReason: number;
  /** Domain id of the entry (the cache's tag). */
  readonly did: number;
  /** FPD of the directory or table entry. */
  readonly fpd: boolean;
  /** PGTT: 1 first stage, 2 second stage, 4 pass-through. */
  readonly pgtt: number;
  /** Input addresses at or above this fault (2^AW width for second stage, 2^47 / 2^56 for first). */
  readonly limit: number;
  /** The stage the translation unit walks (undefined for pass-through), with the domain id as tag. */
  readonly stage: (StageConfig & { readonly asid: number }) | undefined;
}

/** The PASID cache. */
export interface PasidCache {
  /** The cached entry of (`sid`, `pasid`). */
  get(sid: number, pasid: number): CachedPasid | undefined;
  /** Fills an entry. */
  set(sid: number, pasid: number, entry: CachedPasid): void;
  /** Cached entries of `sid`, by PASID. */
  entriesOf(sid: number): ReadonlyMap<number, CachedPasid> | undefined;
  /** Drops entries tagged `did` (with `pasid`, only that PASID; with neither, every entry); returns the source ids touched. */
  invalidate(did: number | undefined, pasid: number | undefined): number[];
  /** Entries cached. */
  readonly size: number;
}

/** Creates an empty PASID cache (unbounded: a miss only re-reads memory). */
export function createPasidCache(): PasidCache {
  const bySid = new Map<number, Map<number, CachedPasid>>();
  let size = 0;
  return {
    get: (sid, pasid) => bySid.get(sid)?.get(pasid),
    set(sid, pasid, entry) {
      let m = bySid.get(sid);
      if (!m) {
        m = new Map();
        bySid.set(sid, m);
      }
      if (!m.has(pasid)) size++;
      m.set(pasid, entry);
    },
    entriesOf: (sid) => bySid.get(sid),
    invalidate(did, pasid) {
      const touched: number[] = [];
      for (const [sid, m] of bySid) {
        let hit = false;
        for (const [p, e] of m) {
          if ((did === undefined || e.did === did) && (pasid === undefined || p === pasid)) {
            m.delete(p);
            size--;
            hit = true;
          }
        }
        if (hit) touched.push(sid);
        if (m.size === 0) bySid.delete(sid);
      }
      return touched;
    },
    get size() {
      return size;
    },
  };
}
