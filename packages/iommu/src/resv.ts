/**
 * Reserved regions: IO address ranges a device needs identity-mapped, or that must never be used
 * for DMA. Models Linux's `struct iommu_resv_region` and the group list merge of
 * `iommu_get_group_resv_regions()`.
 */

/**
 * Region type (`enum iommu_resv_type`): `direct` must be identity-mapped at all times (RMRR);
 * `direct-relaxable` is identity-mapped by default but may be dropped for device assignment;
 * `reserved` must never be mapped; `msi` is a hardware MSI window; `sw-msi` a software-managed one.
 */
export type ResvType = "direct" | "direct-relaxable" | "reserved" | "msi" | "sw-msi";

/** A region as drivers report it, on numbers. */
export interface ResvRegionSpec {
  /** First IO (= physical for direct regions) address. */
  readonly start: number;
  /** Length in bytes (> 0). */
  readonly length: number;
  /** Protection for direct mappings (`IOMMU_READ | IOMMU_WRITE`...). */
  readonly prot: number;
  /** Region type. */
  readonly type: ResvType;
}

/** A region as the public API returns it. */
export interface ResvRegion {
  /** First address. */
  readonly start: bigint;
  /** Length in bytes. */
  readonly length: bigint;
  /** Protection flags. */
  readonly prot: number;
  /** Region type. */
  readonly type: ResvType;
}

const TYPE_ORDER: Record<ResvType, number> = {
  direct: 0,
  "direct-relaxable": 1,
  reserved: 2,
  msi: 3,
  "sw-msi": 4,
};

/** The sysfs `reserved_regions` type string (`sw-msi` prints as `msi`, as in Linux). */
export function resvTypeName(type: ResvType): string {
  return type === "sw-msi" ? "msi" : type;
}

/**
 * Merges region lists the way a group's list is built: sorted by start (ties by type), overlapping
 * or adjacent regions of the same type merged (keeping the first one's prot), different types never
 * merged. Models `iommu_insert_resv_region()`.
 */
export function mergeResvRegions(regions: readonly ResvRegionSpec[]): ResvRegionSpec[] {
  const sorted = [...regions]
    .filter((r) => r.length > 0)
    .sort((a, b) => a.start - b.start || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
  const out: ResvRegionSpec[] = [];
  for (const region of sorted) {
    // Find the last kept region of the same type; merge if this one touches or overlaps it.
    let merged = false;
    for (let i = out.length - 1; i >= 0; i--) {
      const prev = out[i]!;
      if (prev.type !== region.type) continue;
      const prevEnd = prev.start + prev.length;
      if (region.start <= prevEnd) {
        const end = Math.max(prevEnd, region.start + region.length);
        out[i] = { ...prev, length: end - prev.start };
        merged = true;
      }
      break;
    }
    if (!merged) out.push({ ...region });
  }
  return out.sort((a, b) => a.start - b.start || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
}

/** Converts a driver's region to the public (bigint) form. */
export function toResvRegion(spec: ResvRegionSpec): ResvRegion {
  return { start: BigInt(spec.start), length: BigInt(spec.length), prot: spec.prot, type: spec.type };
}
