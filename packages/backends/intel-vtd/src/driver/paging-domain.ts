/**
 * A paging domain (Linux `paging_domain_alloc` with `intel_iommu_ops`'s `default_domain_ops`).
 * Second stage: an `intel-vtd-ss` table with `agaw_to_level(iommu->agaw)` levels and the aperture
 * `[0, 2^gaw - 1]`; strict invalidation by page-selective IOTLB descriptors (`cache_tag_flush_range`)
 * with the address and mask of `calculate_psi_aligned_address`, falling back to domain-selective when
 * CAP.PSI is clear or the mask exceeds CAP.MAMV; `flush_iotlb_all` as a domain-selective flush
 * (`cache_tag_flush_all`). First stage (scalable mode, `intel_iommu_domain_alloc_first_stage`): an
 * `intel-vtd-fs` table, 5 levels when the unit's agaw is 57-bit and CAP.FL5LP, else 4, aperture the
 * lower canonical half; invalidation by PASID-based IOTLB descriptors (`qi_desc_piotlb`: same
 * ADDR/AM, no CAP.MAMV fallback; all of the PASID for `flush_iotlb_all`). In scalable mode attach
 * writes the device's RID_PASID entry instead of context entries. A domain id is allocated on first
 * attach either way.
 */
import { createPageTable, type PageTable, UnmapGather, vtdPsiAddressMask } from "@iommu-sim/hw";
import {
  asIommuError,
  hex,
  type IommuDevice,
  IommuError,
  type IotlbGather,
  iotlbGatherAddPage,
  iotlbGatherIsEmpty,
} from "@iommu-sim/iommu";
import { contextMapSecondStage } from "./context-setup.js";
import { blockTranslation, type DeviceInfo, type VtdDomain } from "./device-info.js";
import { type IntelIommu, TLB } from "./intel-iommu.js";
import { IOMMU_NO_PASID, PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_SL_ONLY } from "./pasid-entry.js";
import { pasidSetup } from "./pasid-setup.js";

/** What a paging domain needs from its driver. */
export interface PagingDomainContext {
  readonly iommu: IntelIommu;
  /** The device's driver state; `ENODEV` when the driver did not probe it. */
  info(device: IommuDevice): DeviceInfo;
  /** Domains of this driver still allocated. */
  readonly owned: Set<VtdDomain>;
  /** Use first-stage tables (scalable mode; checked against ECAP.FLTS by the backend). */
  readonly firstStage: boolean;
}

/** ECAP.SMPWC: scalable-mode page walks snoop (`pasid_set_page_snoop`). */
const ECAP_SMPWC = 1n << 48n;

/** A paging domain with its table visible (tests, dumps). */
export interface VtdPagingDomain extends VtdDomain {
  readonly table: PageTable;
  /** `domain->use_first_level`: the table is `intel-vtd-fs`. */
  readonly firstStage: boolean;
}

/** `superpage` sizes: 2 MiB and 1 GiB as CAP.SLLPS allows (`cap_super_page_val`). */
function pgsizeBitmapOf(iommu: IntelIommu): number {
  let bitmap = 0x1000;
  if (iommu.cap.superPages & 1) bitmap += 0x20_0000;
  if (iommu.cap.superPages & 2) bitmap += 0x4000_0000;
  return bitmap;
}

