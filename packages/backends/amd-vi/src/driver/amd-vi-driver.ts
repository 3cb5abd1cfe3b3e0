/**
 * The AMD-Vi IOMMU driver (Linux `drivers/iommu/amd/`): brings the hardware up through MMIO and
 * memory (`iommu_init_pci`, `init_device_table_dma`, `iommu_enable_command_buffer`,
 * `iommu_enable_event_buffer`, `iommu_enable`, `amd_iommu_flush_all_caches`) and implements the
 * IOMMU core's driver interface (`amd_iommu_ops`): probe, domains, attach, reserved regions,
 * capabilities, and the event-log interrupt.
 */
import { amdV1Geometry, encodeAmdCommand, type PageAllocator, type PhysMemory } from "@iommu-sim/hw";
import {
  type FaultResult,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  type IommuCap,
  type IommuDevice,
  type IommuDriver,
  IommuError,
  type IommuHost,
} from "@iommu-sim/iommu";
import { DTE_BYTES } from "../arch/dte.js";
import {
  CONTROL_CMDBUF_EN,
  CONTROL_COHERENT_EN,
  CONTROL_EVT_INT_EN,
  CONTROL_EVT_LOG_EN,
  CONTROL_IOMMU_EN,
  FEATURE_HDSUP,
  FEATURE_IA,
  MMIO_CMD_BUF_OFFSET,
  MMIO_CMD_HEAD_OFFSET,
  MMIO_CMD_TAIL_OFFSET,
  MMIO_CONTROL_OFFSET,
  MMIO_DEV_TABLE_OFFSET,
  MMIO_EVT_BUF_OFFSET,
  MMIO_EVT_HEAD_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  RING_BYTES,
  RING_LEN_SHIFT,
} from "../arch/registers.js";
import { detachDevice } from "./attach.js";
import { createCommandQueue } from "./command-queue.js";
import type { AmdDevData, AmdViContext } from "./context.js";
import { createDomainIdAllocator } from "./domain-ids.js";
import { createEventHandler } from "./event-handler.js";
import { buildInvDte } from "./flush.js";
import type { MmioAccess } from "./mmio.js";
import { createProtectionDomain } from "./protection-domain.js";
import { type AmdUnityMap, amdResvRegions, checkUnityMaps } from "./resv-regions.js";

/** Settings of {@link createAmdViDriver} (the backend factory fills in the defaults). */
export interface AmdViDriverOptions {
  readonly name: string;
  readonly memory: PhysMemory;
  readonly mmio: MmioAccess;
  /** Page-table pages. */
  readonly tableAllocator: PageAllocator;
  /** Device table, command buffer, event log, completion semaphore. */
  readonly systemAllocator: PageAllocator;
  readonly ias: number;
  readonly oas: number;
  readonly efr: bigint;
  readonly unityMaps: readonly AmdUnityMap[];
  readonly npCache: boolean;
  readonly htRangeIgnore: boolean;
  /** Highest DeviceID of the PCI segment (`last_bdf`): sizes the device table. */
  readonly lastBdf: number;
  /** PCI segment of the IOMMU. */
  readonly segment: number;
}

/** Where the driver put the hardware's structures in memory. */
export interface AmdViLayout {
  readonly deviceTable: { readonly base: number; readonly bytes: number };
  readonly commandBuffer: { readonly base: number; readonly bytes: number };
  readonly eventLog: { readonly base: number; readonly bytes: number };
  /** The COMPLETION_WAIT semaphore (`cmd_sem`). */
  readonly semaphore: number;
}

/** The driver, with what its backend needs beyond the core's interface. */
export interface AmdViDriver extends IommuDriver {
  /** Internal state (tests and dumps). */
  readonly context: AmdViContext;
  readonly layout: AmdViLayout;
  /** Hands the driver the core's services. */
  connect(host: IommuHost): void;
  /** The event-log interrupt handler. */
  handleInterrupt(): void;
  /** The answer of the latest fault report since the last call. */
  takeFaultReport(): FaultResult | undefined;
  /** The DeviceID a device's DMA carries (PCI: its requester ID). */
  deviceIdOf(device: IommuDevice): number;
}

/** The page-table root of a paging domain, or undefined (tests and dumps). */
export function domainTableRoot(domain: unknown): number | undefined {
  return (domain as { table?: { rootAddress: number } }).table?.rootAddress;
}

