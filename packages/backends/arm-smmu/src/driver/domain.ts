/**
 * The arm-smmu driver's domains: paging domains (stage 1 LPAE or ARMv7 short descriptor, or stage
 * 2 LPAE) with their io-pgtable and, once attached, a context bank; and the identity and blocked
 * domains, which are S2CR types (bypass, fault) rather than contexts. Models `arm_smmu_domain`,
 * `arm_smmu_init_domain_context()`, `arm_smmu_attach_dev()`, `arm_smmu_map_pages()`,
 * `arm_smmu_unmap_pages()`, `arm_smmu_iotlb_sync()`, `arm_smmu_flush_iotlb_all()`,
 * `arm_smmu_destroy_domain_context()` and `arm_smmu_context_fault()`.
 *
 * @module
 */
import {
  createPageTable,
  type PageAllocator,
  type PageTable,
  type PhysMemory,
  UnmapGather,
} from "@iommu-sim/hw";
import {
  asIommuError,
  type DomainGeometry,
  type DriverDomain,
  type FaultResult,
  hex,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  type IommuDevice,
  IommuError,
  type IotlbGather,
} from "@iommu-sim/iommu";
import { CB_FSR_FAULT, CbFsynr0 } from "../fault-status.js";
import { Cb, Gr1, S2crType } from "../hardware/registers.js";
import { type ContextFormat, disableContextBank, writeContextBank } from "./context-bank.js";
import { contextFaultLines } from "./fault-log.js";
import { cbRead, cbReadq, cbWrite, gr1Read, type SmmuDevice } from "./smmu-device.js";
import { installS2crs, masterCfg } from "./stream-map.js";
import { type TlbContext, tlbAddPage, tlbFlushAll, tlbFlushWalk, tlbSyncContext } from "./tlb-ops.js";

/** Settings every paging domain of one SMMU shares. */
export interface PagingDomainSettings {
  readonly smmu: SmmuDevice;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  /** Translation stage of new paging domains. */
  readonly stage: 1 | 2;
  /** Stage-1 context format. */
  readonly fmt: ContextFormat;
  /** The kernel's PAGE_SIZE: the LPAE granule io-pgtable prefers. */
  readonly granule: number;
  /** Partial unmap of a block: mainline refuses; pre-v6.14 kernels split it. */
  readonly partialUnmap: "refuse" | "split";
  /** Logs an unhandled context fault's lines, rate limited (the driver's `dev_err`). */
  readonly logFault: (lines: readonly string[]) => void;
}

/** An arm-smmu domain, with what tests and dumps inspect. */
export interface ArmSmmuDomain extends DriverDomain {
  readonly kind: "paging" | "identity" | "blocked";
  /** Translation stage (paging domains). */
  readonly stage: 1 | 2;
  /** Context format (paging domains). */
  readonly fmt: ContextFormat;
  /** The io-pgtable (paging domains). */
  readonly table: PageTable | undefined;
  /** Context bank, -1 before the first attach (and for identity/blocked domains). */
  readonly cbndx: number;
}

/** An identity (S2CR bypass) or blocked (S2CR fault) domain (`arm_smmu_attach_dev_type()`). */
export function createTypeDomain(smmu: SmmuDevice, kind: "identity" | "blocked"): ArmSmmuDomain {
  const type = kind === "identity" ? S2crType.BYPASS : S2crType.FAULT;
  return {
    kind,
    stage: 1,
    fmt: "aarch64",
    table: undefined,
    cbndx: -1,
    attachDevice(device) {
      const cfg = masterCfg(device);
      if (cfg === undefined || cfg.smmu !== smmu)
        throw new IommuError("ENODEV", `${device.name} is not behind this SMMU`);
      installS2crs(cfg, type, 0);
    },
    free() {},
  };
}

// The LPAE granule io-pgtable picks for a kernel PAGE_SIZE (`arm_lpae_restrict_pgsizes()`):
// PAGE_SIZE if supported, else the largest smaller one, else the smallest larger one.
function chooseGranule(supported: readonly number[], pageSize: number): number {
  if (supported.includes(pageSize)) return pageSize;
  const smaller = supported.filter((g) => g < pageSize);
  if (smaller.length > 0) return Math.max(...smaller);
  const larger = supported.filter((g) => g > pageSize);
  if (larger.length > 0) return Math.min(...larger);
  throw new IommuError("EINVAL", "the SMMU supports no AArch64 granule");
}

