/**
 * Mapping (`__iommu_map()`, `iommu_map()`, `iommu_map_sg()`, `iommu_iova_to_phys()`): checks in
 * Linux's order, page-size splitting, and rollback of everything mapped when a step fails.
 */
import { hex } from "./address.js";
import type { DomainRecord } from "./domain.js";
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY, isPagingType } from "./domain-type.js";
import type { PartialMapError } from "./driver.js";
import { asIommuError, IommuError } from "./errors.js";
import { iotlbGatherInit, iotlbGatherIsEmpty } from "./gather.js";
import { pgsizeInto } from "./pgsize.js";
import type { CoreState } from "./state.js";
import { syncGather, unmapSync } from "./unmap.js";

function partialMapped(error: unknown): number {
  if (typeof error !== "object" || error === null) return 0;
  const mapped = (error as PartialMapError).mapped;
  return typeof mapped === "number" && mapped > 0 ? mapped : 0;
}

/**
 * Maps `size` bytes at `iova` to `paddr` (`__iommu_map()`, without `iotlb_sync_map`):
 * 1. `ENODEV` when the driver cannot map or the domain has no page sizes;
 * 2. `EINVAL` for a blocking or identity domain;
 * 3. `EINVAL` when `iova`, `paddr` or `size` is not aligned to the smallest page size (size 0 maps nothing);
 * 4. one driver call per page-size run; on failure, everything this call mapped is unmapped and the
 *    driver's error propagates.
 */
export function mapRange(
  state: CoreState,
  domain: DomainRecord,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
): void {
  const ops = domain.driver;
  const mapPages = ops.mapPages;
  const paging = isPagingType(domain.type);
  if (domain.pgsizeBitmap === 0 || (paging && mapPages === undefined)) {
    throw new IommuError("ENODEV", `domain ${domain.id} cannot map (no map_pages or no page sizes)`);
  }
  if (!paging || mapPages === undefined) {
    throw new IommuError("EINVAL", `domain ${domain.id} is not a paging domain (type ${domain.type})`);
  }
  const min = domain.minPgsize;
  if (iova % min !== 0 || paddr % min !== 0 || size % min !== 0) {
    throw new IommuError(
      "EINVAL",
      `unaligned: iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)} min_pagesz ${hex(min)}`,
    );
  }
  if (iova + size > Number.MAX_SAFE_INTEGER || paddr + size > Number.MAX_SAFE_INTEGER) {
    throw new IommuError(
      "ERANGE",
      `map of ${hex(size)} bytes at iova ${hex(iova)} pa ${hex(paddr)} overflows`,
    );
  }
  const gather = domain.scratchGather;
  iotlbGatherInit(gather);
  const choice = domain.scratchChoice;
  const sizes = domain.sizes;
  let done = 0;
  try {
    while (done < size) {
      pgsizeInto(sizes, iova + done, paddr + done, size - done, choice);
      const mapped = mapPages.call(ops, iova + done, paddr + done, choice.pgsize, choice.count, prot, gather);
      if (!(mapped > 0)) {
        throw new IommuError("EIO", `domain ${domain.id}: driver mapped nothing at iova ${hex(iova + done)}`);
      }
      done += mapped;
    }
  } catch (error) {
    done += partialMapped(error);
    if (!iotlbGatherIsEmpty(gather)) syncGather(domain, gather);
    if (done > 0) unmapSync(state, domain, iova, done);
    throw asIommuError(error, `map of iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)}`);
  }
  if (!iotlbGatherIsEmpty(gather)) syncGather(domain, gather);
  if (state.events.active) {
    state.events.emit({
      type: "map",
      domainId: domain.id,
      iova: BigInt(iova),
      paddr: BigInt(paddr),
      size: BigInt(size),
    });
  }
}

/** Calls the driver's `iotlb_sync_map`; on failure unmaps `[iova, iova + size)` and rethrows. */
export function syncMap(state: CoreState, domain: DomainRecord, iova: number, size: number): void {
  const ops = domain.driver;
  if (ops.iotlbSyncMap === undefined) return;
  try {
    ops.iotlbSyncMap(iova, size);
  } catch (error) {
    if (size > 0) unmapSync(state, domain, iova, size);
    throw asIommuError(error, `iotlb_sync_map of iova ${hex(iova)} size ${hex(size)}`);
  }
}

/** `iommu_map()`: {@link mapRange} then `iotlb_sync_map`. */
export function mapSync(
  state: CoreState,
  domain: DomainRecord,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
): void {
  mapRange(state, domain, iova, paddr, size, prot);
  syncMap(state, domain, iova, size);
}

/** One scatterlist entry as the core sees it. */
export interface SgRun {
  readonly paddr: number;
  readonly length: number;
  readonly busAddress: boolean;
}

/**
 * `iommu_map_sg()`: maps the entries back to back from `iova`, merging physically contiguous
 * entries into one map call and skipping PCI peer-to-peer bus addresses; one `iotlb_sync_map` at
 * the end. On failure unmaps everything it mapped and rethrows. Returns bytes mapped.
 */
export function mapSg(
  state: CoreState,
  domain: DomainRecord,
  iova: number,
  sg: readonly SgRun[],
  prot: number,
): number {
  let mapped = 0;
  let start = 0;
  let len = 0;
  try {
    for (const entry of sg) {
      if (len > 0 && entry.paddr !== start + len) {
        mapRange(state, domain, iova + mapped, start, len, prot);
        mapped += len;
        len = 0;
      }
      if (entry.busAddress) continue;
      if (len > 0) len += entry.length;
      else {
        start = entry.paddr;
        len = entry.length;
      }
    }
    if (len > 0) {
      mapRange(state, domain, iova + mapped, start, len, prot);
      mapped += len;
    }
  } catch (error) {
    if (mapped > 0) unmapSync(state, domain, iova, mapped);
    throw error;
  }
  syncMap(state, domain, iova, mapped);
  return mapped;
}

/**
 * `iommu_iova_to_phys()`: the address itself for identity domains, 0 for blocking domains, else
 * the driver's answer (0 = not mapped).
 */
export function iovaToPhys(domain: DomainRecord, iova: number): number {
  if (domain.type === IOMMU_DOMAIN_IDENTITY) return iova;
  if (domain.type === IOMMU_DOMAIN_BLOCKED) return 0;
  const ops = domain.driver;
  return ops.iovaToPhys === undefined ? 0 : ops.iovaToPhys(iova);
}