/** Brings the IOMMU up and returns the driver. Throws `ENOMEM` when its structures do not fit. */
export function createAmdViDriver(o: AmdViDriverOptions): AmdViDriver {
  checkUnityMaps(o.unityMaps);
  const { memory, mmio } = o;
  const entries = o.lastBdf + 1;
  let devTableBytes = 4096;
  while (devTableBytes < entries * DTE_BYTES) devTableBytes *= 2;
  const devTableBase = o.systemAllocator.alloc(devTableBytes);
  const cmdBase = o.systemAllocator.alloc(RING_BYTES);
  const evtBase = o.systemAllocator.alloc(RING_BYTES);
  const semaphore = o.systemAllocator.alloc(4096);
  // init_device_table_dma: every entry V | TV, Mode 0, IR = IW = 0: DMA of unprobed devices faults.
  for (let id = 0; id < entries; id += 128) {
    const words = memory.frameWordsForWrite(Math.floor((devTableBase + id * DTE_BYTES) / 4096));
    for (let i = 0; i < 128 && id + i < entries; i++) words[i * 8] = 0x3;
  }
  const geometry = amdV1Geometry({ ias: o.ias, oas: o.oas });
  const ctx: AmdViContext = {
    name: o.name,
    memory,
    tableAllocator: o.tableAllocator,
    mmio,
    cmd: createCommandQueue({ memory, mmio, base: cmdBase, bytes: RING_BYTES, semaphore, name: o.name }),
    devTableBase,
    devTableEntries: entries,
    ias: o.ias,
    oas: o.oas,
    mode: geometry.levels,
    pgsizeBitmap: geometry.pgsizeBitmapNumber,
    npCache: o.npCache,
    devData: new Map(),
    pciByDeviceId: new Map(),
    domainIds: createDomainIdAllocator(),
    domains: new Set(),
    host: undefined,
    log: [],
  };
  // 512-entry rings (log2 = 9), as Linux sizes them.
  mmio.write(MMIO_DEV_TABLE_OFFSET, BigInt(devTableBase) | BigInt(devTableBytes / 4096 - 1));
  mmio.write(MMIO_CMD_BUF_OFFSET, BigInt(cmdBase) | (9n << RING_LEN_SHIFT));
  mmio.write(MMIO_CMD_HEAD_OFFSET, 0);
  mmio.write(MMIO_CMD_TAIL_OFFSET, 0);
  mmio.write(MMIO_EVT_BUF_OFFSET, BigInt(evtBase) | (9n << RING_LEN_SHIFT));
  mmio.write(MMIO_EVT_HEAD_OFFSET, 0);
  mmio.write(MMIO_EVT_TAIL_OFFSET, 0);
  const control = CONTROL_COHERENT_EN | CONTROL_CMDBUF_EN | CONTROL_EVT_LOG_EN | CONTROL_EVT_INT_EN;
  mmio.write(MMIO_CONTROL_OFFSET, control);
  mmio.write(MMIO_CONTROL_OFFSET, control | CONTROL_IOMMU_EN);
  // amd_iommu_flush_all_caches: one INVALIDATE_IOMMU_ALL with IASup, else per entry.
  if ((o.efr & FEATURE_IA) !== 0n) {
    ctx.cmd.queue(encodeAmdCommand("INVALIDATE_IOMMU_ALL"));
  } else {
    for (let id = 0; id < entries; id++) ctx.cmd.queue(buildInvDte(id));
  }
  ctx.cmd.completionWait();

  const events = createEventHandler(ctx, evtBase, RING_BYTES, o.segment);

  const deviceIdOf = (device: IommuDevice): number => {
    const dev = ctx.devData.get(device);
    if (dev) return dev.deviceId;
    if (device.busType === "pci") return device.requesterId;
    const first = device.fwspec?.ids[0];
    if (first === undefined) throw new IommuError("ENODEV", `${device.name} has no DeviceID for ${o.name}`);
    return first;
  };

  const driver: AmdViDriver = {
    name: "amd-vi",
    pgsizeBitmap: ctx.pgsizeBitmap,
    context: ctx,
    layout: {
      deviceTable: { base: devTableBase, bytes: devTableBytes },
      commandBuffer: { base: cmdBase, bytes: RING_BYTES },
      eventLog: { base: evtBase, bytes: RING_BYTES },
      semaphore,
    },
    connect(host) {
      ctx.host = host;
    },
    handleInterrupt: () => events.handleInterrupt(),
    takeFaultReport: () => events.takeFaultReport(),
    deviceIdOf,
    probeDevice(device) {
      if (device.fwspec?.iommu !== o.name)
        throw new IommuError("ENODEV", `${device.name} is not behind ${o.name}`);
      if (device.busType === "pci" && device.segment !== o.segment)
        throw new IommuError(
          "ENODEV",
          `${device.name} is in PCI segment ${device.segment}, not ${o.segment}`,
        );
      const primary = device.busType === "pci" ? device.requesterId : device.fwspec.ids[0];
      const ids = [...new Set([...(primary === undefined ? [] : [primary]), ...device.fwspec.ids])];
      if (primary === undefined || ids.some((id) => id > o.lastBdf))
        throw new IommuError(
          "ENODEV",
          `${device.name}: DeviceID beyond last_bdf 0x${o.lastBdf.toString(16)}`,
        );
      const dev: AmdDevData = { device, deviceId: primary, deviceIds: ids, domain: undefined };
      ctx.devData.set(device, dev);
      if (device.busType === "pci") ctx.pciByDeviceId.set(primary, dev);
    },
    releaseDevice(device) {
      const dev = ctx.devData.get(device);
      if (dev === undefined) return;
      detachDevice(ctx, dev);
      ctx.devData.delete(device);
      if (ctx.pciByDeviceId.get(dev.deviceId) === dev) ctx.pciByDeviceId.delete(dev.deviceId);
    },
    domainAlloc(type) {
      if (type === IOMMU_DOMAIN_BLOCKED) return createProtectionDomain(ctx, "blocked");
      if (type === IOMMU_DOMAIN_IDENTITY) return createProtectionDomain(ctx, "identity");
      return createProtectionDomain(ctx, "paging");
    },
    defDomainType(device) {
      return device.busType === "pci" && device.untrusted ? IOMMU_DOMAIN_DMA : undefined;
    },
    getResvRegions(device) {
      const dev = ctx.devData.get(device);
      return dev === undefined ? [] : amdResvRegions(dev.deviceId, o.unityMaps, o.htRangeIgnore);
    },
    capable(_device, cap: IommuCap) {
      switch (cap) {
        case "cache-coherency":
        case "enforce-cache-coherency":
        case "deferred-flush":
          return true;
        case "dirty-tracking":
          return (o.efr & FEATURE_HDSUP) !== 0n;
        default:
          // No interrupt remapping, no NX in v1 tables, no pre-boot protection modelled.
          return false;
      }
    },
  };
  return driver;
}
