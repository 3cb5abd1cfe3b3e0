/**
 * What tools, dumps and visualisers may read of a backend's hardware, declared here by shape so a
 * backend can offer it without the core knowing its hardware model (`@iommu-sim/hw`'s IOTLB and page
 * tables satisfy these interfaces structurally). Both are optional capabilities: a backend without
 * an IOTLB model (the reference backend) simply has none, and viewers say so.
 */

/** The geometry, counters and contents of an IOTLB. */
export interface IotlbInspection {
  /** Entries, ways, sets and replacement policy. */
  readonly geometry: {
    readonly entries: number;
    readonly ways: number;
    readonly sets: number;
    readonly replacement: string;
  };
  /** Counters since creation or the last reset (lookups, hits, misses, evictions, invalidations). */
  stats(): {
    readonly lookups: number;
    readonly hits: number;
    readonly misses: number;
    readonly evictions: number;
  };
  /** The valid entries, each with its set, way, tags, addresses and size. */
  snapshot(): readonly object[];
  /** One line describing the IOTLB. */
  describe(): string;
}

/** The page table behind a paging domain, as the hardware walks it. */
export interface PageTableInspection {
  /** Registry name of the format (`arm-lpae-s1`, `intel-vtd-ss`, ...). */
  readonly format: string;
  /** Physical address of the top table. */
  readonly root: bigint;
  /** Verbose hardware walk: each level's table, index and decoded descriptor, then the result. */
  walk(iova: bigint | number): object;
}
