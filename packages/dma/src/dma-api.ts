/**
 * The DMA API of a simulated machine (include/linux/dma-mapping.h, kernel/dma/mapping.c) over the
 * IOMMU API: per device, the operations Linux would pick (dma-direct, dma-iommu, or ARM32's IOMMU
 * operations once the device is attached to an `arm_iommu` mapping), DMA-API debugging, swiotlb,
 * statistics of invalidation and of the lazy-invalidation stale window, and the `arm_iommu_*`
 * mapping helpers. `createDmaApi()` is the way in.
 */
import {
  type AddressLike,
  type DeviceDmaRequest,
  type DeviceDmaResult,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  type IommuCore,
  type IommuDevice,
  type IommuDomain,
  IommuError,
  isDmaType,
  isIommuSimError,
  type PageProvider,
  type PhysBus,
  toAddr,
} from "@iommu-sim/iommu";
import { createArmBitmapAllocator } from "./arm/bitmap-allocator.js";
import type { ArmIommuMapping, ArmMappingRecord } from "./arm/mapping.js";
import { createDmaDebug, type DmaDebug, type DmaDebugReport, type DmaDebugType } from "./debug/dma-debug.js";
import { DMA_MAPPING_ERROR, DmaDirection } from "./direction.js";
import { createIommuDmaCookie, type IommuDmaCookie } from "./iommu-dma/cookie.js";
import { createArmIommuOps } from "./ops/arm-iommu.js";
import { createDirectOps } from "./ops/direct.js";
import { createIommuDmaOps } from "./ops/iommu-dma.js";
import {
  createDmaCounters,
  type DmaContext,
  type DmaDeviceState,
  type DmaOps,
  type DmaOpsKind,
  type DmaWarning,
} from "./ops/ops.js";
import { createRamBlocks } from "./ops/ram-blocks.js";
import type { ScatterlistEntry } from "./scatterlist.js";
import { createSwiotlbPool, IO_TLB_DEFAULT_SIZE } from "./swiotlb/pool.js";
import { createSwiotlb, type Swiotlb, type SwiotlbBounceStats } from "./swiotlb/swiotlb.js";

export type { DmaOpsKind, DmaWarning } from "./ops/ops.js";

/** Options of {@link createDmaApi}. */
export interface DmaApiOptions {
  /** System memory the CPU side reads and writes (bounce copies, zeroing). @default core.memory */
  memory?: PhysBus;
  /** Page allocator of system RAM: coherent buffers and the swiotlb pool come from it. */
  ram: PageProvider;
  /**
   * swiotlb: `false` for none (`swiotlb=noforce`), else the pool size in bytes, rounded up to a
   * power of two and taken from `ram` at creation. @default { size: 64 MiB } (IO_TLB_DEFAULT_SIZE)
   */
  swiotlb?: false | { size?: number };
  /** CONFIG_DMA_API_DEBUG: track every mapping and report misuse. @default false */
  debug?: boolean;
  /** CPUs (per-CPU IOVA caches and flush queues); calls name theirs with `cpu`. @default 1 */
  cpus?: number;
  /**
   * Flush queues of lazy domains: `single` for one shared queue (`IOMMU_DMA_OPTS_SINGLE_QUEUE`,
   * 32768 entries / 1000 ms) instead of per-CPU ones (256 / 10 ms); size and timeout override.
   * @default per-CPU queues
   */
  flushQueue?: { single?: boolean; size?: number; timeoutNs?: number };
  /** `iommu.forcedac=1`: PCI devices do not try below 4 GiB first. @default false */
  forcedac?: boolean;
}

/** Per-call options of the mapping functions. */
export interface DmaCallOptions {
  /** `DMA_ATTR_*` flags. @default 0 */
  attrs?: number;
  /** The CPU the call runs on (per-CPU IOVA caches and flush queues). @default 0 */
  cpu?: number;
}

/** Per-device DMA parameters given at bind time. */
export interface DmaDeviceParams {
  /** `dev_is_dma_coherent()`: no CPU cache maintenance, `IOMMU_CACHE` in mappings. @default true */
  coherent?: boolean;
  /** `dma_set_max_seg_size()`. @default 65536 (Linux's default and PCI's) */
  maxSegmentSize?: number;
  /** `dma_set_seg_boundary()` mask. @default 0xffffffff for PCI, none (`ULONG_MAX`) otherwise */
  segmentBoundaryMask?: bigint;
  /** `dma_set_min_align_mask()`. @default 0 */
  minAlignMask?: number;
}

/** A coherent buffer (`dma_alloc_coherent()`'s return value and handle). */
export interface DmaCoherentBuffer {
  /** CPU address (physical: the kernel's linear map). */
  readonly cpuAddr: bigint;
  /** DMA address the device uses. */
  readonly dmaAddr: bigint;
  /** Bytes asked for. */
  readonly size: bigint;
}

