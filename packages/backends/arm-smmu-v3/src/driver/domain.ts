/**
 * The driver's domains (`struct arm_smmu_domain` and the static identity/blocked domains):
 * stage-1 LPAE paging domains (ASID, CD), stage-2 paging domains (VMID, VTCR in the STE), identity
 * (bypass STE) and blocked (abort STE); attach writes the CD and the STE of every StreamID
 * (`arm_smmu_attach_dev`, `arm_smmu_attach_dev_ste`); unmap and sync issue the TLBIs of
 * `arm_smmu_tlb_inv_range_domain`; flush-all is `arm_smmu_tlb_inv_context`.
 */
import {
  computeLpaeGeometry,
  computeLpaeTcr,
  createPageTable,
  createWalkOut,
  type LpaeTcrFields,
  type PageAllocator,
  type PageTable,
  UnmapGather,
} from "@iommu-sim/hw";
import {
  asIommuError,
  type DomainGeometry,
  type DriverDomain,
  type IommuDevice,
  IommuError,
  type IotlbGather,
  iotlbGatherAddRange,
  iotlbGatherInit,
  iotlbGatherIsDisjoint,
} from "@iommu-sim/iommu";
import { CD_DWORDS } from "../arch/cd.js";
import {
  buildTlbiTags,
  CMDQ_OP_TLBI_NH_ASID,
  CMDQ_OP_TLBI_NH_VA,
  CMDQ_OP_TLBI_S2_IPA,
  CMDQ_OP_TLBI_S12_VMALL,
} from "../arch/commands.js";
import { STE_DWORDS, STE_S1DSS_SSID0 } from "../arch/ste.js";
import { batchSlot } from "./cmdq.js";
import { makeAbortSte, makeBypassSte, makeCdTableSte, makeS1Cd, makeS2Ste } from "./entries.js";
import type { SmmuMaster } from "./master.js";
import type { SmmuDevice } from "./smmu-device.js";
import { type TlbInvRange, tlbInvRange } from "./tlb-inv.js";

/** Settings of the paging domains, from the backend options. */
export interface PagingSettings {
  /** Page-table pages come from here (the backend's `tableAllocator`). */
  readonly tables: PageAllocator;
  /** CPU page size: the granule io-pgtable picks (`PAGE_SIZE`). */
  readonly granule: number;
  /** Stage-1 input size (`VA_BITS`, capped by IDR5.VAX). */
  readonly ias: number;
  /** Page sizes the SMMU offers (`smmu->pgsize_bitmap`). */
  readonly pgsizeBitmap: number;
  /** Partial unmap of a block: refuse (mainline >= 6.14) or split (older kernels). */
  readonly partialUnmap: "refuse" | "split";
}

/** Any domain of this driver. */
export interface SmmuDomain extends DriverDomain {
  /** `paging-s1`, `paging-s2`, `identity`, `blocked`. */
  readonly kind: "paging-s1" | "paging-s2" | "identity" | "blocked";
  /** The SMMU the domain belongs to. */
  readonly smmu: SmmuDevice;
  /** ASID (stage 1) or 0. */
  readonly asid: number;
  /** VMID (stage 2) or 0. */
  readonly vmid: number;
  /** The page table (paging domains). */
  readonly table: PageTable | undefined;
}

/** Looks up the master of a device. */
export type MasterLookup = (device: IommuDevice) => SmmuMaster | undefined;

const clearCd = (smmu: SmmuDevice, master: SmmuMaster): void => {
  if (master.cdTable < 0) return;
  smmu.writeCd(master.sids, 0, master.cdTable, new Uint32Array(2 * CD_DWORDS));
};

const installSte = (smmu: SmmuDevice, master: SmmuMaster, ste: Uint32Array): void => {
  for (const sid of master.sids) smmu.writeSte(sid, ste);
};