/** Allocates a paging domain; `ENOMEM` when its top table cannot be allocated. */
export function createPagingDomain(ctx: PagingDomainContext): VtdPagingDomain {
  const { iommu } = ctx;
  const { widths } = iommu;
  const firstStage = ctx.firstStage && iommu.scalable;
  // First stage: 5 levels only when the unit is 57-bit and has CAP.FL5LP; 1 GiB pages with FL1GP.
  const fiveLevel = firstStage && widths.gaw > 48 && iommu.cap.firstStage5Level;
  let table: PageTable;
  try {
    table = firstStage
      ? createPageTable("intel-vtd-fs", {
          memory: iommu.memory,
          allocator: iommu.allocator,
          ias: fiveLevel ? 57 : 48,
          oas: Math.min(iommu.memory.addressBits, 52),
          pgsizeBitmap: 0x1000 + 0x20_0000 + (iommu.cap.firstStage1G ? 0x4000_0000 : 0),
        })
      : createPageTable("intel-vtd-ss", {
          memory: iommu.memory,
          allocator: iommu.allocator,
          ias: widths.tableWidth,
          oas: Math.min(iommu.memory.addressBits, 52),
          pgsizeBitmap: pgsizeBitmapOf(iommu),
        });
  } catch (error) {
    throw asIommuError(error, `${iommu.name}: paging domain allocation`);
  }
  const apertureBits = firstStage ? table.geometry.ias : widths.gaw;
  const apertureEnd = 2 ** apertureBits - 1;
  const devices = new Set<DeviceInfo>();
  const scratch = new UnmapGather();
  // Gathers whose unmaps freed page-table pages: their flush must not carry IH (leaf only).
  const nonLeaf = new WeakSet<IotlbGather>();
  let did: number | undefined;
  let freed = false;

  const flushRange = (start: number, last: number, ih: boolean): void => {
    if (did === undefined) return;
    const { address, am } = vtdPsiAddressMask(start, last - start + 1);
    if (firstStage) {
      iommu.qi.submit([iommu.piotlbDescriptor(did, IOMMU_NO_PASID, Number(address), am, ih)]);
      return;
    }
    const descriptor =
      !iommu.cap.pageSelectiveInvalidation || am > iommu.cap.maxAddressMask
        ? iommu.iotlbDescriptor(did, 0, 0, false, TLB.DSI)
        : iommu.iotlbDescriptor(did, Number(address), am, ih, TLB.PSI);
    iommu.qi.submit([descriptor]);
  };

  const domain: VtdPagingDomain = {
    kind: "paging",
    table,
    firstStage,
    pageTable: table,
    pgsizeBitmap: table.geometry.pgsizeBitmapNumber,
    geometry: { apertureStart: 0, apertureEnd, forceAperture: true },
    get did() {
      return did;
    },
    attachDevice(device) {
      const info = ctx.info(device);
      if (!ctx.owned.has(domain))
        throw new IommuError("EINVAL", `${iommu.name}: the domain is not one of this unit's`);
      if (info.attached === domain) return;
      blockTranslation(iommu, info);
      // domain_attach_iommu: the first device behind the unit gives the domain its id.
      if (did === undefined) did = iommu.domainIds.alloc();
      devices.add(info);
      info.attached = domain;
      try {
        const pageWalkSnoop = (iommu.ecap & ECAP_SMPWC) !== 0n;
        if (firstStage) {
          pasidSetup(iommu, info, IOMMU_NO_PASID, {
            pgtt: PASID_ENTRY_PGTT_FL_ONLY,
            flptr: table.rootAddress,
            fiveLevel,
            did,
            aw: widths.agaw,
            pageWalkSnoop,
          });
        } else if (iommu.scalable) {
          pasidSetup(iommu, info, IOMMU_NO_PASID, {
            pgtt: PASID_ENTRY_PGTT_SL_ONLY,
            slptptr: table.rootAddress,
            did,
            aw: widths.agaw,
            pageWalkSnoop,
          });
        } else {
          for (const sid of info.sids) contextMapSecondStage(iommu, sid, did, table.rootAddress, widths.agaw);
        }
      } catch (error) {
        blockTranslation(iommu, info);
        throw asIommuError(error, `${iommu.name}: attach ${device.name}`);
      }
    },
    deviceLeft(info) {
      devices.delete(info);
      if (devices.size === 0 && did !== undefined) {
        iommu.domainIds.free(did);
        did = undefined;
      }
    },
    mapPages(iova, paddr, pgsize, pgcount, prot) {
      const size = pgsize * pgcount;
      if (iova + size - 1 > apertureEnd) {
        throw new IommuError(
          "ERANGE",
          `${iommu.name}: iova ${hex(iova)}+${hex(size)} is beyond the domain's ${apertureBits}-bit address width`,
        );
      }
      try {
        table.mapPages(iova, paddr, pgsize, pgcount, prot);
      } catch (error) {
        throw asIommuError(error, `${iommu.name}: map ${hex(iova)}`);
      }
      return size;
    },
    unmapPages(iova, pgsize, pgcount, gather) {
      scratch.reset();
      const unmapped = table.unmapPages(iova, pgsize, pgcount, scratch);
      if (unmapped === 0) return 0;
      // intel_iommu_unmap: a queued gather (flush queue) is flushed whole later, by flush_iotlb_all.
      if (!gather.queued) {
        iotlbGatherAddPage(gather, iova, unmapped, (g) => domain.iotlbSync!(g));
        if (!scratch.leafOnly) nonLeaf.add(gather);
      }
      return unmapped;
    },
    iovaToPhys(iova) {
      return Number(table.iovaToPhys(iova));
    },
    iotlbSync(gather) {
      if (iotlbGatherIsEmpty(gather)) return;
      const leafOnly = !nonLeaf.has(gather);
      nonLeaf.delete(gather);
      flushRange(gather.start, gather.end, leafOnly);
    },
    flushIotlbAll() {
      if (did === undefined) return;
      iommu.qi.submit([
        firstStage
          ? iommu.piotlbDescriptor(did, IOMMU_NO_PASID, 0, undefined, false)
          : iommu.iotlbDescriptor(did, 0, 0, false, TLB.DSI),
      ]);
    },
    iotlbSyncMap(iova, size) {
      // cache_tag_flush_range_np: only Caching Mode hardware caches not-present entries.
      if (did === undefined) return;
      if (iommu.cap.cachingMode) flushRange(iova, iova + size - 1, false);
      else iommu.flushWriteBuffer();
    },
    free() {
      if (devices.size > 0) {
        throw new IommuError(
          "EBUSY",
          `${iommu.name}: freeing a domain ${[...devices][0]!.device.name} still uses`,
        );
      }
      if (freed) return;
      freed = true;
      ctx.owned.delete(domain);
      table.free();
    },
  };
  ctx.owned.add(domain);
  return domain;
}
