/**
 * The arm-smmu driver (Linux's `drivers/iommu/arm/arm-smmu/arm-smmu.c` for SMMUv2): probes the SMMU
 * from its ID registers and resets it (`arm_smmu_device_cfg_probe()`, `arm_smmu_test_smr_masks()`,
 * `arm_smmu_device_reset()`), takes devices by their firmware stream IDs, groups them by shared
 * stream mapping entries, and allocates paging (stage 1 or 2), identity and blocked domains.
 *
 * @module
 */
import type { PageAllocator, PhysMemory } from "@iommu-sim/hw";
import {
  hex,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_WRITE,
  type IommuDriver,
  IommuError,
  type IommuGroup,
} from "@iommu-sim/iommu";
import { CB_FSR_FAULT } from "../fault-status.js";
import { Cb, Gr0, S2crType, SCR0, SMR } from "../hardware/registers.js";
import type { ArmSmmuHardware } from "../hardware/smmu-hardware.js";
import type { ContextFormat } from "./context-bank.js";
import { disableContextBank } from "./context-bank.js";
import { type ArmSmmuDomain, createPagingDomain, createTypeDomain } from "./domain.js";
import { createRatelimit, globalFaultLines } from "./fault-log.js";
import { probeFeatures } from "./features.js";
import { cbWrite, gr0Read, gr0Write, type SmmuDevice } from "./smmu-device.js";
import { type MasterCfg, masterAllocSmes, masterCfg, masterFreeSmes, writeSme } from "./stream-map.js";
import { DUMMY_VAL, tlbSyncGlobal } from "./tlb-ops.js";

/** The software-managed MSI window every arm-smmu device reserves (`MSI_IOVA_BASE`, `MSI_IOVA_LENGTH`). */
export const MSI_IOVA_BASE = 0x800_0000;
/** Length of the MSI window. */
export const MSI_IOVA_LENGTH = 0x10_0000;

/** What {@link createArmSmmuDriver} needs. */
export interface ArmSmmuDriverOptions {
  /** IOMMU instance name devices name in their firmware specifier. */
  readonly name: string;
  readonly hw: ArmSmmuHardware;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  /** `force_stage` module parameter. */
  readonly forceStage: 1 | 2 | undefined;
  /** Stage-1 context format: AArch64 LPAE or AArch32 short descriptor. */
  readonly fmt: ContextFormat;
  /** Kernel PAGE_SIZE (the preferred LPAE granule). */
  readonly granule: number;
  readonly partialUnmap: "refuse" | "split";
  /** `disable_bypass`: unmatched streams and unused S2CRs fault rather than bypass. */
  readonly disableBypass: boolean;
  /** Printk rate limit of fault messages, or `false` for none. */
  readonly ratelimit: { readonly burst: number; readonly intervalNs: number } | false;
}

/** The driver, with the SMMU state tests inspect. */
export interface ArmSmmuDriver extends IommuDriver {
  /** The driver's per-SMMU state. */
  readonly smmu: SmmuDevice;
}

