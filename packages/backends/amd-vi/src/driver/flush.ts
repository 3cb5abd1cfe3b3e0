/**
 * Invalidation sequences of the driver (Linux `amd/iommu.c`): a domain's IOTLB range
 * (`amd_iommu_domain_flush_pages`: INVALIDATE_IOMMU_PAGES with `build_inv_address` and PDE set, to
 * every IOMMU the domain has devices on, then COMPLETION_WAIT; split into naturally aligned pieces
 * under NpCache), all of a domain (`amd_iommu_domain_flush_all`: the all-pages address), and a
 * DomainID regardless of devices (`amd_iommu_flush_tlb_domid`).
 */
import { AMD_INV_ALL_PAGES_ADDRESS, amdInvalidatePagesFields, encodeAmdCommand } from "@iommu-sim/hw";
import type { AmdDomain, AmdViContext } from "./context.js";

/** INVALIDATE_IOMMU_PAGES for `[address, address + size)` of `domainId` (`build_inv_iommu_pages`). */
export function buildInvIommuPages(address: bigint, size: bigint, domainId: number): Uint8Array {
  return encodeAmdCommand("INVALIDATE_IOMMU_PAGES", amdInvalidatePagesFields({ address, size, domainId }));
}

/** INVALIDATE_DEVTAB_ENTRY for `deviceId` (`build_inv_dte`). */
export function buildInvDte(deviceId: number): Uint8Array {
  return encodeAmdCommand("INVALIDATE_DEVTAB_ENTRY", { deviceId });
}

const lowBit = (x: bigint): number => {
  let n = 0;
  while (((x >> BigInt(n)) & 1n) === 0n) n++;
  return n;
};
const highBit = (x: bigint): number => x.toString(2).length - 1;

/**
 * Flushes `[address, address + size)` of a domain and waits (`amd_iommu_domain_flush_pages`).
 * Nothing is sent when no device of the domain is behind this IOMMU.
 */
export function domainFlushPages(ctx: AmdViContext, domain: AmdDomain, address: bigint, size: bigint): void {
  if (domain.devices.size === 0) return;
  if (!ctx.npCache) {
    ctx.cmd.queue(buildInvIommuPages(address, size, domain.id));
  } else {
    // A vIOMMU: only naturally aligned ranges, so the hypervisor never re-walks untouched PTEs.
    let a = address;
    let left = size;
    while (left > 0n) {
      const sizeAlign = highBit(left);
      const align = a === 0n ? sizeAlign : Math.min(lowBit(a), sizeAlign);
      const chunk = 1n << BigInt(align);
      ctx.cmd.queue(buildInvIommuPages(a, chunk, domain.id));
      a += chunk;
      left -= chunk;
    }
  }
  ctx.cmd.completionWait();
}

/** Flushes every page of a domain, page-directory caches included (`amd_iommu_domain_flush_all`). */
export function domainFlushAll(ctx: AmdViContext, domain: AmdDomain): void {
  domainFlushPages(ctx, domain, 0n, AMD_INV_ALL_PAGES_ADDRESS);
}

/** Flushes every page tagged `domainId` and waits (`amd_iommu_flush_tlb_domid`). */
export function flushTlbDomid(ctx: AmdViContext, domainId: number): void {
  ctx.cmd.queue(buildInvIommuPages(0n, AMD_INV_ALL_PAGES_ADDRESS, domainId));
  ctx.cmd.completionWait();
}