/** The DMA-API handle of one bound device, from {@link DmaApi.device}. */
export interface DmaDevice {
  /** The device. */
  readonly device: IommuDevice;
  /** The operations serving the device now; throws the refusal when none may. */
  readonly opsKind: DmaOpsKind;
  /** `dma_map_single()`: maps `size` bytes at CPU address `cpuAddr`; `DMA_MAPPING_ERROR` on failure. */
  mapSingle(cpuAddr: AddressLike, size: AddressLike, dir: DmaDirection, options?: DmaCallOptions): bigint;
  /** `dma_unmap_single()`. */
  unmapSingle(dmaAddr: AddressLike, size: AddressLike, dir: DmaDirection, options?: DmaCallOptions): void;
  /** `dma_map_page()`: `page` is a page-aligned physical address, `offset` into it. */
  mapPage(
    page: AddressLike,
    offset: AddressLike,
    size: AddressLike,
    dir: DmaDirection,
    options?: DmaCallOptions,
  ): bigint;
  /** `dma_unmap_page()`. */
  unmapPage(dmaAddr: AddressLike, size: AddressLike, dir: DmaDirection, options?: DmaCallOptions): void;
  /** `dma_map_resource()`: MMIO (`IOMMU_MMIO`, never `IOMMU_CACHE`); `DMA_MAPPING_ERROR` on failure. */
  mapResource(physAddr: AddressLike, size: AddressLike, dir: DmaDirection, options?: DmaCallOptions): bigint;
  /** `dma_unmap_resource()`. */
  unmapResource(dmaAddr: AddressLike, size: AddressLike, dir: DmaDirection, options?: DmaCallOptions): void;
  /**
   * `dma_map_sg()`: maps the first `nents` entries; returns the DMA segments written to the list
   * (`dmaAddress` / `dmaLength` of entries 0..count-1), or 0 on failure with nothing left mapped.
   */
  mapSg(sg: ScatterlistEntry[], nents: number, dir: DmaDirection, options?: DmaCallOptions): number;
  /** `dma_unmap_sg()`: `nents` must be the value given to `mapSg`, not its result. */
  unmapSg(sg: ScatterlistEntry[], nents: number, dir: DmaDirection, options?: DmaCallOptions): void;
  /** `dma_alloc_coherent()`: zeroed, below the coherent mask; `null` on failure (`*handle = DMA_MAPPING_ERROR`). */
  allocCoherent(size: AddressLike, options?: DmaCallOptions): DmaCoherentBuffer | null;
  /** `dma_free_coherent()`. */
  freeCoherent(size: AddressLike, cpuAddr: AddressLike, dmaAddr: AddressLike, options?: DmaCallOptions): void;
  /** `dma_sync_single_for_cpu()` (and `_range_` with an address inside the mapping). */
  syncSingleForCpu(dmaAddr: AddressLike, size: AddressLike, dir: DmaDirection): void;
  /** `dma_sync_single_for_device()`. */
  syncSingleForDevice(dmaAddr: AddressLike, size: AddressLike, dir: DmaDirection): void;
  /** `dma_sync_sg_for_cpu()` with the `nents` given to `mapSg`. */
  syncSgForCpu(sg: ScatterlistEntry[], nents: number, dir: DmaDirection): void;
  /** `dma_sync_sg_for_device()`. */
  syncSgForDevice(sg: ScatterlistEntry[], nents: number, dir: DmaDirection): void;
  /**
   * `dma_mapping_error()`: `"ENOMEM"` for `DMA_MAPPING_ERROR`, else 0 (truthy exactly on error, as
   * Linux's -ENOMEM); also tells DMA-API debug the check was made.
   */
  mappingError(dmaAddr: AddressLike): 0 | "ENOMEM";
  /** `dma_set_mask()`: `EIO` when the operations cannot honour the mask. */
  setMask(mask: bigint): void;
  /** `dma_set_coherent_mask()`: `EIO` likewise. */
  setCoherentMask(mask: bigint): void;
  /** `dma_set_mask_and_coherent()`. */
  setMaskAndCoherent(mask: bigint): void;
  /** `dma_set_max_seg_size()`. */
  setMaxSegmentSize(bytes: number): void;
  /** `dma_set_seg_boundary()`: a mask of the form 2^n - 1. */
  setSegmentBoundary(mask: bigint): void;
  /** `iommu_dma_prepare_msi()`: the address the device writes to reach the MSI doorbell at `phys`. */
  prepareMsi(phys: AddressLike, options?: DmaCallOptions): bigint;
  /**
   * The driver unbinds: DMA-API debug reports pending mappings (`dma.debugCheckDeviceRelease`), then
   * `iommu_device_unuse_default_domain()`. The handle is dead afterwards.
   */
  release(): void;
}

