/**
 * `createAmdVi`: the AMD-Vi backend, an AMD IOMMU hardware model and the Linux `amd_iommu` driver
 * that programs it through MMIO and system memory, registered with the IOMMU core as one instance.
 */
import {
  createPageAllocator,
  createPhysMemory,
  type IotlbOptions,
  type PageAllocator,
  type PhysMemory,
  type WalkCache,
  type WalkCacheOptions,
} from "@iommu-sim/hw";
import {
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  type IommuBackend,
  type IommuBackendFactory,
  IommuError,
} from "@iommu-sim/iommu";
import { AMD_VI_DEFAULT_EFR, efrHostLevels } from "./arch/registers.js";
import { type AmdViDriver, createAmdViDriver } from "./driver/amd-vi-driver.js";
import type { AmdUnityMap } from "./driver/resv-regions.js";
import { type AmdViHardware, createAmdViHardware } from "./hardware/amd-vi-hardware.js";
import type { CommandTiming } from "./hardware/command-processor.js";
import { amdPageModeForIas } from "./page-mode.js";

/** Options of {@link createAmdVi}. */
export interface AmdViOptions {
  /** Instance name devices refer to. @default "ivhd0" (Linux's sysfs name of the first IOMMU) */
  name?: string;
  /** System memory. @default a new 52-bit `createPhysMemory()` */
  memory?: PhysMemory;
  /**
   * Allocator of page-table pages. @default 0x4100_0000..0x8000_0000 of `memory` (the low end of its
   * dense window, where walks are fastest; DMA buffers belong elsewhere, e.g. from 0x8000_0000)
   */
  tableAllocator?: PageAllocator;
  /** Allocator of the device table, rings and semaphore. @default 16 MiB at 0x4000_0000 of `memory` */
  systemAllocator?: PageAllocator;
  /**
   * Extended Feature Register. @default IASup only, HATS = 0 (4-level host tables): what this model
   * implements; set HATS (bits 11:10) to allow 5 or 6 levels.
   */
  efr?: bigint;
  /**
   * IOVA bits of paging domains, 13 to 52: fixes the DTE Mode (the smallest covering mode, 48 -> 4)
   * and the aperture. Must fit the EFR's HATS levels. @default 48
   */
  ias?: number;
  /** Output (physical) address bits of the tables, 32 to 52. @default 52 (generic_pt `hw_max_oasz_lg2`) */
  oas?: number;
  /** IVRS unity-map (IVMD) entries, reported as `direct` (or `reserved`) regions. @default none */
  unityMaps?: readonly AmdUnityMap[];
  /** Skip the HyperTransport reserved range (EFR2 HTRangeIgnore). @default false */
  htRangeIgnore?: boolean;
  /** The IOMMU caches non-present entries (NpCache, a virtualized IOMMU). @default false */
  npCache?: boolean;
  /** IOTLB geometry, or `false` for none. @default `IOTLB_PRESETS["qemu-amd"]` (1024-entry hash, emptied when full) */
  iotlb?: IotlbOptions | false;
  /**
   * Page-directory caches, as gem5-style walk caches (per level, of PDEs): an instance, options
   * (levels not given default to the AMD v1 levels 1..4, `walkCacheLevelsFor`), or `false`.
   * INVALIDATE_IOMMU_PAGES with PDE = 1 (what Linux always sends) drops their entries over its
   * range, PDE = 0 keeps them; INVALIDATE_IOMMU_ALL drops everything. Read them through
   * `hardware.translationUnit.walkCache`. @default false
   */
  walkCache?: WalkCache | WalkCacheOptions | false;
  /** When the hardware executes queued commands. @default "lazy" (at the next COMPLETION_WAIT) */
  commandTiming?: CommandTiming;
  /** Highest DeviceID of the segment (`last_bdf`), sizing the device table. @default 0xffff */
  lastBdf?: number;
  /** PCI segment the IOMMU serves. @default 0 */
  segment?: number;
}

