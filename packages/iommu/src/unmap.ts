/**
 * Unmapping (`__iommu_unmap()`, `iommu_unmap()`, `iommu_unmap_fast()`, `iommu_iotlb_sync()`).
 * Unmap never fails: it returns the bytes torn down, which may be fewer than asked (a hole) or more
 * (a driver tore down a larger page whole).
 */
import { hex } from "./address.js";
import type { DomainRecord } from "./domain.js";
import { isPagingType } from "./domain-type.js";
import { type IotlbGather, iotlbGatherInit } from "./gather.js";
import { pgsizeInto } from "./pgsize.js";
import { type CoreState, logMessage } from "./state.js";

/**
 * Unmaps `size` bytes at `iova` into `gather`, without syncing (`__iommu_unmap()`). Returns 0 for a
 * domain that cannot unmap, or an `iova`/`size` not aligned to the smallest page size.
 */
export function unmapRange(
  state: CoreState,
  domain: DomainRecord,
  iova: number,
  size: number,
  gather: IotlbGather,
): number {
  const ops = domain.driver;
  const unmapPages = ops.unmapPages;
  if (unmapPages === undefined || domain.pgsizeBitmap === 0 || !isPagingType(domain.type)) {
    logMessage(state, "warn", `unmap: domain ${domain.id} cannot unmap`);
    return 0;
  }
  const min = domain.minPgsize;
  if (iova % min !== 0 || size % min !== 0) {
    logMessage(state, "warn", `unaligned: iova ${hex(iova)} size ${hex(size)} min_pagesz ${hex(min)}`);
    return 0;
  }
  const choice = domain.scratchChoice;
  const sizes = domain.sizes;
  let unmapped = 0;
  while (unmapped < size) {
    const at = iova + unmapped;
    pgsizeInto(sizes, at, at, size - unmapped, choice);
    const done = unmapPages.call(ops, at, choice.pgsize, choice.count, gather);
    if (!(done > 0)) break;
    unmapped += done;
  }
  return unmapped;
}

/** Syncs what `gather` collected and empties it (`iommu_iotlb_sync()`). */
export function syncGather(domain: DomainRecord, gather: IotlbGather): void {
  const ops = domain.driver;
  if (ops.iotlbSync !== undefined) ops.iotlbSync(gather);
  iotlbGatherInit(gather);
}

/** Unmaps and syncs (`iommu_unmap()`), emitting the `unmap` tracepoint. Returns bytes unmapped. */
export function unmapSync(state: CoreState, domain: DomainRecord, iova: number, size: number): number {
  const gather = domain.scratchGather;
  iotlbGatherInit(gather);
  const unmapped = unmapRange(state, domain, iova, size, gather);
  syncGather(domain, gather);
  if (state.events.active) {
    state.events.emit({
      type: "unmap",
      domainId: domain.id,
      iova: BigInt(iova),
      size: BigInt(size),
      unmappedSize: BigInt(unmapped),
    });
  }
  return unmapped;
}
