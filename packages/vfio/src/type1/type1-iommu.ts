/**
 * The type1 IOMMU driver of one container (`struct vfio_iommu` in drivers/vfio/vfio_iommu_type1.c)
 * over the IOMMU core: one container-owned UNMANAGED domain per IOMMU instance, groups attached to
 * them with the checks of `vfio_iommu_type1_attach_group`, existing mappings replayed into each new
 * domain (`vfio_iommu_replay`), the valid IOVA list (apertures minus reserved regions), and the
 * MAP/UNMAP/dirty logic of {@link createDmaList} and {@link createDirtyTracker} wired to the domains
 * through {@link createPinningBackend}.
 */
import {
  IOMMU_CACHE,
  IOMMU_DOMAIN_UNMANAGED,
  type IommuCore,
  type IommuDomain,
  IommuError,
  type IommuGroup,
} from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import { VfioExtension } from "../uapi/constants.js";
import type { Type1InfoState } from "../uapi/type1-info.js";
import { hex, U64_MAX } from "../util/u64.js";
import { createDirtyTracker, type DirtyTracker } from "./dirty.js";
import { createDmaList, type DmaList, type DmaMapRequest, type DmaUnmapRequest } from "./dma-list.js";
import { createPinningBackend, type DomainMapper } from "./pin-map.js";

/** `PAGE_SIZE` of the simulated kernel: type1 never reports page sizes below it. */
const PAGE_SIZE = 4096n;

/**
 * Which pages `VFIO_IOMMU_DIRTY_PAGES` reports: `"all"` is the kernel's behaviour for any group that
 * has not declared a pinned-page dirty scope (every vfio-pci device): every page of every
 * IOMMU-mapped range is dirty. `"written"` models a device with such a scope: only the pages its DMA
 * wrote through {@link Type1Iommu.markDirty} (the container's `deviceDma`) are reported.
 */
export type DirtyScope = "all" | "written";

/** Options of {@link createType1Iommu}: the container's driver instance and the module parameters. */
export interface Type1IommuOptions {
  /** The IOMMU core the domains live in. */
  core: IommuCore;
  /** `VFIO_TYPE1v2_IOMMU` (no bisecting unmaps, dirty tracking) rather than `VFIO_TYPE1_IOMMU`. */
  v2: boolean;
  /** `dma_entry_limit` module parameter. @default 65535 */
  dmaEntryLimit?: number;
  /** `allow_unsafe_interrupts` module parameter: attach groups without MSI isolation. @default false */
  allowUnsafeInterrupts?: boolean;
  /**
   * Whether a group's MSIs are isolated (interrupt remapping or an MSI-isolating irq domain).
   * @default every device of the group has the `intr-remap` capability
   */
  msiIsolated?: (group: IommuGroup) => boolean;
  /** @default "all" (the kernel's behaviour for devices without a pinned-page dirty scope) */
  dirtyScope?: DirtyScope;
}