/** Probes and resets the SMMU, then returns its driver. Throws `ENODEV` when Linux's probe would fail. */
export function createArmSmmuDriver(o: ArmSmmuDriverOptions): ArmSmmuDriver {
  const { hw } = o;
  const id = { id0: hw.read32(Gr0.ID0), id1: hw.read32(Gr0.ID1), id2: hw.read32(Gr0.ID2) };
  const features = probeFeatures(id, o.forceStage);
  const groups = features.numMappingGroups;
  const s2crInitType = o.disableBypass ? S2crType.FAULT : S2crType.BYPASS;
  const smmu: SmmuDevice = {
    hw,
    features,
    smrs: features.streamMatch
      ? Array.from({ length: groups }, () => ({ id: 0, mask: 0, valid: false }))
      : [],
    s2crs: Array.from({ length: groups }, () => ({
      group: undefined,
      count: 0,
      type: s2crInitType,
      privcfg: 0,
      cbndx: 0,
    })),
    smrMaskMask: 0,
    contextMap: new Array(features.numContextBanks).fill(undefined),
    s2crInitType,
    disableBypass: o.disableBypass,
    masters: new Map(),
    host: undefined,
    currentMaster: undefined,
    lastReport: undefined,
  };
  const limit =
    o.ratelimit === false ? () => true : createRatelimit(o.ratelimit.burst, o.ratelimit.intervalNs);
  const logFault = (lines: readonly string[]): void => {
    const host = smmu.host;
    if (host === undefined || !limit(host.now())) return;
    for (const line of lines) host.warn(line);
  };

  // arm_smmu_test_smr_masks(): find which ID and MASK bits the SMRs implement.
  let streamIdMask = features.streamIdMask;
  if (smmu.smrs.length > 0) {
    gr0Write(smmu, Gr0.SMR_BASE, streamIdMask & SMR.ID_MASK);
    streamIdMask = gr0Read(smmu, Gr0.SMR_BASE) & SMR.ID_MASK;
    gr0Write(smmu, Gr0.SMR_BASE, (streamIdMask << SMR.MASK_SHIFT) >>> 0);
    smmu.smrMaskMask = (gr0Read(smmu, Gr0.SMR_BASE) >>> SMR.MASK_SHIFT) & 0xffff;
  }

  // arm_smmu_device_reset().
  gr0Write(smmu, Gr0.sGFSR, gr0Read(smmu, Gr0.sGFSR));
  for (let i = 0; i < groups && i < 128; i++) writeSme(smmu, i);
  for (let i = 0; i < features.numContextBanks; i++) {
    disableContextBank(smmu, i);
    cbWrite(smmu, i, Cb.FSR, CB_FSR_FAULT);
  }
  gr0Write(smmu, Gr0.TLBIALLH, DUMMY_VAL);
  gr0Write(smmu, Gr0.TLBIALLNSNH, DUMMY_VAL);
  let scr0 = gr0Read(smmu, Gr0.sCR0);
  scr0 |= SCR0.GFRE | SCR0.GFIE | SCR0.GCFGFRE | SCR0.GCFGFIE | SCR0.VMIDPNE | SCR0.PTM;
  scr0 &= ~SCR0.CLIENTPD;
  scr0 = o.disableBypass ? scr0 | SCR0.USFCFG : scr0 & ~SCR0.USFCFG;
  scr0 &= ~SCR0.FB & ~(3 << SCR0.BSU_SHIFT);
  tlbSyncGlobal(smmu);
  gr0Write(smmu, Gr0.sCR0, scr0 >>> 0);

  hw.onContextInterrupt = (cb) => smmu.contextMap[cb]?.contextFault();
  // arm_smmu_global_fault().
  hw.onGlobalInterrupt = () => {
    const gfsr = gr0Read(smmu, Gr0.sGFSR);
    if (gfsr === 0) return;
    const info = {
      gfsr,
      gfsynr0: gr0Read(smmu, Gr0.sGFSYNR0),
      gfsynr1: gr0Read(smmu, Gr0.sGFSYNR1),
      gfsynr2: gr0Read(smmu, Gr0.sGFSYNR2),
    };
    logFault(globalFaultLines(info, o.disableBypass));
    gr0Write(smmu, Gr0.sGFSR, gfsr);
  };

  const pagingSettings = {
    smmu,
    memory: o.memory,
    allocator: o.allocator,
    stage: o.forceStage ?? 1,
    fmt: o.fmt,
    granule: o.granule,
    partialUnmap: o.partialUnmap,
    logFault,
  } as const;

  const driver: ArmSmmuDriver = {
    name: "arm-smmu",
    smmu,
    pgsizeBitmap: features.pgsizeBitmap,
    // arm_smmu_probe_device(): check every stream ID against the SMMU, then take stream mapping entries.
    probeDevice(device) {
      const fwspec = device.fwspec;
      if (fwspec === undefined || fwspec.iommu !== o.name) {
        throw new IommuError("ENODEV", `${device.name} is not behind ${o.name}`);
      }
      for (const raw of fwspec.ids) {
        const sid = raw & SMR.ID_MASK;
        const mask = (raw >>> SMR.MASK_SHIFT) & 0xffff;
        if ((sid & ~streamIdMask) !== 0) {
          throw new IommuError(
            "EINVAL",
            `stream ID ${hex(sid)} out of range for SMMU (${hex(streamIdMask)})`,
          );
        }
        if ((mask & ~smmu.smrMaskMask) !== 0) {
          throw new IommuError(
            "EINVAL",
            `SMR mask ${hex(mask)} out of range for SMMU (${hex(smmu.smrMaskMask)})`,
          );
        }
      }
      const cfg: MasterCfg = { smmu, ids: [...fwspec.ids], smendx: [] };
      masterAllocSmes(cfg);
      device.driverData = cfg;
      for (const raw of fwspec.ids)
        if (!smmu.masters.has(raw & SMR.ID_MASK)) smmu.masters.set(raw & SMR.ID_MASK, device);
    },
    releaseDevice(device) {
      const cfg = masterCfg(device);
      if (cfg === undefined) return;
      masterFreeSmes(cfg);
      for (const [sid, d] of smmu.masters) if (d === device) smmu.masters.delete(sid);
      device.driverData = undefined;
    },
    // arm_smmu_device_group(): devices whose stream IDs share an S2CR share its group.
    deviceGroup(device, helpers) {
      const cfg = masterCfg(device);
      let group: IommuGroup | undefined;
      for (const idx of cfg?.smendx ?? []) {
        const g = smmu.s2crs[idx]!.group;
        if (group !== undefined && g !== undefined && g !== group) {
          throw new IommuError("EINVAL", `${device.name}'s stream IDs belong to different groups`);
        }
        group = g ?? group;
      }
      if (group !== undefined) return group;
      group = device.busType === "pci" ? helpers.pci(device) : helpers.generic(device);
      for (const idx of cfg?.smendx ?? []) smmu.s2crs[idx]!.group = group;
      return group;
    },
    domainAlloc(type): ArmSmmuDomain | null {
      switch (type) {
        case IOMMU_DOMAIN_BLOCKED:
          return createTypeDomain(smmu, "blocked");
        case IOMMU_DOMAIN_IDENTITY:
          return createTypeDomain(smmu, "identity");
        case IOMMU_DOMAIN_UNMANAGED:
        case IOMMU_DOMAIN_DMA:
        case IOMMU_DOMAIN_DMA_FQ:
          return createPagingDomain(pagingSettings);
        default:
          return null;
      }
    },
    getResvRegions: () => [
      {
        start: MSI_IOVA_BASE,
        length: MSI_IOVA_LENGTH,
        prot: IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
        type: "sw-msi",
      },
    ],
    // arm_smmu_capable(): coherency from the walker, NOEXEC and deferred flush always.
    capable(_device, cap) {
      if (cap === "cache-coherency") return features.coherentWalk;
      return cap === "noexec" || cap === "deferred-flush";
    },
  };
  return driver;
}
