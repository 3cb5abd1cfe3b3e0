/**
 * Default domains: which type a group gets at probe, allocation with Linux's fallback to DMA, and
 * the identity mappings of direct reserved regions (drivers/iommu/iommu.c
 * `iommu_get_def_domain_type()`, `probe_get_default_domain_type()`,
 * `iommu_group_alloc_default_domain()`, `iommu_create_device_direct_mappings()`).
 */
import type { IommuBackend } from "./backend.js";
import type { IommuDevice } from "./device.js";
import type { DomainRecord } from "./domain.js";
import { allocDomain } from "./domain-alloc.js";
import { type DomainType, domainTypeName, IOMMU_DOMAIN_DMA, isDmaType } from "./domain-type.js";
import type { GroupRecord } from "./group.js";
import { iovaToPhys, mapSync } from "./map.js";
import { type CoreState, logMessage } from "./state.js";

/**
 * A device's required default-domain type (`iommu_get_def_domain_type()`): DMA for untrusted PCI
 * devices, else the driver's `defDomainType`, else `undefined` (no preference).
 */
export function deviceDefDomainType(backend: IommuBackend, device: IommuDevice): DomainType | undefined {
  if (device.busType === "pci" && device.untrusted) return IOMMU_DOMAIN_DMA;
  return backend.driver.defDomainType?.(device);
}

/**
 * The type of a group's default domain: the common requirement of its devices, or the global
 * default when none has one or two disagree (with Linux's warning).
 */
export function groupDefDomainType(state: CoreState, backend: IommuBackend, group: GroupRecord): DomainType {
  let type: DomainType | undefined;
  let first: IommuDevice | undefined;
  for (const device of group.devices) {
    const required = deviceDefDomainType(backend, device);
    if (required === undefined) continue;
    if (type !== undefined && first !== undefined && type !== required) {
      logMessage(
        state,
        "warn",
        `Device ${device.name} needs domain type ${domainTypeName(required)}, but device ${first.name} in the same iommu group requires type ${domainTypeName(type)} - using default`,
      );
      return state.policy.type;
    }
    if (first === undefined) {
      first = device;
      type = required;
    }
  }
  return type ?? state.policy.type;
}

function tryAlloc(
  state: CoreState,
  backend: IommuBackend,
  type: DomainType,
  device: IommuDevice,
): DomainRecord | null {
  try {
    return allocDomain(state, backend, type, device);
  } catch (error) {
    logMessage(
      state,
      "warn",
      `${device.name}: allocating a ${domainTypeName(type)} domain failed: ${String(error)}`,
    );
    return null;
  }
}

/**
 * Allocates a group's default domain: the chosen type, else DMA with a warning; `undefined` (and a
 * warning) when even that fails: the group then has no default domain.
 */
export function allocDefaultDomain(
  state: CoreState,
  backend: IommuBackend,
  group: GroupRecord,
): DomainRecord | undefined {
  const device = group.devices[0]!;
  const type = groupDefDomainType(state, backend, group);
  let domain = tryAlloc(state, backend, type, device);
  if (domain === null && type !== IOMMU_DOMAIN_DMA) {
    domain = tryAlloc(state, backend, IOMMU_DOMAIN_DMA, device);
    if (domain !== null) {
      logMessage(
        state,
        "warn",
        `${device.name}: failed to allocate default IOMMU domain of type ${domainTypeName(type)}; falling back to IOMMU_DOMAIN_DMA`,
      );
    }
  }
  if (domain === null) {
    logMessage(state, "warn", `group ${group.id}: no default domain`);
    return undefined;
  }
  return domain;
}

/**
 * Identity-maps a device's direct reserved regions into a DMA-API domain
 * (`iommu_create_device_direct_mappings()`): each region widened to the smallest page size (start
 * rounded up, end rounded up), pages already mapped skipped, contiguous unmapped runs mapped with
 * the region's prot, then the whole IOTLB flushed. Other domain types are left alone.
 */
export function createDirectMappings(
  state: CoreState,
  backend: IommuBackend,
  domain: DomainRecord | undefined,
  device: IommuDevice,
): void {
  if (domain === undefined || !isDmaType(domain.type) || domain.minPgsize === 0) return;
  const pg = domain.minPgsize;
  const regions = backend.driver.getResvRegions(device);
  let any = false;
  for (const region of regions) {
    if (region.type !== "direct" && region.type !== "direct-relaxable") continue;
    any = true;
    const start = Math.ceil(region.start / pg) * pg;
    const end = Math.ceil((region.start + region.length) / pg) * pg;
    let run = 0;
    for (let addr = start; addr <= end; addr += pg) {
      const mapped = addr === end || iovaToPhys(domain, addr) !== 0;
      if (!mapped) {
        run += pg;
        continue;
      }
      if (run > 0) {
        mapSync(state, domain, addr - run, addr - run, run, region.prot);
        run = 0;
      }
    }
  }
  if (any) domain.driver.flushIotlbAll?.();
}
