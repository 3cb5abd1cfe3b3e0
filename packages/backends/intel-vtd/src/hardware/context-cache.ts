/**
 * The VT-d context cache (specification 6.1 "Context Cache"): decoded context entries by source id.
 * A context entry the driver changes in memory is not seen until a context-cache invalidation drops
 * the cached copy. Without Caching Mode (CAP.CM = 0) only present, valid entries are cached; with
 * Caching Mode, not-present and invalid entries are cached too, tagged with domain id 0, which is why
 * Linux flushes domain 0 after a not-present to present change on such hardware.
 */

/** One cached context: a translation setup, or (Caching Mode only) a cached fault. */
export interface CachedContext {
  /** False for a cached not-present / invalid entry (Caching Mode). */
  readonly valid: boolean;
  /** Fault reason a cached invalid entry produces (1, 2, 3, 0xa, 0xb); 0 when valid. */
  readonly faultReason: number;
  /** Domain id the entry is tagged with (0 for cached invalid entries). */
  readonly did: number;
  /** Fault processing disabled: faults of this context are not recorded. */
  readonly fpd: boolean;
  /** Translation type (TT). */
  readonly tt: number;
  /** AGAW of the second-stage table (AW). */
  readonly aw: number;
  /** Second-stage table root. */
  readonly ssptptr: number;
  /** Scalable mode only: the context's PASID setup (PASIDDIRPTR, PDTS, RID_PASID, PASIDE). */
  readonly scalable?: {
    readonly pasidDir: number;
    /** PASIDs the directory covers: 2^(PDTS + 7) entries of 64 PASIDs. */
    readonly maxPasid: number;
    readonly ridPasid: number;
    readonly paside: boolean;
  };
}

/** The context cache. */
export interface ContextCache {
  /** The cached entry of `sid`, if any. */
  get(sid: number): CachedContext | undefined;
  /** Fills the entry of `sid`. */
  set(sid: number, entry: CachedContext): void;
  /** Global invalidation; returns the source ids dropped. */
  invalidateAll(): number[];
  /** Domain-selective invalidation (entries tagged `did`); returns the source ids dropped. */
  invalidateDomain(did: number): number[];
  /**
   * Device-selective invalidation: entries tagged `did` whose source id matches `sid` under the
   * function mask `fm` (0: exact; 1, 2, 3: ignore function bits 2, 2:1, 2:0). Returns the ids dropped.
   * `did` undefined matches any domain (scalable mode, where context entries carry none).
   */
  invalidateDevice(sid: number, fm: number, did: number | undefined): number[];
  /** Entries cached. */
  readonly size: number;
}

/** Creates an empty context cache (unbounded: real caches are small, but a miss only re-reads memory). */
export function createContextCache(): ContextCache {
  const entries = new Map<number, CachedContext>();
  const dropWhere = (match: (sid: number, entry: CachedContext) => boolean): number[] => {
    const dropped: number[] = [];
    for (const [sid, entry] of entries) if (match(sid, entry)) dropped.push(sid);
    for (const sid of dropped) entries.delete(sid);
    return dropped;
  };
  return {
    get: (sid) => entries.get(sid),
    set(sid, entry) {
      entries.set(sid, entry);
    },
    invalidateAll() {
      const dropped = [...entries.keys()];
      entries.clear();
      return dropped;
    },
    invalidateDomain: (did) => dropWhere((_sid, entry) => entry.did === did),
    invalidateDevice(sid, fm, did) {
      const mask = ~fmMask(fm) & 0xffff;
      return dropWhere((s, entry) => (did === undefined || entry.did === did) && (s & mask) === (sid & mask));
    },
    get size() {
      return entries.size;
    },
  };
}

// FM 1 masks function bit 2, FM 2 bits 2:1, FM 3 bits 2:0 (specification 6.5.2.1).
function fmMask(fm: number): number {
  return fm === 1 ? 0b100 : fm === 2 ? 0b110 : fm === 3 ? 0b111 : 0;
}