/** What `dma.stats()` reports. */
export interface DmaStats {
  /** Successful streaming maps (single/page/resource, and sg lists) and coherent allocations. */
  readonly maps: number;
  readonly unmaps: number;
  /** Maps that failed (`DMA_MAPPING_ERROR`, 0 segments, `null`). */
  readonly mapErrors: number;
  /** IOMMU mappings live (dma-iommu and ARM), swiotlb-only direct maps not included. */
  readonly liveMappings: number;
  /** dma-iommu IOVA ranges: held by mappings, parked in the range caches, waiting in flush queues; ARM pages in use. */
  readonly iova: {
    readonly inUse: number;
    readonly cached: number;
    readonly queued: number;
    readonly armPages: number;
  };
  /** Invalidations the DMA layer issued. */
  readonly invalidations: {
    /** Strict unmaps' `iommu_iotlb_sync()`. */
    readonly iotlbSyncs: number;
    /** Flush queues' `flush_iotlb_all()`. */
    readonly flushAlls: number;
    /** Unmapped ranges covered by those flushes (total, largest, mean per flush). */
    readonly rangesFlushed: number;
    readonly maxRangesPerFlush: number;
    readonly meanRangesPerFlush: number;
  };
  /**
   * Lazy invalidation's stale window: per unmap, the virtual time until the flush that covered it,
   * and device accesses (through `dma.deviceDma`) to unmapped-but-unflushed IOVAs: those a stale IOTLB
   * entry would serve (`staleHits`), would not (`staleMisses`), the backend cannot tell (`unknown`,
   * `EOPNOTSUPP`), and those that actually completed (`succeeded`).
   */
  readonly staleWindow: {
    readonly unmaps: number;
    readonly pending: number;
    readonly totalNs: number;
    readonly maxNs: number;
    readonly meanNs: number;
    readonly accesses: number;
    readonly staleHits: number;
    readonly staleMisses: number;
    readonly unknown: number;
    readonly succeeded: number;
  };
  /** swiotlb counters, when swiotlb is on. */
  readonly swiotlb: SwiotlbBounceStats | undefined;
  /** Coherent buffers allocated now. */
  readonly coherentBuffers: number;
  /** CPU cache maintenance operations for non-coherent devices. */
  readonly cacheMaintenance: number;
}

/** What `dma.iommuDmaDomain()` tells about a device's DMA domain. */
export interface IommuDmaDomainInfo {
  readonly domain: IommuDomain;
  /** Effective type: `DMA` (strict) or `DMA-FQ` (lazy). */
  readonly type: "DMA" | "DMA-FQ";
  /** DMA_FQ demoted to DMA for want of `deferred-flush`. */
  readonly demoted: boolean;
  /** IOVA granule. */
  readonly granule: number;
}

/** The DMA API of a machine, made by {@link createDmaApi}. */
export interface DmaApi {
  /** The IOMMU core underneath. */
  readonly core: IommuCore;
  /**
   * A kernel driver binds to `device` and gets its DMA-API handle (`really_probe()` ->
   * `iommu_device_use_default_domain()`): `EBUSY` while the group is claimed for user-space DMA or
   * is on a domain other than its default. Bound already: the same handle (params applied).
   */
  device(device: IommuDevice, params?: DmaDeviceParams): DmaDevice;
  /** `dma_mapping_error(dev, addr)`: see {@link DmaDevice.mappingError}. */
  dmaMappingError(device: IommuDevice, dmaAddr: AddressLike): 0 | "ENOMEM";
  /** `dma_set_mask(dev, mask)`. */
  dmaSetMask(device: IommuDevice, mask: bigint): void;
  /** `dma_set_coherent_mask(dev, mask)`. */
  dmaSetCoherentMask(device: IommuDevice, mask: bigint): void;
  /** Which operations serve the device now, or `"refused"` when the DMA API may not be used. */
  opsKind(device: IommuDevice): DmaOpsKind | "refused";
  /** The device's dma-iommu domain state, when dma-iommu serves it. */
  iommuDmaDomain(device: IommuDevice): IommuDmaDomainInfo | undefined;
  /**
   * A device DMA through the hardware (`core.deviceDma`), counted in the stale window when it
   * reaches an unmapped IOVA whose flush is pending (`core.staleTranslation` asked first).
   */
  deviceDma(device: IommuDevice, request: DeviceDmaRequest): DeviceDmaResult;
  /** Flushes every lazy domain's flush queue now (as a timeout would). */
  flushQueues(): void;
  /** Counters. */
  stats(): DmaStats;
  /** DMA-API debug reports, oldest first (empty unless `debug`). */
  readonly debugReports: readonly DmaDebugReport[];
  /** Warnings the DMA layer printed. */
  readonly warnings: readonly DmaWarning[];
  /**
   * The driver of `device` unbinds or the device goes away: reports pending mappings as
   * "has pending DMA allocations while released from device". Returns how many (0 without debug).
   */
  debugCheckDeviceRelease(device: IommuDevice): number;
  /**
   * `arm_iommu_create_mapping(dev, base, size)`: an unmanaged domain on `device`'s IOMMU plus a
   * bitmap allocator over `[base, base + size)`; refcount 1. `ERANGE` above 4 GiB, `EINVAL` under a
   * page, the core's errno when no domain can be allocated.
   */
  armIommuCreateMapping(device: IommuDevice, base: AddressLike, size: AddressLike): ArmIommuMapping;
  /**
   * `arm_iommu_attach_device()`: `iommu_attach_device()` (singleton groups only, `EINVAL`; `EBUSY`
   * on another non-default domain), refcount + 1, the device now uses the ARM operations.
   */
  armIommuAttachDevice(device: IommuDevice, mapping: ArmIommuMapping): void;
  /** `arm_iommu_detach_device()`: warns "Not attached" when it is not; back to the default domain. */
  armIommuDetachDevice(device: IommuDevice): void;
  /** `arm_iommu_release_mapping()`: drops the creator's reference (`null`/`undefined` ignored); the last one frees the domain. */
  armIommuReleaseMapping(mapping: ArmIommuMapping | null | undefined): void;
  /** The ARM mapping a device is attached to. */
  armIommuMappingOf(device: IommuDevice): ArmIommuMapping | undefined;
}

