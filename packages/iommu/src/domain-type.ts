/**
 * Domain types, composed from feature bits with Linux's values (include/linux/iommu.h).
 */

/** Feature bit: the domain supports map/unmap (`__IOMMU_DOMAIN_PAGING`). */
export const __IOMMU_DOMAIN_PAGING = 1 << 0;
/** Feature bit: the domain is owned by the DMA API (`__IOMMU_DOMAIN_DMA_API`). */
export const __IOMMU_DOMAIN_DMA_API = 1 << 1;
/** Feature bit: identity mapping, IO address = physical address (`__IOMMU_DOMAIN_PT`). */
export const __IOMMU_DOMAIN_PT = 1 << 2;
/** Feature bit: the DMA domain defers invalidation to a flush queue (`__IOMMU_DOMAIN_DMA_FQ`). */
export const __IOMMU_DOMAIN_DMA_FQ = 1 << 3;

/** All DMA blocked; the "owned but unattached" domain (`IOMMU_DOMAIN_BLOCKED`). */
export const IOMMU_DOMAIN_BLOCKED = 0;
/** Passthrough: DMA address = physical address (`IOMMU_DOMAIN_IDENTITY`). */
export const IOMMU_DOMAIN_IDENTITY = __IOMMU_DOMAIN_PT;
/** Mappings managed by an IOMMU-API user such as VFIO (`IOMMU_DOMAIN_UNMANAGED`). */
export const IOMMU_DOMAIN_UNMANAGED = __IOMMU_DOMAIN_PAGING;
/** Default translated domain of the DMA API, strict invalidation (`IOMMU_DOMAIN_DMA`). */
export const IOMMU_DOMAIN_DMA = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API;
/** DMA domain with a flush queue, lazy invalidation (`IOMMU_DOMAIN_DMA_FQ`). */
export const IOMMU_DOMAIN_DMA_FQ = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API | __IOMMU_DOMAIN_DMA_FQ;

/** One of the domain types the core allocates. */
export type DomainType =
  | typeof IOMMU_DOMAIN_BLOCKED
  | typeof IOMMU_DOMAIN_IDENTITY
  | typeof IOMMU_DOMAIN_UNMANAGED
  | typeof IOMMU_DOMAIN_DMA
  | typeof IOMMU_DOMAIN_DMA_FQ;

/** Every domain type, for iteration (tests, the conformance kit). */
export const DOMAIN_TYPES: readonly DomainType[] = [
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
];

/** True when a domain of this type supports map/unmap. */
export function isPagingType(type: number): boolean {
  return (type & __IOMMU_DOMAIN_PAGING) !== 0;
}

/** True for DMA-API domains (DMA and DMA_FQ). Models `iommu_is_dma_domain()`. */
export function isDmaType(type: number): boolean {
  return (type & __IOMMU_DOMAIN_DMA_API) !== 0;
}

/** True when `value` is one of the five domain types. */
export function isDomainType(value: unknown): value is DomainType {
  return typeof value === "number" && (DOMAIN_TYPES as readonly number[]).includes(value);
}

/**
 * The sysfs `iommu_groups/N/type` string of a domain type: `blocked`, `identity`, `unmanaged`,
 * `DMA`, `DMA-FQ` (`unknown` otherwise).
 */
export function domainTypeName(type: number): string {
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return "blocked";
    case IOMMU_DOMAIN_IDENTITY:
      return "identity";
    case IOMMU_DOMAIN_UNMANAGED:
      return "unmanaged";
    case IOMMU_DOMAIN_DMA:
      return "DMA";
    case IOMMU_DOMAIN_DMA_FQ:
      return "DMA-FQ";
    default:
      return "unknown";
  }
}