/** Creates the identity (bypass) or blocked (abort) domain. */
export function createStaticDomain(
  smmu: SmmuDevice,
  kind: "identity" | "blocked",
  masterOf: MasterLookup,
): SmmuDomain {
  const domain: SmmuDomain = {
    kind,
    smmu,
    asid: 0,
    vmid: 0,
    table: undefined,
    pgsizeBitmap: 0,
    attachDevice(device) {
      const master = masterOf(device);
      if (!master) throw new IommuError("ENODEV", `${device.name} is not behind this SMMU`);
      const ste = new Uint32Array(2 * STE_DWORDS);
      if (kind === "identity") makeBypassSte(ste, smmu.attrTypesOverride);
      else makeAbortSte(ste);
      installSte(smmu, master, ste);
      clearCd(smmu, master);
      master.domain = domain;
    },
    free() {},
  };
  return domain;
}

/**
 * Creates a stage-1 or stage-2 paging domain (`arm_smmu_domain_alloc_paging` +
 * `arm_smmu_domain_finalise`): the ASID or VMID, then the io-pgtable. `ENOSPC` without a free ID,
 * `ENOMEM` when the table root cannot be allocated.
 */
export function createPagingDomain(
  smmu: SmmuDevice,
  stage: 1 | 2,
  settings: PagingSettings,
  masterOf: MasterLookup,
  attachedCount: (domain: SmmuDomain) => number,
): SmmuDomain {
  const coherent = smmu.features.coherent;
  // arm_smmu_domain_finalise: S1 ias = VA size, oas = smmu->ias; S2 ias = smmu->ias, oas = smmu->oas.
  const ias = stage === 1 ? settings.ias : smmu.ias;
  const oas = stage === 1 ? smmu.ias : smmu.features.oas;
  const format = stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2";
  const ids = stage === 1 ? smmu.asids : smmu.vmids;
  const id = ids.alloc();
  let table: PageTable;
  let tcr: LpaeTcrFields;
  const inv: TlbInvRange = {
    opcode: stage === 1 ? CMDQ_OP_TLBI_NH_VA : CMDQ_OP_TLBI_S2_IPA,
    asid: stage === 1 ? id : 0,
    vmid: stage === 1 ? 0 : id,
    pgsizeBitmap: 0,
    ril: smmu.rangeInvalidation,
  };
  try {
    const config = { ias, oas, granule: settings.granule, pgsizeBitmap: settings.pgsizeBitmap };
    tcr = computeLpaeTcr(computeLpaeGeometry(stage, config), coherent);
    table = createPageTable(format, {
      memory: smmu.memory,
      allocator: settings.tables,
      ...config,
      coherentWalk: coherent,
      partialUnmap: settings.partialUnmap,
      // io-pgtable's tlb_flush_walk: a freed table is invalidated at once, not leaf-only.
      tlbFlushWalk: (iova, size, granule) => tlbInvRange(smmu.cmdq, inv, iova, size, granule, false),
    });
  } catch (error) {
    ids.free(id);
    throw asIommuError(error, `arm-smmu-v3: stage-${stage} domain`);
  }
  const pgsizeBitmap = table.geometry.pgsizeBitmapNumber;
  (inv as { pgsizeBitmap: number }).pgsizeBitmap = pgsizeBitmap;
  const geometry: DomainGeometry = { apertureStart: 0, apertureEnd: 2 ** ias - 1, forceAperture: true };
  const ug = new UnmapGather();
  const walk = createWalkOut();
  const root = table.rootAddress;
  let freed = false;

  const flushAll = (): void => {
    // arm_smmu_tlb_inv_context: TLBI_NH_ASID (stage 1) or TLBI_S12_VMALL (stage 2), then CMD_SYNC.
    const at = batchSlot(smmu.cmdq);
    if (stage === 1) buildTlbiTags(smmu.cmdq.batch, at, CMDQ_OP_TLBI_NH_ASID, id, 0);
    else buildTlbiTags(smmu.cmdq.batch, at, CMDQ_OP_TLBI_S12_VMALL, 0, id);
    smmu.cmdq.submit(true);
  };

  const domain: SmmuDomain = {
    kind: stage === 1 ? "paging-s1" : "paging-s2",
    smmu,
    asid: stage === 1 ? id : 0,
    vmid: stage === 1 ? 0 : id,
    table,
    pageTable: table,
    pgsizeBitmap,
    geometry,
    attachDevice(device) {
      const master = masterOf(device);
      if (!master) throw new IommuError("ENODEV", `${device.name} is not behind this SMMU`);
      if (freed) throw new IommuError("EINVAL", "attaching a freed domain");
      const ste = new Uint32Array(2 * STE_DWORDS);
      if (stage === 1) {
        if (master.cdTable < 0) {
          // arm_smmu_alloc_cd_tables: no PASIDs, so one linear CD (S1CDMax = 0).
          master.cdTable = smmu.structures.alloc(64);
        }
        const cd = new Uint32Array(2 * CD_DWORDS);
        makeS1Cd(cd, { asid: id, tcr, ttbr: root });
        smmu.writeCd(master.sids, 0, master.cdTable, cd);
        makeCdTableSte(ste, {
          cdTable: master.cdTable,
          s1fmt: 0,
          s1cdmax: 0,
          s1dss: STE_S1DSS_SSID0,
          stallDisable: smmu.stalls,
        });
        installSte(smmu, master, ste);
      } else {
        makeS2Ste(ste, { vmid: id, vtcr: tcr, vttbr: root, attrTypesOverride: smmu.attrTypesOverride });
        installSte(smmu, master, ste);
        clearCd(smmu, master);
      }
      master.domain = domain;
    },
    mapPages(iova, paddr, pgsize, pgcount, prot) {
      try {
        table.mapPages(iova, paddr, pgsize, pgcount, prot);
      } catch (error) {
        // The hardware table undoes a failed call itself: nothing of it stays mapped.
        throw Object.assign(asIommuError(error, "arm-smmu-v3 map"), { mapped: 0 });
      }
      return pgsize * pgcount;
    },
    unmapPages(iova, pgsize, pgcount, gather) {
      ug.reset();
      let bytes: number;
      try {
        bytes = table.unmapPages(iova, pgsize, pgcount, ug);
      } catch {
        return 0;
      }
      // io-pgtable adds each removed leaf to the gather (tlb_add_page) unless the caller queues
      // the invalidation (flush queue); freed tables were invalidated by tlbFlushWalk already.
      if (bytes > 0 && !gather.queued && ug.pgsize > 0) {
        if (
          (gather.pgsize !== 0 && gather.pgsize !== ug.pgsize) ||
          iotlbGatherIsDisjoint(gather, iova, bytes)
        ) {
          domain.iotlbSync!(gather);
          iotlbGatherInit(gather);
        }
        gather.pgsize = ug.pgsize;
        iotlbGatherAddRange(gather, iova, bytes);
      }
      return bytes;
    },
    iovaToPhys(iova) {
      table.walker.translate(root, iova, walk);
      return walk.fault === 0 ? walk.outputAddress : 0;
    },
    iotlbSync(gather: IotlbGather) {
      // arm_smmu_iotlb_sync: nothing gathered, nothing to do.
      if (gather.pgsize === 0) return;
      tlbInvRange(smmu.cmdq, inv, gather.start, gather.end - gather.start + 1, gather.pgsize, true);
    },
    flushIotlbAll: flushAll,
    free() {
      if (freed) throw new IommuError("EINVAL", "arm-smmu-v3 domain freed twice");
      if (attachedCount(domain) > 0) throw new IommuError("EBUSY", "freeing a domain a device still uses");
      freed = true;
      // free_io_pgtable_ops: tlb_flush_all, then the tables; then the ASID / VMID.
      flushAll();
      table.free();
      ids.free(id);
    },
  };
  return domain;
}
