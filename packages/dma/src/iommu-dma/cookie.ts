/**
 * The DMA cookie of a DMA-API domain (drivers/iommu/dma-iommu.c `struct iommu_dma_cookie`,
 * `iommu_dma_init_domain()`, `__iommu_dma_map()`, `__iommu_dma_unmap()`, `iommu_dma_get_msi_page()`):
 * an IOVA allocator with its range caches, the flush queue of lazy domains, the domain's reserved
 * regions kept out of the allocator, the MSI doorbell pages, and the record of every live mapping
 * (Linux finds a mapping's extent from the handle and the size the driver passes; keeping the
 * record lets a misusing driver be reported by DMA-API debug without corrupting the allocator).
 */
import {
  createIotlbGather,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
  IommuError,
  iotlbGatherInit,
  lowBit,
  type SgEntry,
  toAddr,
} from "@iommu-sim/iommu";
import { createFlushQueue, type FlushQueue } from "../flush-queue/flush-queue.js";
import { createIovaDomain, type IovaDomain } from "../iova/iova-domain.js";
import { type DmaIovaLimit, iommuDmaAllocIovaPfn, iommuDmaLimit } from "../iova/policy.js";
import { createIovaRcache, type IovaRcache, iovaAllocationPages } from "../iova/rcache.js";
import type { DmaContext, DmaDeviceState } from "../ops/ops.js";

/** One live mapping of a DMA domain, keyed by its granule-aligned IOVA. */
export interface IommuDmaMapping {
  /** Granule-aligned IOVA. */
  readonly iova: number;
  /** Bytes mapped in the IOMMU. */
  readonly len: number;
  /** Granules the IOVA allocation holds (rounded as the policy rounds). */
  readonly pages: number;
  /** Physical address of the swiotlb bounce buffer the mapping points at, or -1. */
  bounce: number;
}

/** A device access that reached an unmapped IOVA whose IOTLB flush is still pending. */
export interface PendingUnmap {
  /** Virtual time of the unmap. */
  readonly at: number;
}

/** IOVA accounting of one cookie. */
export interface CookieIovaUse {
  /** Ranges allocated to live mappings (and MSI pages). */
  readonly inUse: number;
  /** Ranges parked in the range caches. */
  readonly cached: number;
  /** Ranges waiting in the flush queue. */
  readonly queued: number;
}

/** The DMA cookie of one DMA-API domain. */
export interface IommuDmaCookie {
  readonly domain: IommuDomain;
  readonly iovad: IovaDomain;
  readonly rcache: IovaRcache;
  /** Smallest page size of the domain. */
  readonly granule: number;
  /** Lazy invalidation (DMA_FQ that was not demoted). */
  readonly lazy: boolean;
  /** The domain was DMA_FQ but is used as DMA (the device lacks `deferred-flush`). */
  readonly demoted: boolean;
  /** The flush queue of a lazy domain. */
  readonly fq: FlushQueue | undefined;
  /** Live mappings by granule-aligned IOVA. */
  readonly mappings: Map<number, IommuDmaMapping>;
  /** Unmapped ranges whose flush is pending, by pfn. */
  readonly pending: Map<number, PendingUnmap>;
  /** `__iommu_dma_map()`: an IOVA below `mask`, mapped to `phys`; -1 on failure (nothing left behind). */
  map(st: DmaDeviceState, phys: number, size: number, prot: number, mask: bigint, cpu: number): number;
  /**
   * The IOVA half of `iommu_dma_map_sg()`: one range of `total` bytes below `mask`, mapped run by run
   * with `iommu_map_sg()`; returns its IOVA or -1 (nothing left behind).
   */
  mapSg(
    st: DmaDeviceState,
    runs: readonly SgEntry[],
    total: number,
    prot: number,
    mask: bigint,
    cpu: number,
  ): number;
  /** The live mapping containing `addr`, if any. */
  lookup(addr: number): IommuDmaMapping | undefined;
  /**
   * `__iommu_dma_unmap()` of the mapping that starts at `addr`'s granule: unmap, then sync and free
   * (strict) or queue (lazy). Returns the record, or `undefined` (with a warning) when none starts there.
   */
  unmap(device: IommuDevice, addr: number, cpu: number): IommuDmaMapping | undefined;
  /** The pending unmap covering `iova`, if the range is unmapped but not yet flushed. */
  pendingAt(iova: number): PendingUnmap | undefined;
  /** `iommu_dma_prepare_msi()`: the IOVA through which the device reaches the doorbell at `phys`. */
  prepareMsi(st: DmaDeviceState, phys: number, cpu: number): number;
  /** IOVA accounting. */
  iovaUse(): CookieIovaUse;
}

