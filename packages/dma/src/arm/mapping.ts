/**
 * ARM32's `struct dma_iommu_mapping` (arch/arm/mm/dma-mapping.c, CONFIG_ARM_DMA_USE_IOMMU): an
 * unmanaged domain plus a bitmap IOVA allocator, shared by every bus master attached to it and
 * reference counted (the creator holds one reference, each attached device another).
 */
import type { IommuDevice, IommuDomain } from "@iommu-sim/iommu";
import type { ArmBitmapAllocator } from "./bitmap-allocator.js";

/** An ARM IOMMU mapping, made by `dma.armIommuCreateMapping()`. */
export interface ArmIommuMapping {
  /** The unmanaged domain every attached device translates through. */
  readonly domain: IommuDomain;
  /** The bitmap IOVA allocator. */
  readonly allocator: ArmBitmapAllocator;
  /** First IOVA. */
  readonly base: bigint;
  /** Bytes of IOVA space. */
  readonly size: bigint;
  /** `kref` count: 1 for the creator plus one per attached device; 0 once freed. */
  readonly refcount: number;
  /** Devices attached now. */
  readonly devices: readonly IommuDevice[];
}

/** The package's mutable record behind an {@link ArmIommuMapping}. */
export interface ArmMappingRecord extends ArmIommuMapping {
  refcount: number;
  readonly devices: IommuDevice[];
  /** `base` as a number. */
  readonly baseNum: number;
  /** Live mappings: page-aligned IOVA -> bytes mapped. */
  readonly mappings: Map<number, number>;
}
