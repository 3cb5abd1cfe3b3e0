/**
 * Allocating and freeing domains through a driver (`__iommu_domain_alloc()`, `iommu_domain_free()`).
 */
import type { IommuBackend } from "./backend.js";
import type { IommuDevice } from "./device.js";
import type { DomainRecord, PublicGeometry } from "./domain.js";
import {
  type DomainType,
  domainTypeName,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  isDomainType,
  isPagingType,
} from "./domain-type.js";
import { asIommuError, IommuError } from "./errors.js";
import { createIotlbGather } from "./gather.js";
import { pgsizesOf } from "./pgsize.js";
import type { CoreState } from "./state.js";

/**
 * Asks `backend`'s driver for a domain of `type`. Returns `null` when the driver does not offer the
 * type; throws (`ENOMEM`...) when allocation failed. The domain's page sizes come from the driver's
 * domain, else the driver's default bitmap.
 */
export function allocDomain(
  state: CoreState,
  backend: IommuBackend,
  type: DomainType,
  device: IommuDevice | undefined,
): DomainRecord | null {
  if (!isDomainType(type))
    throw new IommuError("EINVAL", `domain type ${String(type)} is not an IOMMU_DOMAIN_* type`);
  let driverDomain: ReturnType<typeof backend.driver.domainAlloc>;
  try {
    // Drivers are never asked for DMA_FQ: they allocate DMA and the core marks the domain
    // (Linux's IOMMU_DOMAIN_ALLOC_FLAGS masks __IOMMU_DOMAIN_DMA_FQ).
    driverDomain = backend.driver.domainAlloc(type === IOMMU_DOMAIN_DMA_FQ ? IOMMU_DOMAIN_DMA : type, device);
  } catch (error) {
    throw asIommuError(error, `${backend.name}: allocating a ${domainTypeName(type)} domain`);
  }
  if (driverDomain === null) return null;
  const paging = isPagingType(type);
  // Every domain gets the driver's page sizes, as Linux copies `ops->pgsize_bitmap` for all types.
  const bitmap = driverDomain.pgsizeBitmap ?? backend.driver.pgsizeBitmap;
  const sizes = pgsizesOf(bitmap);
  const geo = driverDomain.geometry;
  const geometry: PublicGeometry | undefined =
    paging && geo
      ? {
          apertureStart: BigInt(geo.apertureStart),
          apertureEnd: BigInt(geo.apertureEnd),
          forceAperture: geo.forceAperture,
        }
      : undefined;
  const record: DomainRecord = {
    id: state.nextDomainId++,
    type,
    pgsizeBitmap: bitmap,
    geometry,
    iommu: backend.name,
    freed: false,
    pageTable: driverDomain.pageTable,
    driver: driverDomain,
    sizes,
    minPgsize: sizes[0] ?? 0,
    owner: state.token,
    faultHandler: undefined,
    faultToken: undefined,
    attachedGroups: 0,
    scratchGather: createIotlbGather(),
    scratchChoice: { pgsize: 0, count: 0 },
  };
  state.byDriverDomain.set(driverDomain, record);
  return record;
}

/** Frees a domain no group is attached to (`iommu_domain_free()`); the handle becomes unusable. */
export function freeDomain(state: CoreState, record: DomainRecord): void {
  if (record.attachedGroups > 0) {
    throw new IommuError(
      "EBUSY",
      `domain ${record.id} is still attached to ${record.attachedGroups} group(s)`,
    );
  }
  record.freed = true;
  state.byDriverDomain.delete(record.driver);
  record.driver.free();
}
