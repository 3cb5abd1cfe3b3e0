/**
 * The `@iommu-sim/arm-smmu` backend: an Arm SMMU v2 (MMU-500 style) hardware model and Linux's
 * arm-smmu driver over it, registered with the core as one IOMMU instance.
 *
 * @module
 */
import {
  createPageAllocator,
  createPhysMemory,
  type PageAllocator,
  type PhysMemory,
  type TranslationUnitOptions,
  walkCacheOptionFor,
} from "@iommu-sim/hw";
import {
  type DatapathRequest,
  type DmaFaultReason,
  type DmaResult,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  type IommuBackend,
  type IommuBackendFactory,
  type IommuDevice,
  IommuError,
} from "@iommu-sim/iommu";
import { type ArmSmmuDriver, createArmSmmuDriver } from "./driver/arm-smmu-driver.js";
import { encodeIdRegisters, MMU500_ID_DEFAULTS, type SmmuIdRegisters } from "./hardware/id-registers.js";
import { type ArmSmmuHardware, createArmSmmuHardware } from "./hardware/smmu-hardware.js";

/** Options of {@link createArmSmmu}. Defaults describe an MMU-500 under a 64-bit Linux with 4 KiB pages. */
export interface ArmSmmuOptions {
  /** Instance name devices name in their firmware specifier. @default "smmu0" */
  name?: string;
  /** Physical memory (tables and DMA). @default a new 52-bit memory */
  memory?: PhysMemory;
  /** Allocator of page-table pages. @default one over [0x4000_0000, 0x7000_0000) of `memory` (below 4 GiB, as short-descriptor tables need) */
  tableAllocator?: PageAllocator;
  /** Raw ID register values, overriding the ones the options below produce. @default derived */
  idRegisters?: Partial<SmmuIdRegisters>;
  /** Context banks (ID1.NUMCB). @default 16 */
  contextBanks?: number;
  /** Stage-2-only context banks (ID1.NUMS2CB), numbered first. @default 0 */
  stage2OnlyContextBanks?: number;
  /** Stream match register groups (ID0.NUMSMRG). @default 32 */
  streamMatchGroups?: number;
  /** StreamID bits (ID0.NUMSIDB). @default 15 */
  streamIdBits?: number;
  /** Intermediate physical address size (ID2.IAS). @default 48 */
  ias?: number;
  /** Physical address size (ID2.OAS). @default 48 */
  oas?: number;
  /** Upstream bus (stage-1 input) size (ID2.UBS). @default 48 */
  ubs?: number;
  /**
   * Stage-1 context format: `"lpae"` (AArch64, `ARM_SMMU_CTX_FMT_AARCH64`, what a 64-bit kernel
   * uses) or `"v7s"` (ARMv7 short descriptor, `ARM_SMMU_CTX_FMT_AARCH32_S`, what a 32-bit ARM kernel
   * with `CONFIG_IOMMU_IO_PGTABLE_ARMV7S` uses). @default "lpae"
   */
  format?: "lpae" | "v7s";
  /** The kernel's PAGE_SIZE, the LPAE granule io-pgtable picks. @default 4096 */
  granule?: 4096 | 16384 | 65536;
  /** `arm-smmu.force_stage`: translate every paging domain at this stage. @default stage 1 */
  forceStage?: 1 | 2;
  /** `arm-smmu.disable_bypass`: unmatched streams fault (sCR0.USFCFG) and free S2CRs fault. @default true (Kconfig default) */
  disableBypass?: boolean;
  /** The TLB: options of the translation unit's IOTLB, an instance, or `false`. @default 512 entries, 4-way, LRU */
  iotlb?: TranslationUnitOptions["iotlb"];
  /**
   * Walk caches of the translation unit (gem5-style, per stage and level, of table descriptors): an
   * instance, options (levels not given default to those of `format` and `granule`), or `false`.
   * TLBIVA / TLBIIPAS2 drop their entries over the address, the leaf-only TLBIVAL / TLBIIPAS2L keep
   * them; TLBIASID, TLBIVMID and TLBIALLNSNH drop by tag. Read them through
   * `hardware.unit.walkCache`. @default false
   */
  walkCache?: TranslationUnitOptions["walkCache"];
  /** Partial unmap of a block: `"refuse"` (mainline since v6.14) or `"split"` (older kernels). @default "refuse" */
  partialUnmap?: "refuse" | "split";
  /** Rate limit of fault messages (`DEFAULT_RATELIMIT_*`), or `false`. @default 10 per 5 s of virtual time */
  faultRatelimit?: { burst: number; intervalNs: number } | false;
}