/** The AMD-Vi backend, with its hardware and driver for tests, dumps and tools. */
export interface AmdViBackend extends IommuBackend {
  readonly memory: PhysMemory;
  readonly tableAllocator: PageAllocator;
  readonly driver: AmdViDriver;
  /** The hardware model (MMIO, IOTLB, DTE cache, statistics). */
  readonly hardware: AmdViHardware;
}

const int = (v: number, min: number, max: number, what: string): number => {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new IommuError("EINVAL", `${what} ${v} must be an integer from ${min} to ${max}`);
  return v;
};

/**
 * Creates an AMD-Vi IOMMU: the hardware in its reset state, then the driver bringing it up
 * (device table, command buffer, event log, IommuEn, a full cache flush). Register the result with
 * `core.registerIommu(backend)`. `EINVAL` for inconsistent options.
 */
export function createAmdVi(options: AmdViOptions = {}): AmdViBackend {
  const name = options.name ?? "ivhd0";
  const efr = options.efr ?? AMD_VI_DEFAULT_EFR;
  const ias = int(options.ias ?? 48, 13, 52, "ias");
  const oas = int(options.oas ?? 52, 32, 52, "oas");
  const levels = amdPageModeForIas(ias);
  if (levels > efrHostLevels(efr))
    throw new IommuError(
      "EINVAL",
      `ias ${ias} needs ${levels}-level tables; the EFR's HATS allows ${efrHostLevels(efr)}`,
    );
  const memory = options.memory ?? createPhysMemory();
  const tableAllocator =
    options.tableAllocator ??
    createPageAllocator(memory, { base: 0x4100_0000, size: 0x3f00_0000, name: `${name} page tables` });
  const systemAllocator =
    options.systemAllocator ??
    createPageAllocator(memory, { base: 0x4000_0000, size: 0x100_0000, name: `${name} system memory` });
  const hardware = createAmdViHardware({
    memory,
    efr,
    name,
    ...(options.iotlb !== undefined ? { iotlb: options.iotlb } : {}),
    ...(options.walkCache !== undefined ? { walkCache: options.walkCache } : {}),
    ...(options.commandTiming !== undefined ? { commandTiming: options.commandTiming } : {}),
  });
  const driver = createAmdViDriver({
    name,
    memory,
    mmio: {
      read: (offset) => hardware.readMmio(offset),
      write: (offset, value) => hardware.writeMmio(offset, value),
    },
    tableAllocator,
    systemAllocator,
    ias,
    oas,
    efr,
    unityMaps: options.unityMaps ?? [],
    npCache: options.npCache ?? false,
    htRangeIgnore: options.htRangeIgnore ?? false,
    lastBdf: int(options.lastBdf ?? 0xffff, 0, 0xffff, "lastBdf"),
    segment: int(options.segment ?? 0, 0, 0xffff, "segment"),
  });
  hardware.setInterruptHandler(() => driver.handleInterrupt());

  return {
    name,
    driver,
    memory,
    tableAllocator,
    hardware,
    iotlb: hardware.translationUnit.iotlb,
    connect(host) {
      driver.connect(host);
    },
    dma(device, request) {
      if (request.pasid !== undefined)
        throw new IommuError("EOPNOTSUPP", `${name}: PASID (v2 tables) is not modelled`);
      const deviceId = driver.deviceIdOf(device);
      driver.takeFaultReport();
      const r = hardware.dma(deviceId, request.iova, request.length, request.write, request.data);
      if (r.ok) return { ok: true, data: r.data };
      return {
        ok: false,
        iova: r.iova,
        flags: request.write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ,
        reason: r.reason,
        reported: driver.takeFaultReport(),
      };
    },
    staleTranslation(device, iova) {
      return hardware.probeStale(driver.deviceIdOf(device), iova);
    },
  };
}

/** The AMD-Vi backend factory, typed as every backend factory is. */
export const amdViFactory: IommuBackendFactory<AmdViOptions> = createAmdVi;