/** The type1 driver state of one container, from {@link createType1Iommu}. */
export interface Type1Iommu {
  /** TYPE1v2 semantics. */
  readonly v2: boolean;
  /** The mapping list (`dma_list`, `dma_avail`, `pgsize_bitmap`, `iova_list`). */
  readonly list: DmaList<SimProcess>;
  /** Dirty tracking (`VFIO_IOMMU_DIRTY_PAGES`). */
  readonly dirty: DirtyTracker<SimProcess>;
  /** The container's domains, one per IOMMU instance, in creation order. */
  readonly domains: readonly IommuDomain[];
  /** Attached groups. */
  readonly groups: readonly IommuGroup[];
  /**
   * `vfio_iommu_type1_attach_group`. `EINVAL`: group already attached; new aperture disjoint from the
   * valid IOVA range or leaving a mapping outside; a reserved region (other than direct-relaxable)
   * over a mapping; no valid IOVA left. `EPERM`: MSIs not isolated and unsafe interrupts not allowed.
   * Errors of domain allocation, attach and replay propagate. On failure the group is back on its
   * blocking domain and nothing else changed.
   */
  attachGroup(group: IommuGroup): void;
  /**
   * `vfio_iommu_type1_detach_group`: the group returns to its blocking domain; a domain left without
   * groups is freed; when it was the last one every mapping is unmapped and unpinned. `EINVAL` for a
   * group that is not attached.
   */
  detachGroup(group: IommuGroup): void;
  /** `VFIO_IOMMU_MAP_DMA` for `process` (the mapping's mm). See {@link DmaList.map}. */
  map(request: Omit<DmaMapRequest<SimProcess>, "owner">, process: SimProcess): void;
  /** `VFIO_IOMMU_UNMAP_DMA` for `process`; returns bytes unmapped. See {@link DmaList.unmap}. */
  unmap(request: Omit<DmaUnmapRequest<SimProcess>, "owner">, process: SimProcess): bigint;
  /** What `VFIO_IOMMU_GET_INFO` reports. */
  infoState(): Type1InfoState;
  /** `VFIO_CHECK_EXTENSION` answered by this driver instance (see {@link type1CheckExtension}). */
  checkExtension(extension: number): number;
  /** Marks `[iova, iova + length)` written by a device (see {@link DirtyScope}); ignored unless tracking. */
  markDirty(iova: number, length: number): void;
  /** Detaches every group (the container is released): everything unmapped, unpinned and freed. */
  release(): void;
}

/**
 * `vfio_iommu_type1_check_extension`: 1 for TYPE1, TYPE1v2, UNMAP_ALL and UPDATE_VADDR;
 * DMA_CC_IOMMU is 0 without a driver instance, else 1 iff every domain enforces cache coherency.
 * TYPE1_NESTING is 0: nesting is not modelled (the kernel answered 1 until it dropped the mode).
 */
export function type1CheckExtension(extension: number, iommu: Type1Iommu | undefined): number {
  switch (extension) {
    case VfioExtension.TYPE1_IOMMU:
    case VfioExtension.TYPE1v2_IOMMU:
    case VfioExtension.UNMAP_ALL:
    case VfioExtension.UPDATE_VADDR:
      return 1;
    case VfioExtension.DMA_CC_IOMMU:
      return iommu ? iommu.checkExtension(extension) : 0;
    default:
      return 0;
  }
}

interface VfioDomain {
  readonly domain: IommuDomain;
  readonly groups: IommuGroup[];
  readonly enforceCoherency: boolean;
  readonly mapper: DomainMapper;
}

interface Range {
  start: bigint;
  end: bigint;
}

/** Removes `[start, end]` from a sorted list of inclusive ranges. */
function subtract(ranges: Range[], start: bigint, end: bigint): Range[] {
  const out: Range[] = [];
  for (const r of ranges) {
    if (r.end < start || r.start > end) {
      out.push(r);
      continue;
    }
    if (r.start < start) out.push({ start: r.start, end: start - 1n });
    if (r.end > end) out.push({ start: end + 1n, end: r.end });
  }
  return out;
}

/**
 * Creates the type1 driver state of a container (`vfio_iommu_type1_open`): no domains, no
 * mappings, `dma_avail` at the entry limit, tracking off.
 */