/** Creates a paging domain; its table is allocated now (ENOMEM), its context bank at first attach. */
export function createPagingDomain(s: PagingDomainSettings): ArmSmmuDomain {
  const { smmu } = s;
  const f = smmu.features;
  let stage = s.stage;
  if (!f.stage1) stage = 2;
  if (!f.stage2) stage = 1;
  let fmt: ContextFormat = stage === 1 ? s.fmt : "aarch64";
  if (fmt === "aarch32-s" && !f.aarch32Short) {
    throw new IommuError(
      "EINVAL",
      "the SMMU has no AArch32 short-descriptor contexts (ID0.PTFS_NO_AARCH32S)",
    );
  }
  if (fmt === "aarch64" && f.aarch64Granules.length === 0) fmt = "aarch32-s";
  // Stage 1: va_size in, ipa_size out (32/32 for short descriptors); stage 2: ipa_size in, pa_size out.
  const ias = stage === 2 ? f.ipaSize : fmt === "aarch32-s" ? Math.min(f.vaSize, 32) : f.vaSize;
  const oas = stage === 2 ? f.paSize : fmt === "aarch32-s" ? Math.min(f.ipaSize, 32) : f.ipaSize;
  let ctx: TlbContext | undefined;
  let inUnmap = false;
  const walked: number[] = [];
  const table = createPageTable(
    fmt === "aarch32-s" ? "arm-v7s" : stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2",
    {
      memory: s.memory,
      allocator: s.allocator,
      ias,
      oas,
      ...(fmt === "aarch64" ? { granule: chooseGranule(f.aarch64Granules, s.granule) } : {}),
      pgsizeBitmap: f.pgsizeBitmap,
      coherentWalk: f.coherentWalk,
      partialUnmap: s.partialUnmap,
      tlbFlushWalk: (iova, size, granule) => {
        if (inUnmap) walked.push(iova);
        if (ctx !== undefined) tlbFlushWalk(ctx, iova, size, granule);
      },
    },
  );
  const pgsizeBitmap = table.geometry.pgsizeBitmapNumber;
  const geometry: DomainGeometry = { apertureStart: 0, apertureEnd: 2 ** ias - 1, forceAperture: true };
  const scratch = new UnmapGather();
  let freed = false;

  // ARMv7 short descriptors invalidate per level-sized block (1 MiB sections, 4 KiB pages): a
  // 16 MiB supersection is 16 TLBIVALs, a 64 KiB large page 16 (io-pgtable-arm-v7s).
  const v7s = fmt === "aarch32-s";
  const v7sTableSlots = (iova: number, pgsize: number, pgcount: number): number[] => {
    const slots: number[] = [];
    if (pgsize < 0x10_0000) return slots;
    for (let i = 0; i < pgcount; i++) {
      const at = iova + i * pgsize;
      for (let b = 0; b < pgsize; b += 0x10_0000) {
        if (table.walk(at + b).steps[0]?.decoded.type === "table") slots.push(at + b);
      }
    }
    return slots;
  };

  const contextFault = (): void => {
    if (ctx === undefined) return;
    const idx = ctx.cbndx;
    const fsr = cbRead(smmu, idx, Cb.FSR);
    if ((fsr & CB_FSR_FAULT) === 0) return; // IRQ_NONE
    const fsynr0 = cbRead(smmu, idx, Cb.FSYNR0);
    const iova = cbReadq(smmu, idx, Cb.FAR);
    const cbfrsynra = gr1Read(smmu, Gr1.CBFRSYNRA_BASE + 4 * idx);
    const flags = (fsynr0 & CbFsynr0.WNR) !== 0 ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ;
    // Linux reports with no device; the model names the master whose StreamID faulted.
    const device: IommuDevice | undefined = smmu.masters.get(cbfrsynra & 0xffff) ?? smmu.currentMaster;
    let ret: FaultResult = "ENOSYS";
    if (device !== undefined && smmu.host !== undefined)
      ret = smmu.host.reportFault(domain, device, iova, flags);
    smmu.lastReport = ret;
    if (ret === "ENOSYS") s.logFault(contextFaultLines({ fsr, fsynr0, iova, cbfrsynra }, idx));
    cbWrite(smmu, idx, Cb.FSR, fsr);
  };

  // arm_smmu_init_domain_context(): the first attach takes a context bank and programs it.
  const initContext = (): TlbContext => {
    if (ctx !== undefined) return ctx;
    const start = stage === 1 ? f.numS2ContextBanks : 0;
    let cbndx = -1;
    for (let i = start; i < f.numContextBanks; i++) {
      if (smmu.contextMap[i] === undefined) {
        cbndx = i;
        break;
      }
    }
    if (cbndx < 0) {
      throw new IommuError(
        "ENOSPC",
        `no free ${stage === 1 ? "stage-1 capable " : ""}context bank (${f.numContextBanks} banks, all in use)`,
      );
    }
    const c: TlbContext = { smmu, cbndx, stage, fmt, asid: cbndx, vmid: cbndx + 1 };
    smmu.contextMap[cbndx] = { contextFault };
    writeContextBank(smmu, cbndx, { ...c, table, coherentWalk: f.coherentWalk });
    ctx = c;
    return c;
  };

  const domain: ArmSmmuDomain = {
    kind: "paging",
    stage,
    fmt,
    table,
    pageTable: table,
    get cbndx() {
      return ctx?.cbndx ?? -1;
    },
    pgsizeBitmap,
    geometry,
    attachDevice(device) {
      const cfg = masterCfg(device);
      if (cfg === undefined || cfg.smmu !== smmu)
        throw new IommuError("ENODEV", `${device.name} is not behind this SMMU`);
      const c = initContext();
      installS2crs(cfg, S2crType.TRANS, c.cbndx);
    },
    mapPages(iova, paddr, pgsize, pgcount, prot) {
      try {
        table.mapPages(iova, paddr, pgsize, pgcount, prot);
      } catch (error) {
        // The table undid this call: nothing of it stays mapped.
        throw Object.assign(asIommuError(error, `map ${hex(iova)}`), { mapped: 0 });
      }
      return pgsize * pgcount;
    },
    unmapPages(iova, pgsize, pgcount, gather: IotlbGather) {
      const tableSlots = v7s ? v7sTableSlots(iova, pgsize, pgcount) : undefined;
      let bytes: number;
      scratch.reset();
      inUnmap = true;
      try {
        bytes = table.unmapPages(iova, pgsize, pgcount, scratch);
      } catch {
        bytes = 0;
      } finally {
        inUnmap = false;
      }
      const c = ctx;
      if (c !== undefined && !gather.queued && bytes > 0) {
        if (v7s) {
          const blk = pgsize >= 0x10_0000 ? 0x10_0000 : 0x1000;
          for (let at = iova; at < iova + bytes; at += blk) {
            if (tableSlots!.includes(at)) tlbFlushWalk(c, at, blk, 0x1000);
            else tlbAddPage(c, at, blk);
          }
        } else {
          for (let at = iova; at < iova + bytes; at += pgsize) {
            if (walked.length === 0 || !walked.includes(at)) tlbAddPage(c, at, pgsize);
          }
        }
      }
      walked.length = 0;
      return bytes;
    },
    iovaToPhys(iova) {
      try {
        return Number(table.iovaToPhys(iova));
      } catch {
        return 0;
      }
    },
    iotlbSync() {
      if (ctx !== undefined) tlbSyncContext(ctx);
    },
    flushIotlbAll() {
      if (ctx !== undefined) tlbFlushAll(ctx);
    },
    free() {
      if (freed) return;
      freed = true;
      // arm_smmu_destroy_domain_context(): disable the bank, then free_io_pgtable_ops() flushes
      // the TLB (tlb_flush_all) before the tables go, then the bank returns to the pool.
      const c = ctx;
      if (c !== undefined) {
        disableContextBank(smmu, c.cbndx);
        tlbFlushAll(c);
        smmu.contextMap[c.cbndx] = undefined;
        ctx = undefined;
      }
      table.free();
    },
  };
  return domain;
}
