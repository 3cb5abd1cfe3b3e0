/**
 * Domains: IO address spaces devices are attached to. The public object is a handle; the core keeps
 * the driver's domain and the per-domain scratch state the hot paths reuse.
 */
import type { DomainType } from "./domain-type.js";
import type { DriverDomain } from "./driver.js";
import type { FaultHandler } from "./fault.js";
import type { IotlbGather } from "./gather.js";
import type { PageTableInspection } from "./inspection.js";
import type { PgsizeChoice } from "./pgsize.js";

/** The public geometry of a domain (`struct iommu_domain_geometry`). */
export interface PublicGeometry {
  /** First translatable IO address. */
  readonly apertureStart: bigint;
  /** Last translatable IO address, inclusive. */
  readonly apertureEnd: bigint;
  /** DMA outside the aperture is refused. */
  readonly forceAperture: boolean;
}

/** A domain handle (`struct iommu_domain`). */
export interface IommuDomain {
  /** Unique id within the core, in allocation order. */
  readonly id: number;
  /** Domain type (`IOMMU_DOMAIN_*`). */
  readonly type: DomainType;
  /** Page sizes (bit n = 2^n bytes); blocking and identity domains carry the driver's too, as in Linux. */
  readonly pgsizeBitmap: number;
  /** Translatable range; `undefined` for blocking and identity domains. */
  readonly geometry: PublicGeometry | undefined;
  /** Name of the IOMMU instance the domain belongs to. */
  readonly iommu: string;
  /** True once freed; every operation on it then fails with `EINVAL`. */
  readonly freed: boolean;
  /** The page table the hardware walks, when the driver offers it (`DriverDomain.pageTable`). */
  readonly pageTable?: PageTableInspection | undefined;
}

/** The core's record behind a domain handle. */
export interface DomainRecord extends IommuDomain {
  type: DomainType;
  freed: boolean;
  /** The driver's domain. */
  readonly driver: DriverDomain;
  /** Page sizes, smallest first. */
  readonly sizes: readonly number[];
  /** Smallest page size (0 if none). */
  readonly minPgsize: number;
  /** Owner of the core (to refuse handles from another machine). */
  readonly owner: object;
  /** Fault handler and its token. */
  faultHandler: FaultHandler | undefined;
  faultToken: unknown;
  /** Groups attached right now (to refuse freeing an attached domain). */
  attachedGroups: number;
  /** Scratch state for map/unmap, reused call after call. */
  readonly scratchGather: IotlbGather;
  readonly scratchChoice: PgsizeChoice;
}