export function createType1Iommu(options: Type1IommuOptions): Type1Iommu {
  const { core, v2 } = options;
  const allowUnsafe = options.allowUnsafeInterrupts ?? false;
  const msiIsolated =
    options.msiIsolated ?? ((group: IommuGroup) => group.devices.every((d) => core.capable(d, "intr-remap")));
  const dirtyScope = options.dirtyScope ?? "all";
  const domains: VfioDomain[] = [];

  const backend = createPinningBackend<SimProcess>({
    processOf: (owner) => {
      if (!owner) throw new IommuError("ENODEV", "MAP_DMA: no mm to pin from");
      return owner;
    },
    domains: () => domains.map((d) => d.mapper),
  });
  const list = createDmaList<SimProcess>({
    backend,
    v2,
    ...(options.dmaEntryLimit !== undefined ? { dmaEntryLimit: options.dmaEntryLimit } : {}),
  });
  const dirty = createDirtyTracker<SimProcess>({ list, allPagesDirty: () => dirtyScope === "all" });

  const mapperOf = (domain: IommuDomain): DomainMapper => ({
    map: (iova, pa, size, prot) => core.map(domain, iova, pa, size, prot),
    unmap: (iova, size) => {
      core.unmap(domain, iova, size);
    },
  });

  const groupRegions = (group: IommuGroup): Range[] =>
    core
      .groupResvRegions(group)
      .filter((r) => r.type !== "direct-relaxable")
      .map((r) => ({ start: r.start, end: r.start + r.length - 1n }));

  /** The valid IOVA list for a set of domains and groups (`vfio_iommu_aper_resize` + `resv_exclude`). */
  const iovaList = (doms: readonly IommuDomain[], groups: readonly IommuGroup[]): Range[] => {
    let start = 0n;
    let end = U64_MAX;
    for (const d of doms) {
      if (!d.geometry) continue;
      if (d.geometry.apertureStart > start) start = d.geometry.apertureStart;
      if (d.geometry.apertureEnd < end) end = d.geometry.apertureEnd;
    }
    if (start > end) return [];
    let ranges: Range[] = [{ start, end }];
    for (const g of groups) for (const r of groupRegions(g)) ranges = subtract(ranges, r.start, r.end);
    return ranges;
  };

  /** `vfio_update_pgsize_bitmap`: the page sizes of every domain, never below `PAGE_SIZE`. */
  const updatePgsizeBitmap = (): void => {
    if (domains.length === 0) return;
    let bitmap = U64_MAX;
    for (const d of domains) bitmap &= BigInt(d.domain.pgsizeBitmap);
    if ((bitmap & (PAGE_SIZE - 1n)) !== 0n) bitmap = (bitmap & ~(PAGE_SIZE - 1n)) | PAGE_SIZE;
    list.setPgsizeBitmap(bitmap === 0n ? PAGE_SIZE : bitmap);
  };

  const allGroups = (): IommuGroup[] => domains.flatMap((d) => d.groups);

  /** `vfio_iommu_aper_conflict`: the new aperture leaves the current range or strands a mapping. */
  const apertureConflict = (start: bigint, end: bigint): boolean => {
    const ranges = list.iovaRanges;
    const first = ranges[0];
    const last = ranges[ranges.length - 1];
    if (!first || !last) return false;
    if (start > last.end || end < first.start) return true;
    if (start > first.start && list.find(first.start, start - first.start)) return true;
    if (end < last.end && list.find(end + 1n, last.end - end)) return true;
    return false;
  };

  /** `vfio_iommu_replay`: maps every existing mapping into `target`, from what `source` translates. */
  const replay = (source: IommuDomain, target: VfioDomain): void => {
    const step = list.minPageSize;
    const done: { iova: number; size: number }[] = [];
    try {
      for (const dma of list.mappings()) {
        if (!dma.iommuMapped) continue;
        const prot = dma.prot | IOMMU_CACHE;
        let runIova = dma.iova;
        let runPa = Number(core.iovaToPhys(source, dma.iova));
        let runSize = step;
        for (let off = step; off <= dma.size; off += step) {
          const pa = off < dma.size ? Number(core.iovaToPhys(source, dma.iova + off)) : -1;
          if (pa === runPa + runSize) {
            runSize += step;
            continue;
          }
          target.mapper.map(runIova, runPa, runSize, prot);
          done.push({ iova: runIova, size: runSize });
          runIova = dma.iova + off;
          runPa = pa;
          runSize = step;
        }
      }
    } catch (error) {
      for (const d of done) target.mapper.unmap(d.iova, d.size);
      throw error;
    }
  };

  const self: Type1Iommu = {
    v2,
    list,
    dirty,
    get domains() {
      return domains.map((d) => d.domain);
    },
    get groups() {
      return allGroups();
    },

    attachGroup(group) {
      if (domains.some((d) => d.groups.includes(group))) {
        throw new IommuError("EINVAL", `type1: group ${group.id} is already attached`);
      }
      const first = group.devices[0];
      if (!first) throw new IommuError("ENODEV", `type1: group ${group.id} has no devices`);
      const enforceCoherency = group.devices.every((d) => core.capable(d, "enforce-cache-coherency"));
      const existing = domains.find(
        (d) => d.domain.iommu === group.iommu && d.enforceCoherency === enforceCoherency,
      );
      const domain = existing?.domain ?? core.domainAlloc(first, IOMMU_DOMAIN_UNMANAGED);
      try {
        core.attachGroup(domain, group);
      } catch (error) {
        if (!existing) core.domainFree(domain);
        throw error;
      }
      try {
        const geometry = domain.geometry;
        if (!geometry) throw new IommuError("EINVAL", `type1: domain ${domain.id} has no aperture`);
        if (apertureConflict(geometry.apertureStart, geometry.apertureEnd)) {
          throw new IommuError(
            "EINVAL",
            `type1: aperture ${hex(geometry.apertureStart)}..${hex(geometry.apertureEnd)} of group ${group.id} conflicts with the IOVA list or a mapping`,
          );
        }
        for (const r of groupRegions(group)) {
          const clash = list.find(r.start, r.end - r.start + 1n);
          if (clash) {
            throw new IommuError(
              "EINVAL",
              `type1: reserved region ${hex(r.start)}..${hex(r.end)} of group ${group.id} overlaps the mapping at ${hex(clash.iova)}`,
            );
          }
        }
        const nextDomains = existing ? self.domains : [...self.domains, domain];
        const ranges = iovaList(nextDomains, [...allGroups(), group]);
        if (ranges.length === 0) {
          throw new IommuError("EINVAL", `type1: no valid IOVA range left with group ${group.id}`);
        }
        if (!allowUnsafe && !msiIsolated(group)) {
          throw new IommuError(
            "EPERM",
            `type1: group ${group.id} has no interrupt remapping / MSI isolation and allow_unsafe_interrupts is off`,
          );
        }
        if (existing) {
          existing.groups.push(group);
        } else {
          const added: VfioDomain = { domain, groups: [group], enforceCoherency, mapper: mapperOf(domain) };
          const source = domains[0];
          if (source) replay(source.domain, added);
          domains.push(added);
        }
        updatePgsizeBitmap();
        list.setIovaRanges(ranges);
      } catch (error) {
        core.detachGroup(domain, group);
        if (!existing) core.domainFree(domain);
        throw error;
      }
    },

    detachGroup(group) {
      const index = domains.findIndex((d) => d.groups.includes(group));
      const d = domains[index];
      if (!d) throw new IommuError("EINVAL", `type1: group ${group.id} is not attached`);
      core.detachGroup(d.domain, group);
      d.groups.splice(d.groups.indexOf(group), 1);
      if (d.groups.length > 0) {
        list.setIovaRanges(iovaList(self.domains, allGroups()));
        return;
      }
      if (domains.length === 1) {
        // The last group of the last domain: everything goes (vfio_iommu_unmap_unpin_all).
        list.clear();
        if (dirty.tracking) dirty.stop();
      }
      domains.splice(index, 1);
      core.domainFree(d.domain);
      updatePgsizeBitmap();
      list.setIovaRanges(domains.length === 0 ? [] : iovaList(self.domains, allGroups()));
    },

    map(request, process) {
      list.map({ ...request, owner: process });
    },

    unmap(request, process) {
      return list.unmap({ ...request, owner: process }).size;
    },

    infoState() {
      return { pgsizeBitmap: list.pgsizeBitmap, dmaAvail: list.dmaAvail, iovaRanges: list.iovaRanges };
    },

    checkExtension(extension) {
      if (extension === VfioExtension.DMA_CC_IOMMU) return domains.every((d) => d.enforceCoherency) ? 1 : 0;
      return type1CheckExtension(extension, undefined);
    },

    markDirty(iova, length) {
      dirty.markDirty(iova, length);
    },

    release() {
      for (const group of allGroups().reverse()) self.detachGroup(group);
    },
  };
  return self;
}