/** The arm-smmu backend, with its hardware for tests and dumps. */
export interface ArmSmmuBackend extends IommuBackend {
  readonly driver: ArmSmmuDriver;
  /** The SMMU hardware model (registers, stream matching, TLB). */
  readonly hardware: ArmSmmuHardware;
  readonly memory: PhysMemory;
  readonly tableAllocator: PageAllocator;
}

const reasonOf = (kind: string): DmaFaultReason =>
  kind === "permission" ? "permission" : kind === "address-size" ? "aperture" : "unmapped";

/**
 * Creates an Arm SMMU v2 backend: the hardware in reset state, then the driver's probe and reset.
 * Register it with `core.registerIommu(backend)`; devices whose firmware specifier names it
 * (platform `streamIds`, or PCI requester IDs) are probed by it.
 */
export function createArmSmmu(options: ArmSmmuOptions = {}): ArmSmmuBackend {
  const name = options.name ?? "smmu0";
  const memory = options.memory ?? createPhysMemory();
  const allocator =
    options.tableAllocator ??
    createPageAllocator(memory, { base: 0x4000_0000, size: 0x3000_0000, name: `${name} tables` });
  const d = MMU500_ID_DEFAULTS;
  const encoded = encodeIdRegisters({
    ...d,
    contextBanks: options.contextBanks ?? d.contextBanks,
    stage2OnlyContextBanks: options.stage2OnlyContextBanks ?? d.stage2OnlyContextBanks,
    streamMatchGroups: options.streamMatchGroups ?? d.streamMatchGroups,
    streamIdBits: options.streamIdBits ?? d.streamIdBits,
    ias: options.ias ?? d.ias,
    oas: options.oas ?? d.oas,
    ubs: options.ubs ?? d.ubs,
  });
  const id = { ...encoded, ...options.idRegisters };
  const hardware = createArmSmmuHardware({
    memory,
    id,
    name,
    ...(options.iotlb !== undefined ? { iotlb: options.iotlb } : {}),
    walkCache: walkCacheOptionFor(
      options.walkCache,
      options.format === "v7s" ? "arm-v7s" : "arm-lpae-s1",
      options.granule ?? 4096,
    ),
  });
  const driver = createArmSmmuDriver({
    name,
    hw: hardware,
    memory,
    allocator,
    forceStage: options.forceStage,
    fmt: options.format === "v7s" ? "aarch32-s" : "aarch64",
    granule: options.granule ?? 4096,
    partialUnmap: options.partialUnmap ?? "refuse",
    disableBypass: options.disableBypass ?? true,
    ratelimit: options.faultRatelimit ?? { burst: 10, intervalNs: 5e9 },
  });
  const smmu = driver.smmu;

  // A device's transactions carry its first firmware stream ID.
  const streamOf = (device: IommuDevice): number => {
    const raw = device.fwspec?.iommu === name ? device.fwspec.ids[0] : undefined;
    if (raw === undefined) throw new IommuError("ENODEV", `${device.name} is not behind ${name}`);
    return raw & 0xffff;
  };

  const dma = (device: IommuDevice, request: DatapathRequest): DmaResult => {
    if (request.pasid !== undefined)
      throw new IommuError("EOPNOTSUPP", `${name}: SMMUv2 has no substreams (PASID)`);
    const { iova, length, write } = request;
    smmu.currentMaster = device;
    smmu.lastReport = undefined;
    let r: ReturnType<ArmSmmuHardware["transaction"]>;
    try {
      r = hardware.transaction(streamOf(device), iova, length, write, request.data);
    } finally {
      smmu.currentMaster = undefined;
    }
    if (r.ok) return { ok: true, data: r.data };
    const reason: DmaFaultReason =
      r.kind === "context-fault"
        ? reasonOf(r.fault?.kind ?? "translation")
        : r.kind === "s2cr-fault"
          ? "blocked"
          : "no-translation";
    return {
      ok: false,
      iova: r.iova,
      flags: write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ,
      reason,
      reported: smmu.lastReport,
    };
  };

  return {
    name,
    driver,
    hardware,
    iotlb: hardware.unit.iotlb,
    memory,
    tableAllocator: allocator,
    connect(host) {
      smmu.host = host;
    },
    dma,
    staleTranslation: (device, iova) => hardware.probeStale(streamOf(device), iova),
  };
}

/** The backend factory, typed as every backend factory is. */
export const armSmmuFactory: IommuBackendFactory<ArmSmmuOptions> = createArmSmmu;
