/**
 * The narrow waist: what an IOMMU driver offers the core, after Linux's `struct iommu_ops` and
 * `struct iommu_domain_ops`. Addresses on this interface are numbers (safe integers): the core has
 * validated and converted them from the public `bigint | number`. Everything else (groups, default
 * domains, ownership, page-size splitting, rollback) lives once, in the core.
 */
import type { IommuDevice } from "./device.js";
import type { DomainType } from "./domain-type.js";
import type { IotlbGather } from "./gather.js";
import type { IommuGroup } from "./group.js";
import type { PageTableInspection } from "./inspection.js";
import type { ResvRegionSpec } from "./resv.js";

/**
 * Capabilities a driver may have for a device (`enum iommu_cap`): `cache-coherency` (DMA snoops CPU
 * caches), `intr-remap`, `noexec` (honours `IOMMU_NOEXEC`), `pre-boot-protection`,
 * `enforce-cache-coherency`, `deferred-flush` (flush queues are worth it: invalidation is costly),
 * `dirty-tracking`.
 */
export type IommuCap =
  | "cache-coherency"
  | "intr-remap"
  | "noexec"
  | "pre-boot-protection"
  | "enforce-cache-coherency"
  | "deferred-flush"
  | "dirty-tracking";

/** The IO address range a domain can translate (`struct iommu_domain_geometry`). */
export interface DomainGeometry {
  /** First translatable address. */
  readonly apertureStart: number;
  /** Last translatable address, inclusive. */
  readonly apertureEnd: number;
  /** DMA outside the aperture is refused by the hardware (and IOVA allocators must stay inside). */
  readonly forceAperture: boolean;
}

/**
 * A driver's domain (the driver-private part of `struct iommu_domain` plus its
 * `iommu_domain_ops`). Identity and blocking domains implement only `attachDevice` and `free`.
 */
export interface DriverDomain {
  /** The page table the hardware walks, for dumps and visualisers (optional capability). */
  readonly pageTable?: PageTableInspection;
  /** Page sizes this domain maps (bit n = 2^n bytes); 0 for non-paging domains. Overrides the driver's. */
  readonly pgsizeBitmap?: number;
  /** Translatable IO range; required for paging domains. */
  readonly geometry?: DomainGeometry;
  /**
   * Points `device`'s translation at this domain, replacing whatever it used before (`attach_dev`).
   * Throws `EINVAL` when incompatible (a soft failure: another domain may work), `ENODEV`, `ENOMEM`.
   * Re-attaching the domain a device used just before must not fail (the core's error unwind).
   */
  attachDevice(device: IommuDevice): void;
  /**
   * Maps `pgcount` pages of `pgsize` (a size of the bitmap) at `iova` to `paddr`, co-aligned to
   * `pgsize` (`map_pages`). Returns the bytes mapped, which may be fewer than asked (the core calls
   * again for the rest) but never 0. On failure throws an errno error (`ENOMEM`, `EEXIST` /
   * `EADDRINUSE` over a live mapping, `ERANGE` outside the input range); pages it mapped in this call
   * before failing must be reported in the error's `mapped` property (see {@link PartialMapError}).
   * `gather` collects invalidations if mapping replaced table entries.
   */
  mapPages?(
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
    prot: number,
    gather: IotlbGather,
  ): number;
  /**
   * Unmaps up to `pgcount` pages of `pgsize` at `iova` (`unmap_pages`), adding what it tore down
   * to `gather`. Returns bytes unmapped: 0 at a hole, possibly more than asked when a larger page
   * was torn down whole (x86), or 0 when asked to split a large page it cannot split (ARM). Never throws.
   */
  unmapPages?(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number;
  /** Physical address `iova` translates to, 0 when unmapped (`iova_to_phys`). */
  iovaToPhys?(iova: number): number;
  /** Invalidates the IOTLB for what `gather` collected (`iotlb_sync`). */
  iotlbSync?(gather: IotlbGather): void;
  /** Invalidates the whole domain's IOTLB entries (`flush_iotlb_all`). */
  flushIotlbAll?(): void;
  /** Makes new mappings visible to hardware that caches non-present entries (`iotlb_sync_map`). */
  iotlbSyncMap?(iova: number, size: number): void;
  /** Releases the domain and its page-table pages; no device is attached any more (`free`). */
  free(): void;
}

/** The `mapped` count a `mapPages` failure carries, modelling the `*mapped` out-parameter. */
export interface PartialMapError {
  /** Bytes the failing call mapped before it failed; the core unmaps them. @default 0 */
  readonly mapped?: number;
}

/** Helpers the core hands to {@link IommuDriver.deviceGroup}. */
export interface DeviceGroupHelpers {
  /** One new group per device (`generic_device_group()`). */
  generic(device: IommuDevice): IommuGroup;
  /** Linux's PCI rules: aliases, ACS up the path, multi-function (`pci_device_group()`). */
  pci(device: IommuDevice): IommuGroup;
  /** The group `device` is already in, if any (`iommu_group_get()`). */
  groupOf(device: IommuDevice): IommuGroup | undefined;
}

/** An IOMMU driver (`struct iommu_ops`), one per IOMMU instance. */
export interface IommuDriver {
  /** Driver name (`"arm-smmu-v3"`, `"reference"`), shown in fault traces. */
  readonly name: string;
  /** Default page sizes of the driver's paging domains (`pgsize_bitmap`). */
  readonly pgsizeBitmap: number;
  /**
   * Takes a device on (`probe_device`): reads its `fwspec`, sets up stream-table state. Throws
   * `ENODEV` when the device is not behind this IOMMU.
   */
  probeDevice(device: IommuDevice): void;
  /** Called after the device joined a group and its default domain is attached (`probe_finalize`). */
  probeFinalize?(device: IommuDevice): void;
  /** Forgets a device (`release_device`); the core has already moved it off its domain. */
  releaseDevice(device: IommuDevice): void;
  /** Chooses the device's group (`device_group`). @default the core's PCI rules for PCI, one group per platform device */
  deviceGroup?(device: IommuDevice, helpers: DeviceGroupHelpers): IommuGroup;
  /**
   * Allocates a domain of `type` for `device` (`domain_alloc` / `domain_alloc_paging` /
   * `identity_domain` / `blocked_domain`). Returns `null` when the driver does not offer the type;
   * throws `ENOMEM` when it does but allocation failed.
   */
  domainAlloc(type: DomainType, device: IommuDevice | undefined): DriverDomain | null;
  /** The device's required default-domain type, `undefined` for no preference (`def_domain_type`). */
  defDomainType?(device: IommuDevice): DomainType | undefined;
  /** The device's reserved regions (`get_resv_regions`). */
  getResvRegions(device: IommuDevice): readonly ResvRegionSpec[];
  /** Whether the IOMMU has `cap` for `device` (`capable`). */
  capable(device: IommuDevice, cap: IommuCap): boolean;
}