const TYPE_SINGLE: DmaDebugType = "single";

function checkDir(dir: unknown): asserts dir is DmaDirection {
  if (
    dir !== DmaDirection.BIDIRECTIONAL &&
    dir !== DmaDirection.TO_DEVICE &&
    dir !== DmaDirection.FROM_DEVICE
  ) {
    throw new IommuError("EINVAL", `DMA direction ${String(dir)} is not valid (valid_dma_direction())`);
  }
}
function checkSize(value: AddressLike, what = "size"): number {
  const n = toAddr(value, what);
  if (n === 0) throw new IommuError("EINVAL", `${what} 0 is not a valid DMA length`);
  return n;
}
function checkNents(sg: ScatterlistEntry[], nents: number): void {
  if (!Array.isArray(sg) || !Number.isInteger(nents) || nents <= 0 || nents > sg.length) {
    throw new IommuError(
      "EINVAL",
      `nents ${String(nents)} is not in 1..${Array.isArray(sg) ? sg.length : 0}`,
    );
  }
}
function toDma(addr: number): bigint {
  return addr < 0 ? DMA_MAPPING_ERROR : BigInt(addr);
}
// A DMA address argument: DMA_MAPPING_ERROR becomes -1.
function dmaArg(value: AddressLike): number {
  if (value === DMA_MAPPING_ERROR) return -1;
  return toAddr(value, "DMA address");
}

/**
 * Creates the DMA API of the machine `core` (the boot of kernel/dma: swiotlb pool, debug tables).
 * @throws IommuError EINVAL without a memory bus (neither `memory` nor `core.memory`) or for bad
 *   `cpus`; `ENOMEM` when RAM cannot hold the swiotlb pool.
 */