/**
 * `iommu_dma_init_domain()` for `domain`, first used by `device`: granule = smallest page size;
 * base pfn = max(1, aperture start); every reserved region but software MSI windows reserved in the
 * allocator, hardware MSI windows pre-populated as identity doorbell pages; a flush queue for DMA_FQ,
 * or the domain demoted to DMA when the device's IOMMU lacks `deferred-flush`.
 * @throws IommuError EFAULT when the aperture leaves no IOVA space, EINVAL for a domain without pages.
 */
export function createIommuDmaCookie(
  ctx: DmaContext,
  domain: IommuDomain,
  device: IommuDevice,
): IommuDmaCookie {
  const { core, counters } = ctx;
  if (domain.pgsizeBitmap === 0) throw new IommuError("EINVAL", `domain ${domain.id} has no page sizes`);
  const shift = lowBit(domain.pgsizeBitmap);
  const granule = 2 ** shift;
  const geo = domain.geometry;
  const apStart = geo ? toAddr(geo.apertureStart, "aperture start") : 0;
  const apEnd = geo
    ? Number(geo.apertureEnd > 2n ** 53n - 1n ? 2n ** 53n - 1n : geo.apertureEnd)
    : 2 ** 53 - 1;
  const basePfn = Math.max(1, Math.floor(apStart / granule));
  const limitPfn = Math.floor(apEnd / granule);
  if (basePfn > limitPfn) {
    throw new IommuError("EFAULT", `specified DMA range outside IOMMU capability (domain ${domain.id})`);
  }
  const iovad = createIovaDomain({
    granule,
    startPfn: basePfn,
    limit: limitPfn,
    pageSize: Math.max(4096, granule),
  });
  const rcache = createIovaRcache(iovad, { cpus: ctx.cpus, clock: core.clock });
  const msiPages = new Map<number, number>();
  const group = core.groupGet(device);
  for (const region of group ? core.groupResvRegions(group) : []) {
    if (region.type === "sw-msi") continue;
    const start = Number(region.start);
    const end = Number(region.start + region.length);
    const lo = Math.floor(start / granule);
    const hi = Math.ceil(end / granule) - 1;
    if (hi < basePfn || lo > limitPfn) continue;
    iovad.reserveIova(Math.max(lo, basePfn), Math.min(hi, limitPfn));
    if (region.type === "msi") {
      for (let pfn = lo; pfn <= hi; pfn++) msiPages.set(pfn * granule, pfn * granule);
    }
  }
  const reservedNodes = iovad.nodeCount;
  const wantsFq = domain.type === IOMMU_DOMAIN_DMA_FQ;
  const lazy = wantsFq && core.capable(device, "deferred-flush");
  if (wantsFq && !lazy) {
    ctx.warn(device, `domain ${domain.id}: DMA-FQ demoted to DMA (the IOMMU lacks deferred-flush)`);
  }
  const mappings = new Map<number, IommuDmaMapping>();
  const pending = new Map<number, PendingUnmap>();
  const gather = createIotlbGather();
  const limits = new Map<bigint, DmaIovaLimit>();
  let fqCpu = 0;

  const flushAll = (): void => {
    if (domain.freed) return;
    core.flushIotlbAll(domain);
    counters.flushAlls++;
    const n = pending.size;
    counters.flushedRanges += n;
    if (n > counters.maxRangesPerFlush) counters.maxRangesPerFlush = n;
    const now = core.now();
    for (const entry of pending.values()) {
      const window = now - entry.at;
      counters.staleUnmaps++;
      counters.staleTotalNs += window;
      if (window > counters.staleMaxNs) counters.staleMaxNs = window;
    }
    pending.clear();
  };
  const fq = lazy
    ? createFlushQueue(
        {
          flushAll,
          free: (pfn, pages) => rcache.freeIovaFast(pfn, pages, fqCpu),
          now: () => core.now(),
          setTimer: (at, callback) => {
            core.clock.setTimer(Math.max(0, at - core.now()), () => {
              fqCpu = 0;
              callback();
            });
          },
        },
        { cpus: ctx.cpus, ...ctx.flushQueue },
      )
    : undefined;

  const limitFor = (mask: bigint): DmaIovaLimit => {
    let limit = limits.get(mask);
    if (limit === undefined) {
      limit = iommuDmaLimit(
        { dmaMask: mask, forceAperture: geo?.forceAperture ?? false, apertureEnd: BigInt(apEnd) },
        shift,
      );
      limits.set(mask, limit);
    }
    return limit;
  };

  const cookie: IommuDmaCookie = {
    domain,
    iovad,
    rcache,
    granule,
    lazy,
    demoted: wantsFq && !lazy,
    fq,
    mappings,
    pending,
    map(st, phys, size, prot, mask, cpu) {
      const off = phys % granule;
      if (off !== 0 && st.minAlignMask > granule - 1) {
        ctx.warn(st.device, `min_align_mask ${st.minAlignMask} exceeds the IOVA granule ${granule}`);
        return -1;
      }
      const len = Math.ceil((size + off) / granule) * granule;
      const iovaLen = len / granule;
      const pfn = iommuDmaAllocIovaPfn(rcache, iovaLen, limitFor(mask), st.policy, cpu);
      if (pfn === 0) return -1;
      const pages = iovaAllocationPages(iovaLen);
      const iova = pfn * granule;
      try {
        core.map(domain, iova, phys - off, len, prot);
      } catch (error) {
        rcache.freeIovaFast(pfn, pages, cpu);
        ctx.warn(st.device, `iommu_map of ${len} bytes at ${iova.toString(16)} failed: ${String(error)}`);
        return -1;
      }
      mappings.set(iova, { iova, len, pages, bounce: -1 });
      return iova + off;
    },
    mapSg(st, runs, total, prot, mask, cpu) {
      const iovaLen = total / granule;
      const pfn = iommuDmaAllocIovaPfn(rcache, iovaLen, limitFor(mask), st.policy, cpu);
      if (pfn === 0) return -1;
      const pages = iovaAllocationPages(iovaLen);
      const iova = pfn * granule;
      let mapped: number;
      try {
        mapped = Number(core.mapSg(domain, iova, runs, prot));
      } catch (error) {
        rcache.freeIovaFast(pfn, pages, cpu);
        ctx.warn(
          st.device,
          `iommu_map_sg of ${total} bytes at ${iova.toString(16)} failed: ${String(error)}`,
        );
        return -1;
      }
      if (mapped < total) {
        if (mapped > 0) core.unmap(domain, iova, mapped);
        rcache.freeIovaFast(pfn, pages, cpu);
        return -1;
      }
      mappings.set(iova, { iova, len: total, pages, bounce: -1 });
      return iova;
    },
    lookup(addr) {
      const direct = mappings.get(addr - (addr % granule));
      if (direct !== undefined) return direct;
      const node = iovad.findIova(Math.floor(addr / granule));
      if (node === null) return undefined;
      const rec = mappings.get(node.pfnLo * granule);
      return rec !== undefined && addr < rec.iova + rec.len ? rec : undefined;
    },
    unmap(dev, addr, cpu) {
      const key = addr - (addr % granule);
      const rec = mappings.get(key);
      if (rec === undefined) {
        ctx.warn(dev, `unmap of ${addr.toString(16)}: no mapping starts there (iova_to_phys is 0)`);
        return undefined;
      }
      mappings.delete(key);
      iotlbGatherInit(gather);
      gather.queued = lazy;
      const unmapped = Number(core.unmapFast(domain, rec.iova, rec.len, gather));
      if (unmapped !== rec.len) {
        ctx.warn(dev, `unmapped ${unmapped} bytes of ${rec.len} at ${rec.iova.toString(16)}`);
      }
      const pfn = rec.iova / granule;
      if (fq === undefined) {
        core.iotlbSync(domain, gather);
        counters.iotlbSyncs++;
        rcache.freeIovaFast(pfn, rec.pages, cpu);
      } else {
        fqCpu = cpu;
        fq.queueIova(pfn, rec.pages, cpu);
        fqCpu = 0;
        pending.set(pfn, { at: core.now() });
      }
      return rec;
    },
    pendingAt(iova) {
      if (pending.size === 0) return undefined;
      const node = iovad.findIova(Math.floor(iova / granule));
      return node === null ? undefined : pending.get(node.pfnLo);
    },
    prepareMsi(st, phys, cpu) {
      const page = phys - (phys % granule);
      const known = msiPages.get(page);
      if (known !== undefined) return known + (phys - page);
      const pfn = iommuDmaAllocIovaPfn(rcache, 1, limitFor(st.device.dmaMask), st.policy, cpu);
      if (pfn === 0) throw new IommuError("ENOMEM", `no IOVA for the MSI doorbell at ${phys.toString(16)}`);
      try {
        core.map(domain, pfn * granule, page, granule, IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO);
      } catch (error) {
        rcache.freeIovaFast(pfn, 1, cpu);
        throw error;
      }
      msiPages.set(page, pfn * granule);
      return pfn * granule + (phys - page);
    },
    iovaUse() {
      const cached = rcache.stats().cachedRanges;
      const queued = fq?.stats().pending ?? 0;
      return { inUse: iovad.nodeCount - reservedNodes - cached - queued, cached, queued };
    },
  };
  return cookie;
}
