/**
 * The live mappings of every domain, kept from the core's `map` / `unmap` tracepoint events, so
 * snapshots and dumps can list them for any backend (the reference backend has no page-table bytes
 * to walk).
 */
import type { IommuEvent } from "@iommu-sim/iommu";

/** One mapped range, as `iommu_map()` was called. */
export interface MappedRange {
  readonly iova: bigint;
  readonly paddr: bigint;
  readonly size: bigint;
}

/** Live mappings per domain id. */
export interface MappingTracker {
  /** Feeds one event (subscribe this to the core). */
  onEvent(event: IommuEvent): void;
  /** The live ranges of domain `id`, sorted by IOVA. */
  ranges(domainId: number): readonly MappedRange[];
}

/** Removes `[start, end)` from `ranges` (sorted), splitting ranges it cuts. */
export function subtractRange(ranges: readonly MappedRange[], start: bigint, end: bigint): MappedRange[] {
  const out: MappedRange[] = [];
  for (const r of ranges) {
    const rEnd = r.iova + r.size;
    if (rEnd <= start || r.iova >= end) {
      out.push(r);
      continue;
    }
    if (r.iova < start) out.push({ iova: r.iova, paddr: r.paddr, size: start - r.iova });
    if (rEnd > end) out.push({ iova: end, paddr: r.paddr + (end - r.iova), size: rEnd - end });
  }
  return out;
}

/** Creates an empty tracker. */
export function createMappingTracker(): MappingTracker {
  const byDomain = new Map<number, MappedRange[]>();
  return {
    onEvent(event) {
      if (event.type === "map") {
        const list = byDomain.get(event.domainId) ?? [];
        list.push({ iova: event.iova, paddr: event.paddr, size: event.size });
        list.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
        byDomain.set(event.domainId, list);
      } else if (event.type === "unmap" && event.unmappedSize > 0n) {
        const list = byDomain.get(event.domainId);
        if (list)
          byDomain.set(event.domainId, subtractRange(list, event.iova, event.iova + event.unmappedSize));
      }
    },
    ranges: (id) => byDomain.get(id) ?? [],
  };
}