export function createDmaApi(core: IommuCore, options: DmaApiOptions): DmaApi {
  const memory = options.memory ?? core.memory;
  if (memory === undefined)
    throw new IommuError("EINVAL", "createDmaApi needs a memory bus (options.memory or core.memory)");
  const cpus = options.cpus ?? 1;
  if (!Number.isSafeInteger(cpus) || cpus <= 0)
    throw new IommuError("EINVAL", `cpus ${String(cpus)} is not a positive integer`);
  const warnings: DmaWarning[] = [];
  const warn = (device: IommuDevice | undefined, message: string): void => {
    warnings.push({ device: device?.name, message, time: core.now() });
    if (warnings.length > 1000) warnings.shift();
  };
  let swiotlb: Swiotlb | undefined;
  if (options.swiotlb !== false) {
    let size = 4096;
    while (size < (options.swiotlb?.size ?? IO_TLB_DEFAULT_SIZE)) size *= 2;
    const start = options.ram.alloc(size);
    swiotlb = createSwiotlb(memory, createSwiotlbPool({ start, size, warn: (m) => warn(undefined, m) }));
  }
  const counters = createDmaCounters();
  const ctx: DmaContext = {
    core,
    memory,
    ram: options.ram,
    ramBlocks: createRamBlocks(options.ram, memory),
    swiotlb,
    counters,
    cpus,
    flushQueue: options.flushQueue ?? {},
    forcedac: options.forcedac ?? false,
    warn,
  };
  const debug: DmaDebug | undefined = options.debug ? createDmaDebug(() => core.now()) : undefined;
  const cookies = new Map<IommuDomain, IommuDmaCookie>();
  const armOf = new Map<IommuDevice, ArmMappingRecord>();
  const states = new Map<IommuDevice, DmaDeviceState>();
  const handles = new Map<IommuDevice, DmaDevice>();

  const cookieFor = (domain: IommuDomain, device: IommuDevice): IommuDmaCookie => {
    let cookie = cookies.get(domain);
    if (cookie === undefined) {
      for (const d of [...cookies.keys()]) if (d.freed) cookies.delete(d);
      cookie = createIommuDmaCookie(ctx, domain, device);
      cookies.set(domain, cookie);
    }
    return cookie;
  };
  // The cookie of the call in progress (set by `resolve`).
  let current: IommuDmaCookie | undefined;
  const direct = createDirectOps(ctx);
  const iommu = createIommuDmaOps(ctx, () => current!);
  const arm = createArmIommuOps(ctx, (st) => armOf.get(st.device)!);

  const stateOf = (device: IommuDevice): DmaDeviceState => {
    let st = states.get(device);
    if (st === undefined) {
      st = {
        device,
        coherent: true,
        maxSegSize: 65536,
        segBoundary: device.busType === "pci" ? 2 ** 32 : 0,
        minAlignMask: 0,
        policy: {
          pci32bitWorkaround: device.busType === "pci" && !ctx.forcedac,
          notice: (message) => warn(device, message),
        },
      };
      states.set(device, st);
    }
    return st;
  };

  /** The refusal, or the operations and (for dma-iommu) the cookie. */
  const resolve = (device: IommuDevice): DmaOps => {
    if (armOf.has(device)) return arm;
    if (!core.dmaApiUsable(device)) {
      const group = core.groupGet(device);
      if (group !== undefined && core.getDmaDomain(device) === undefined) {
        throw new IommuError(
          "ENODEV",
          `${device.name}: group ${group.id} has no default domain for the DMA API`,
        );
      }
      // A group claimed for user-space DMA sits on its blocking domain until the owner attaches its own.
      const claimed = core.getDomainForDevice(device)?.type === IOMMU_DOMAIN_BLOCKED;
      throw new IommuError(
        "EBUSY",
        claimed
          ? `${device.name}: group ${group!.id} is owned for user-space DMA; the DMA API cannot be used`
          : `${device.name}: group ${group?.id} is attached to a driver-owned domain, not its default domain; the DMA API cannot be used`,
      );
    }
    const domain = core.getDmaDomain(device);
    if (domain === undefined || domain.type === IOMMU_DOMAIN_IDENTITY) return direct;
    if (!isDmaType(domain.type)) {
      throw new IommuError("EINVAL", `${device.name}: default domain ${domain.id} is not a DMA-API domain`);
    }
    current = cookieFor(domain, device);
    return iommu;
  };

  const count = (ok: boolean): void => {
    if (ok) counters.maps++;
    else counters.mapErrors++;
  };

  const makeHandle = (device: IommuDevice): DmaDevice => {
    const st = stateOf(device);
    let alive = true;
    const ops = (): DmaOps => {
      if (!alive) throw new IommuError("ENODEV", `${device.name}: the driver was released`);
      return resolve(device);
    };
    const callOpts = (o: DmaCallOptions | undefined): { attrs: number; cpu: number } => {
      const attrs = o?.attrs ?? 0;
      const cpu = o?.cpu ?? 0;
      if (!Number.isSafeInteger(attrs) || attrs < 0)
        throw new IommuError("EINVAL", `DMA attrs ${String(attrs)} are not valid`);
      if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu >= cpus) {
        throw new IommuError("EINVAL", `CPU ${String(cpu)} is not one of the ${cpus} CPUs`);
      }
      return { attrs, cpu };
    };
    const mapOne = (
      type: DmaDebugType,
      phys: number,
      size: number,
      dir: DmaDirection,
      o: DmaCallOptions | undefined,
    ): bigint => {
      const { attrs, cpu } = callOpts(o);
      const op = ops();
      const addr =
        type === "resource"
          ? op.mapResource(st, phys, size, dir, attrs, cpu)
          : op.mapPage(st, phys, size, dir, attrs, cpu);
      count(addr >= 0);
      if (addr >= 0) {
        debug?.add(device, {
          type,
          dmaAddr: addr,
          size,
          dir,
          cpuAddr: phys,
          mapErr: "unchecked",
          sgCallEnts: 0,
          sgMappedEnts: 0,
        });
      }
      return toDma(addr);
    };
    const unmapOne = (
      type: DmaDebugType,
      dmaAddr: AddressLike,
      sizeArg: AddressLike,
      dir: DmaDirection,
      o: DmaCallOptions | undefined,
    ): void => {
      checkDir(dir);
      const addr = dmaArg(dmaAddr);
      const size = checkSize(sizeArg);
      const { attrs, cpu } = callOpts(o);
      const op = ops();
      debug?.checkUnmap(device, { type, dmaAddr: addr, size, dir });
      if (addr < 0) return;
      counters.unmaps++;
      if (type === "resource") op.unmapResource(st, addr, size, dir, attrs, cpu);
      else op.unmapPage(st, addr, size, dir, attrs, cpu);
    };
    const setMaskOf = (mask: bigint, which: "dmaMask" | "coherentDmaMask"): void => {
      if (typeof mask !== "bigint" || mask <= 0n || mask > 0xffff_ffff_ffff_ffffn) {
        throw new IommuError("EIO", `${device.name}: DMA mask ${String(mask)} is not supported`);
      }
      if (!ops().maskSupported(st, mask))
        throw new IommuError("EIO", `${device.name}: DMA mask 0x${mask.toString(16)} is not supported`);
      device[which] = mask;
    };
    const syncOne = (
      dmaAddr: AddressLike,
      sizeArg: AddressLike,
      dir: DmaDirection,
      forCpu: boolean,
    ): void => {
      checkDir(dir);
      const addr = dmaArg(dmaAddr);
      const size = checkSize(sizeArg);
      const op = ops();
      debug?.checkSync(device, { type: TYPE_SINGLE, dmaAddr: addr, size, dir }, forCpu);
      if (addr >= 0) op.syncSingle(st, addr, size, dir, forCpu);
    };
    const syncSg = (sg: ScatterlistEntry[], nents: number, dir: DmaDirection, forCpu: boolean): void => {
      checkDir(dir);
      checkNents(sg, nents);
      const op = ops();
      if (debug !== undefined) {
        let mapped = 0;
        for (let i = 0; i < nents; i++) {
          const s = sg[i]!;
          const addr = s.dmaAddress === DMA_MAPPING_ERROR ? -1 : Number(s.dmaAddress);
          if (i === 0) mapped = debug.mappedEnts(device, addr);
          if (i >= mapped) break;
          debug.checkSync(
            device,
            { type: "sg", dmaAddr: addr, size: s.dmaLength, dir, sgCallEnts: nents },
            forCpu,
          );
        }
      }
      op.syncSg(st, sg, nents, dir, forCpu);
    };

    const handle: DmaDevice = {
      device,
      get opsKind() {
        return ops().kind;
      },
      mapSingle(cpuAddr, size, dir, o) {
        checkDir(dir);
        return mapOne("single", toAddr(cpuAddr, "CPU address"), checkSize(size), dir, o);
      },
      unmapSingle(dmaAddr, size, dir, o) {
        unmapOne("single", dmaAddr, size, dir, o);
      },
      mapPage(page, offset, size, dir, o) {
        checkDir(dir);
        const p = toAddr(page, "page");
        if (p % 4096 !== 0) throw new IommuError("EINVAL", `page 0x${p.toString(16)} is not page aligned`);
        return mapOne("page", p + toAddr(offset, "offset"), checkSize(size), dir, o);
      },
      unmapPage(dmaAddr, size, dir, o) {
        unmapOne("page", dmaAddr, size, dir, o);
      },
      mapResource(physAddr, size, dir, o) {
        checkDir(dir);
        return mapOne("resource", toAddr(physAddr, "resource address"), checkSize(size), dir, o);
      },
      unmapResource(dmaAddr, size, dir, o) {
        unmapOne("resource", dmaAddr, size, dir, o);
      },
      mapSg(sg, nents, dir, o) {
        checkDir(dir);
        checkNents(sg, nents);
        const { attrs, cpu } = callOpts(o);
        const op = ops();
        const n = op.mapSg(st, sg, nents, dir, attrs, cpu);
        count(n > 0);
        if (n > 0 && debug !== undefined) {
          for (let i = 0; i < n; i++) {
            const s = sg[i]!;
            debug.add(device, {
              type: "sg",
              dmaAddr: Number(s.dmaAddress),
              size: s.dmaLength,
              dir,
              cpuAddr: Number(s.paddr),
              mapErr: "n/a",
              sgCallEnts: nents,
              sgMappedEnts: n,
            });
          }
        }
        return n;
      },
      unmapSg(sg, nents, dir, o) {
        checkDir(dir);
        checkNents(sg, nents);
        const { attrs, cpu } = callOpts(o);
        const op = ops();
        if (debug !== undefined) {
          let mapped = 0;
          for (let i = 0; i < nents; i++) {
            const s = sg[i]!;
            if (mapped !== 0 && i >= mapped) break;
            const addr = s.dmaAddress === DMA_MAPPING_ERROR ? -1 : Number(s.dmaAddress);
            if (i === 0) mapped = debug.mappedEnts(device, addr);
            debug.checkUnmap(device, {
              type: "sg",
              dmaAddr: addr,
              size: s.dmaLength,
              dir,
              sgCallEnts: nents,
            });
          }
        }
        counters.unmaps++;
        op.unmapSg(st, sg, nents, dir, attrs, cpu);
      },
      allocCoherent(sizeArg, o) {
        const size = checkSize(sizeArg);
        const { attrs, cpu } = callOpts(o);
        const buf = ops().allocCoherent(st, size, attrs, cpu);
        count(buf !== null);
        if (buf === null) return null;
        debug?.add(device, {
          type: "coherent",
          dmaAddr: buf.dma,
          size,
          dir: DmaDirection.BIDIRECTIONAL,
          cpuAddr: buf.cpu,
          mapErr: "n/a",
          sgCallEnts: 0,
          sgMappedEnts: 0,
        });
        return { cpuAddr: BigInt(buf.cpu), dmaAddr: BigInt(buf.dma), size: BigInt(size) };
      },
      freeCoherent(sizeArg, cpuAddr, dmaAddr, o) {
        const size = checkSize(sizeArg);
        const cpuA = toAddr(cpuAddr, "CPU address");
        const addr = dmaArg(dmaAddr);
        const { attrs, cpu } = callOpts(o);
        const op = ops();
        debug?.checkUnmap(device, {
          type: "coherent",
          dmaAddr: addr,
          size,
          dir: DmaDirection.BIDIRECTIONAL,
          cpuAddr: cpuA,
        });
        if (addr < 0) return;
        counters.unmaps++;
        op.freeCoherent(st, size, cpuA, addr, attrs, cpu);
      },
      syncSingleForCpu: (a, s, d) => syncOne(a, s, d, true),
      syncSingleForDevice: (a, s, d) => syncOne(a, s, d, false),
      syncSgForCpu: (sg, n, d) => syncSg(sg, n, d, true),
      syncSgForDevice: (sg, n, d) => syncSg(sg, n, d, false),
      mappingError(dmaAddr) {
        const isError = dmaAddr === DMA_MAPPING_ERROR;
        if (!isError) debug?.mappingErrorChecked(device, dmaArg(dmaAddr));
        return isError ? "ENOMEM" : 0;
      },
      setMask: (mask) => setMaskOf(mask, "dmaMask"),
      setCoherentMask: (mask) => setMaskOf(mask, "coherentDmaMask"),
      setMaskAndCoherent(mask) {
        setMaskOf(mask, "dmaMask");
        setMaskOf(mask, "coherentDmaMask");
      },
      setMaxSegmentSize(bytes) {
        if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > 0xffff_ffff) {
          throw new IommuError("EINVAL", `max segment size ${String(bytes)} is not in 1..2^32-1`);
        }
        st.maxSegSize = bytes;
      },
      setSegmentBoundary(mask) {
        if (typeof mask !== "bigint" || mask <= 0n || (mask & (mask + 1n)) !== 0n) {
          throw new IommuError(
            "EINVAL",
            `segment boundary ${String(mask)} is not a mask of the form 2^n - 1`,
          );
        }
        st.segBoundary = mask >= 2n ** 53n - 1n ? 0 : Number(mask) + 1;
      },
      prepareMsi(phys, o) {
        const pa = toAddr(phys, "MSI doorbell");
        const { cpu } = callOpts(o);
        const op = ops();
        if (op.kind !== "iommu") return BigInt(pa);
        return BigInt(current!.prepareMsi(st, pa, cpu));
      },
      release() {
        if (!alive) return;
        api.debugCheckDeviceRelease(device);
        alive = false;
        handles.delete(device);
        try {
          core.deviceUnuseDefaultDomain(device);
        } catch (error) {
          if (!isIommuSimError(error)) throw error;
        }
      },
    };
    return handle;
  };

  const applyParams = (device: IommuDevice, params: DmaDeviceParams | undefined): void => {
    if (params === undefined) return;
    const st = stateOf(device);
    const h = handles.get(device)!;
    if (params.coherent !== undefined) st.coherent = params.coherent;
    if (params.maxSegmentSize !== undefined) h.setMaxSegmentSize(params.maxSegmentSize);
    if (params.segmentBoundaryMask !== undefined) h.setSegmentBoundary(params.segmentBoundaryMask);
    if (params.minAlignMask !== undefined) {
      const m = params.minAlignMask;
      if (!Number.isSafeInteger(m) || m < 0 || (m & (m + 1)) !== 0) {
        throw new IommuError("EINVAL", `min_align_mask ${String(m)} is not of the form 2^n - 1`);
      }
      st.minAlignMask = m;
    }
  };

  const api: DmaApi = {
    core,
    device(device, params) {
      let h = handles.get(device);
      if (h === undefined) {
        core.deviceUseDefaultDomain(device);
        h = makeHandle(device);
        handles.set(device, h);
      }
      applyParams(device, params);
      return h;
    },
    dmaMappingError: (device, addr) => api.device(device).mappingError(addr),
    dmaSetMask: (device, mask) => api.device(device).setMask(mask),
    dmaSetCoherentMask: (device, mask) => api.device(device).setCoherentMask(mask),
    opsKind(device) {
      try {
        return resolve(device).kind;
      } catch (error) {
        if (isIommuSimError(error)) return "refused";
        throw error;
      }
    },
    iommuDmaDomain(device) {
      if (api.opsKind(device) !== "iommu") return undefined;
      const c = current!;
      return {
        domain: c.domain,
        type: c.lazy ? "DMA-FQ" : "DMA",
        demoted: c.demoted,
        granule: c.granule,
      };
    },
    deviceDma(device, request) {
      const domain = core.getDomainForDevice(device);
      const cookie = domain === undefined ? undefined : cookies.get(domain);
      const iova = toAddr(request.iova, "iova");
      const pending = cookie?.pendingAt(iova);
      if (pending !== undefined) {
        counters.staleAccesses++;
        try {
          if (core.staleTranslation(device, iova)) counters.staleHits++;
          else counters.staleMisses++;
        } catch (error) {
          if (!isIommuSimError(error) || error.code !== "EOPNOTSUPP") throw error;
          counters.staleUnknown++;
        }
      }
      const result = core.deviceDma(device, request);
      if (pending !== undefined && result.ok) counters.staleSucceeded++;
      return result;
    },
    flushQueues() {
      for (const [domain, cookie] of cookies) if (!domain.freed) cookie.fq?.flush();
    },
    stats() {
      let liveMappings = 0;
      let inUse = 0;
      let cached = 0;
      let queued = 0;
      let pending = 0;
      for (const [domain, cookie] of cookies) {
        if (domain.freed) continue;
        liveMappings += cookie.mappings.size;
        const use = cookie.iovaUse();
        inUse += use.inUse;
        cached += use.cached;
        queued += use.queued;
        pending += cookie.pending.size;
      }
      let armPages = 0;
      for (const m of new Set(armOf.values())) {
        liveMappings += m.mappings.size;
        armPages += m.allocator.usedPages;
      }
      const c = counters;
      return {
        maps: c.maps,
        unmaps: c.unmaps,
        mapErrors: c.mapErrors,
        liveMappings,
        iova: { inUse, cached, queued, armPages },
        invalidations: {
          iotlbSyncs: c.iotlbSyncs,
          flushAlls: c.flushAlls,
          rangesFlushed: c.flushedRanges,
          maxRangesPerFlush: c.maxRangesPerFlush,
          meanRangesPerFlush: c.flushAlls === 0 ? 0 : c.flushedRanges / c.flushAlls,
        },
        staleWindow: {
          unmaps: c.staleUnmaps,
          pending,
          totalNs: c.staleTotalNs,
          maxNs: c.staleMaxNs,
          meanNs: c.staleUnmaps === 0 ? 0 : c.staleTotalNs / c.staleUnmaps,
          accesses: c.staleAccesses,
          staleHits: c.staleHits,
          staleMisses: c.staleMisses,
          unknown: c.staleUnknown,
          succeeded: c.staleSucceeded,
        },
        swiotlb: swiotlb?.stats(),
        coherentBuffers: ctx.ramBlocks.live,
        cacheMaintenance: c.cacheMaintenance,
      };
    },
    debugReports: debug?.reports ?? [],
    warnings,
    debugCheckDeviceRelease(device) {
      return debug?.checkRelease(device) ?? 0;
    },
    armIommuCreateMapping(device, base, size) {
      const b = BigInt(toAddr(base, "mapping base"));
      const s = BigInt(toAddr(size, "mapping size"));
      const allocator = createArmBitmapAllocator({ base: b, size: s });
      const domain = core.domainAlloc(device, IOMMU_DOMAIN_UNMANAGED);
      const record: ArmMappingRecord = {
        domain,
        allocator,
        base: b,
        size: s,
        refcount: 1,
        devices: [],
        baseNum: Number(b),
        mappings: new Map(),
      };
      return record;
    },
    armIommuAttachDevice(device, mapping) {
      const m = mapping as ArmMappingRecord;
      if (m.refcount <= 0 || m.domain.freed) throw new IommuError("EINVAL", "the ARM mapping was released");
      core.attachDevice(m.domain, device);
      m.refcount++;
      m.devices.push(device);
      armOf.set(device, m);
    },
    armIommuDetachDevice(device) {
      const m = armOf.get(device);
      if (m === undefined) {
        warn(device, "Not attached");
        return;
      }
      core.detachDevice(m.domain, device);
      armOf.delete(device);
      m.devices.splice(m.devices.indexOf(device), 1);
      putMapping(m);
    },
    armIommuReleaseMapping(mapping) {
      if (mapping === null || mapping === undefined) return;
      putMapping(mapping as ArmMappingRecord);
    },
    armIommuMappingOf: (device) => armOf.get(device),
  };

  const putMapping = (m: ArmMappingRecord): void => {
    if (m.refcount <= 0) {
      warn(undefined, "release of an ARM mapping that was already freed");
      return;
    }
    m.refcount--;
    if (m.refcount === 0) core.domainFree(m.domain);
  };

  return api;
}
