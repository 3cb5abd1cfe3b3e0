/**
 * Protection domains: paging domains over an AMD v1 table with a fixed top level (DTE Mode from
 * the IOVA width), identity domains (Mode 0, IR/IW: pass-through) and blocking domains (V = 1 only).
 * Map, unmap and iova-to-phys go to the table in memory; unmaps gather the range and `iotlbSync`
 * flushes it with INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT (Linux `amd_iommu_map_pages`,
 * `amd_iommu_unmap_pages`, `amd_iommu_iotlb_gather_add_page`, `amd_iommu_iotlb_sync`,
 * `amd_iommu_flush_iotlb_all`, `amd_iommu_iotlb_sync_map`).
 */
import { createPageTable, type PageTable } from "@iommu-sim/hw";
import {
  asIommuError,
  IommuError,
  type IotlbGather,
  iotlbGatherAddRange,
  iotlbGatherInit,
  iotlbGatherIsDisjoint,
  iotlbGatherIsEmpty,
} from "@iommu-sim/iommu";
import { attachDevice } from "./attach.js";
import type { AmdDevData, AmdDomain, AmdDomainKind, AmdViContext } from "./context.js";
import { domainFlushAll, domainFlushPages } from "./flush.js";

/** Allocates a domain of `kind`: an ID for paging and identity domains, a table for paging ones. */
export function createProtectionDomain(ctx: AmdViContext, kind: AmdDomainKind): AmdDomain {
  const id = kind === "blocked" ? 0 : ctx.domainIds.alloc();
  let table: PageTable | undefined;
  if (kind === "paging") {
    try {
      table = createPageTable("amd-v1", {
        memory: ctx.memory,
        allocator: ctx.tableAllocator,
        ias: ctx.ias,
        oas: ctx.oas,
      });
    } catch (error) {
      ctx.domainIds.free(id);
      throw asIommuError(error, `${ctx.name}: allocating a page table`);
    }
  }
  const devices = new Set<AmdDevData>();
  const base: AmdDomain = {
    kind,
    id,
    table,
    devices,
    attachDevice: (device) => attachDevice(ctx, domain, device),
    free() {
      if (devices.size > 0)
        throw new IommuError("EBUSY", `${ctx.name}: domain ${id} still has devices attached`);
      if (!ctx.domains.delete(domain)) return;
      table?.free();
      if (id !== 0) ctx.domainIds.free(id);
    },
  };
  const domain: AmdDomain = table === undefined ? base : withPaging(ctx, base, table);
  ctx.domains.add(domain);
  return domain;
}

function withPaging(ctx: AmdViContext, base: AmdDomain, table: PageTable): AmdDomain {
  const domain: AmdDomain = {
    ...base,
    pageTable: table,
    pgsizeBitmap: ctx.pgsizeBitmap,
    geometry: { apertureStart: 0, apertureEnd: 2 ** ctx.ias - 1, forceAperture: true },
    attachDevice: (device) => attachDevice(ctx, domain, device),
    free() {
      if (base.devices.size > 0)
        throw new IommuError("EBUSY", `${ctx.name}: domain ${base.id} still has devices attached`);
      if (!ctx.domains.delete(domain)) return;
      table.free();
      ctx.domainIds.free(base.id);
    },
    mapPages(iova, paddr, pgsize, pgcount, prot) {
      try {
        table.mapPages(iova, paddr, pgsize, pgcount, prot);
      } catch (error) {
        // The table undoes a failed call itself: nothing of it stays mapped.
        throw asIommuError(error, `${ctx.name}: map`);
      }
      return pgsize * pgcount;
    },
    unmapPages(iova, pgsize, pgcount, gather) {
      const size = table.unmapPages(iova, pgsize, pgcount);
      if (size === 0) return 0;
      // Under NpCache a disjoint range is flushed first, so one flush never covers untouched PTEs.
      if (ctx.npCache && iotlbGatherIsDisjoint(gather, iova, size)) {
        sync(gather);
        const queued = gather.queued;
        iotlbGatherInit(gather);
        gather.queued = queued;
      }
      iotlbGatherAddRange(gather, iova, size);
      return size;
    },
    iovaToPhys: (iova) => Number(table.iovaToPhys(iova)),
    iotlbSync: (gather) => sync(gather),
    flushIotlbAll: () => domainFlushAll(ctx, domain),
    iotlbSyncMap(iova, size) {
      // Only a caching-non-present (virtualized) IOMMU needs new mappings flushed.
      if (ctx.npCache) domainFlushPages(ctx, domain, BigInt(iova), BigInt(size));
    },
  };
  const sync = (gather: IotlbGather): void => {
    if (iotlbGatherIsEmpty(gather)) return;
    domainFlushPages(ctx, domain, BigInt(gather.start), BigInt(gather.end - gather.start + 1));
  };
  return domain;
}
