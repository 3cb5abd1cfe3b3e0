/**
 * The AMD IOMMU hardware model: MMIO registers, the device table walk and DTE cache, the command
 * processor, the event-log producer, the translation datapath (the shared translation unit walking
 * AMD v1 tables from memory, with an IOTLB tagged by DomainID) and the interrupt line. It knows the
 * driver only through memory and registers.
 */
import {
  createIotlb,
  createTranslationUnit,
  encodeAmdEvent,
  encodeAmdFaultFlags,
  type FaultSink,
  IOTLB_PRESETS,
  type Iotlb,
  type IotlbOptions,
  type PhysMemory,
  type TranslationFault,
  type TranslationUnit,
  type WalkCache,
  type WalkCacheOptions,
  walkCacheOptionFor,
} from "@iommu-sim/hw";
import { type DmaFaultReason, IommuError } from "@iommu-sim/iommu";
import type { DteFields } from "../arch/dte.js";
import {
  CONTROL_CMDBUF_EN,
  CONTROL_COMWAIT_EN,
  CONTROL_EVT_INT_EN,
  CONTROL_EVT_LOG_EN,
  CONTROL_IOMMU_EN,
  MMIO_CMD_BUF_OFFSET,
  MMIO_CMD_HEAD_OFFSET,
  MMIO_CMD_TAIL_OFFSET,
  MMIO_CONTROL_OFFSET,
  MMIO_DEV_TABLE_OFFSET,
  MMIO_EVT_BUF_OFFSET,
  MMIO_EVT_HEAD_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  MMIO_EXCL_BASE_OFFSET,
  MMIO_EXCL_LIMIT_OFFSET,
  MMIO_EXT_FEATURES_OFFSET,
  MMIO_RING_POINTER_MASK,
  MMIO_STATUS_CMDBUF_RUN,
  MMIO_STATUS_COM_WAIT_INT,
  MMIO_STATUS_EVT_INT,
  MMIO_STATUS_EVT_OVERFLOW,
  MMIO_STATUS_EVT_RUN,
  MMIO_STATUS_OFFSET,
  MMIO_STATUS_W1C,
  RING_ENTRY_BYTES,
  RING_LEN_SHIFT,
} from "../arch/registers.js";
import {
  type CommandProcessor,
  type CommandStats,
  type CommandTiming,
  createCommandProcessor,
} from "./command-processor.js";
import {
  type CachedDte,
  createDeviceTableCache,
  type DeviceTableCache,
  type DteCacheStats,
} from "./device-table-cache.js";
import { createEventLogProducer, type EventLogProducer, type EventLogStats } from "./event-log.js";
import { type AmdViRegisterFile, createRegisterFile, iommuEnabled } from "./register-file.js";

/** Options of {@link createAmdViHardware}. */
export interface AmdViHardwareOptions {
  /** System memory: device table, rings, page tables and DMA targets. */
  memory: PhysMemory;
  /** Extended Feature Register value. */
  efr: bigint;
  /**
   * The IOTLB: options of a new one, or `false` for none. @default `IOTLB_PRESETS["qemu-amd"]`
   * (QEMU's AMD-Vi IOTLB: a hash table emptied whole when it reaches 1024 entries)
   */
  iotlb?: IotlbOptions | false;
  /**
   * Page-directory caches of the translation unit, modelled as gem5-style walk caches: an instance,
   * options (levels not given default to the AMD v1 levels 1..4, `walkCacheOptionFor`), or `false`.
   * @default false
   */
  walkCache?: WalkCache | WalkCacheOptions | false;
  /** When queued commands execute. @default "lazy" */
  commandTiming?: CommandTiming;
  /** Name for messages. @default "amd-vi" */
  name?: string;
}

/** Outcome of a DMA transaction through the hardware. */
export type AmdViDmaResult =
  | { readonly ok: true; readonly data: Uint8Array | undefined }
  | {
      readonly ok: false;
      /** First faulting address. */
      readonly iova: number;
      readonly reason: DmaFaultReason;
      /** An event-log entry was written for it. */
      readonly logged: boolean;
    };

/** Counters of the whole model. */
export interface AmdViHardwareStats {
  readonly commands: CommandStats;
  readonly events: EventLogStats;
  readonly dteCache: DteCacheStats;
  readonly interrupts: number;
}

/** The hardware. */
export interface AmdViHardware {
  readonly name: string;
  readonly memory: PhysMemory;
  /** The translation datapath (streams = DeviceIDs, IOTLB tags = DomainIDs). */
  readonly translationUnit: TranslationUnit;
  /** The IOTLB, or null without one. */
  readonly iotlb: Iotlb | null;
  /** Reads a 64-bit MMIO register. `EINVAL` for an offset the model does not implement. */
  readMmio(offset: number): bigint;
  /** Writes a 64-bit MMIO register (read-only ones ignore the write). `EINVAL` for an unknown offset. */
  writeMmio(offset: number, value: bigint | number): void;
  /** Connects the interrupt (the MSI the driver's handler runs on). */
  setInterruptHandler(handler: (() => void) | undefined): void;
  /** A device's DMA: `deviceId` is the requester ID the transaction carries. */
  dma(deviceId: number, iova: number, length: number, write: boolean, data?: Uint8Array): AmdViDmaResult;
  /** True when the IOTLB still answers `iova` for `deviceId` although the tables no longer map it there. */
  probeStale(deviceId: number, iova: number): boolean;
  /** Executes every queued command now (the hardware catches up with the tail). */
  drainCommands(): void;
  /** The DTE the hardware has cached for `deviceId`, if any. */
  cachedDte(deviceId: number): DteFields | undefined;
  /** Counters. */
  stats(): AmdViHardwareStats;
}

const BASE_MASK = 0xf_ffff_ffff_f000n;

/** Creates the hardware, in its reset state (everything disabled). */
export function createAmdViHardware(options: AmdViHardwareOptions): AmdViHardware {
  const name = options.name ?? "amd-vi";
  const { memory } = options;
  const regs: AmdViRegisterFile = createRegisterFile(options.efr);
  let pending = false;
  let delivering = false;
  let handler: (() => void) | undefined;
  let interrupts = 0;
  const signal = () => {
    pending = true;
  };

  // Faults of the translation unit become IO_PAGE_FAULT entries of the DTE being used.
  let current: CachedDte | undefined;
  const ioPageFault = (deviceId: number, domainId: number, iova: number, flags: number): boolean => {
    if (current?.fields.sa) return false;
    return events.log(encodeAmdEvent("IO_PAGE_FAULT", { deviceId, domainId, flags, address: iova }));
  };
  let lastLogged = false;
  const sink: FaultSink = {
    record(fault: TranslationFault) {
      const write = (fault.access & 2) !== 0;
      const permission = fault.kind === "permission";
      const flags = encodeAmdFaultFlags({ rw: write, pr: permission, pe: permission });
      lastLogged = ioPageFault(fault.stream, current?.fields.domainId ?? 0, fault.iova, flags);
    },
  };
  const iotlb: Iotlb | false =
    options.iotlb === false ? false : createIotlb(options.iotlb ?? IOTLB_PRESETS["qemu-amd"]);
  const tu = createTranslationUnit({
    memory,
    iotlb,
    walkCache: walkCacheOptionFor(options.walkCache, "amd-v1"),
    faults: sink,
    name,
  });
  const events: EventLogProducer = createEventLogProducer(regs, memory, signal);
  const dtes: DeviceTableCache = createDeviceTableCache(regs, memory, tu);
  const commands: CommandProcessor = createCommandProcessor({
    regs,
    memory,
    dtes,
    unit: tu,
    events,
    timing: options.commandTiming ?? "lazy",
    signal,
  });

  const deliver = (): void => {
    if (delivering) return;
    delivering = true;
    try {
      while (pending) {
        pending = false;
        const evt =
          (regs.status & (MMIO_STATUS_EVT_INT | MMIO_STATUS_EVT_OVERFLOW)) !== 0 &&
          (regs.controlLo & CONTROL_EVT_INT_EN) !== 0;
        const cw =
          (regs.status & MMIO_STATUS_COM_WAIT_INT) !== 0 && (regs.controlLo & CONTROL_COMWAIT_EN) !== 0;
        if ((evt || cw) && handler) {
          interrupts++;
          handler();
        }
      }
    } finally {
      delivering = false;
    }
  };

  const ringBytes = (value: bigint): number => {
    const len = Number((value >> RING_LEN_SHIFT) & 0xfn);
    // ComLen / EventLen below 8 (256 entries) are reserved; the model reads them as 8.
    return 2 ** Math.max(8, len) * RING_ENTRY_BYTES;
  };

  const writeControl = (value: bigint): void => {
    const before = regs.controlLo;
    regs.control = value;
    regs.controlLo = Number(value & 0xffff_ffffn);
    const on = (bit: number) => (before & bit) === 0 && (regs.controlLo & bit) !== 0;
    const off = (bit: number) => (before & bit) !== 0 && (regs.controlLo & bit) === 0;
    const logOn = CONTROL_IOMMU_EN | CONTROL_EVT_LOG_EN;
    if ((regs.controlLo & logOn) === logOn && (on(CONTROL_EVT_LOG_EN) || on(CONTROL_IOMMU_EN)))
      regs.status |= MMIO_STATUS_EVT_RUN;
    if (off(CONTROL_EVT_LOG_EN) || off(CONTROL_IOMMU_EN)) regs.status &= ~MMIO_STATUS_EVT_RUN;
    const cmdOn = CONTROL_IOMMU_EN | CONTROL_CMDBUF_EN;
    if ((regs.controlLo & cmdOn) === cmdOn && (on(CONTROL_CMDBUF_EN) || on(CONTROL_IOMMU_EN)))
      regs.status |= MMIO_STATUS_CMDBUF_RUN;
    if (off(CONTROL_CMDBUF_EN) || off(CONTROL_IOMMU_EN)) regs.status &= ~MMIO_STATUS_CMDBUF_RUN;
    // Enabling an interrupt while its status bit is set raises it.
    if (on(CONTROL_EVT_INT_EN) && (regs.status & (MMIO_STATUS_EVT_INT | MMIO_STATUS_EVT_OVERFLOW)) !== 0)
      signal();
    if (on(CONTROL_COMWAIT_EN) && (regs.status & MMIO_STATUS_COM_WAIT_INT) !== 0) signal();
    commands.tailWritten();
  };

  const direct = (iova: number, length: number, write: boolean, data?: Uint8Array): AmdViDmaResult => {
    if (iova + length > memory.limit) return { ok: false, iova, reason: "aperture", logged: false };
    if (write) {
      memory.write(iova, data!);
      return { ok: true, data: undefined };
    }
    return { ok: true, data: memory.read(iova, length) };
  };

  const reasonOf = (kind: string): DmaFaultReason =>
    kind === "permission" ? "permission" : kind === "address-size" ? "aperture" : "unmapped";

  const translateDma = (
    dte: CachedDte,
    iova: number,
    length: number,
    write: boolean,
    data?: Uint8Array,
  ): AmdViDmaResult => {
    const f = dte.fields;
    const rwFlag = write ? encodeAmdFaultFlags({ rw: true }) : 0;
    switch (dte.behaviour) {
      case "passthrough":
        return direct(iova, length, write, data);
      case "blocked":
        return { ok: false, iova, reason: "blocked", logged: false };
      case "illegal": {
        const logged = events.log(
          encodeAmdEvent("ILLEGAL_DEV_TABLE_ENTRY", { deviceId: dte.deviceId, flags: rwFlag, address: iova }),
        );
        return { ok: false, iova, reason: "no-translation", logged };
      }
      default:
        break;
    }
    // IR / IW are ANDed with everything below them: a denied direction faults before any walk.
    if (!(write ? f.iw : f.ir)) {
      const flags = rwFlag | encodeAmdFaultFlags({ pe: true });
      const logged = ioPageFault(dte.deviceId, f.domainId, iova, flags);
      return { ok: false, iova, reason: "permission", logged };
    }
    if (dte.behaviour === "filter") return direct(iova, length, write, data);
    lastLogged = false;
    const r = write ? tu.dmaWrite(dte.deviceId, iova, data!) : tu.dmaRead(dte.deviceId, iova, length);
    if (r.ok) return { ok: true, data: r.data };
    const fault = r.fault!;
    return { ok: false, iova: fault.iova, reason: reasonOf(fault.kind), logged: lastLogged };
  };

  const hw: AmdViHardware = {
    name,
    memory,
    translationUnit: tu,
    iotlb: tu.iotlb,
    readMmio(offset) {
      switch (offset) {
        case MMIO_DEV_TABLE_OFFSET:
        case MMIO_CMD_BUF_OFFSET:
        case MMIO_EVT_BUF_OFFSET:
        case MMIO_EXCL_BASE_OFFSET:
        case MMIO_EXCL_LIMIT_OFFSET:
          return regs.raw.get(offset) ?? 0n;
        case MMIO_CONTROL_OFFSET:
          return regs.control;
        case MMIO_EXT_FEATURES_OFFSET:
          return regs.efr;
        case MMIO_CMD_HEAD_OFFSET:
          // Software polling the head sees the progress the hardware has made by now.
          commands.drain();
          deliver();
          return BigInt(regs.cmdHead);
        case MMIO_CMD_TAIL_OFFSET:
          return BigInt(regs.cmdTail);
        case MMIO_EVT_HEAD_OFFSET:
          return BigInt(regs.evtHead);
        case MMIO_EVT_TAIL_OFFSET:
          return BigInt(regs.evtTail);
        case MMIO_STATUS_OFFSET:
          return BigInt(regs.status);
        default:
          throw new IommuError("EINVAL", `${name}: no MMIO register at offset 0x${offset.toString(16)}`);
      }
    },
    writeMmio(offset, valueIn) {
      const value = BigInt.asUintN(64, BigInt(valueIn));
      const pointer = Number(value & BigInt(MMIO_RING_POINTER_MASK));
      switch (offset) {
        case MMIO_DEV_TABLE_OFFSET:
          regs.raw.set(offset, value);
          regs.devTabBase = Number(value & BASE_MASK);
          regs.devTabBytes = (Number(value & 0x1ffn) + 1) * 4096;
          break;
        case MMIO_CMD_BUF_OFFSET:
          regs.raw.set(offset, value);
          regs.cmdBase = Number(value & BASE_MASK);
          regs.cmdBytes = ringBytes(value);
          break;
        case MMIO_EVT_BUF_OFFSET:
          regs.raw.set(offset, value);
          regs.evtBase = Number(value & BASE_MASK);
          regs.evtBytes = ringBytes(value);
          break;
        case MMIO_EXCL_BASE_OFFSET:
        case MMIO_EXCL_LIMIT_OFFSET:
          regs.raw.set(offset, value);
          break;
        case MMIO_CONTROL_OFFSET:
          writeControl(value);
          break;
        case MMIO_EXT_FEATURES_OFFSET:
          break;
        case MMIO_CMD_HEAD_OFFSET:
          regs.cmdHead = regs.cmdBytes ? pointer % regs.cmdBytes : 0;
          break;
        case MMIO_CMD_TAIL_OFFSET:
          regs.cmdTail = regs.cmdBytes ? pointer % regs.cmdBytes : 0;
          commands.tailWritten();
          break;
        case MMIO_EVT_HEAD_OFFSET:
          regs.evtHead = regs.evtBytes ? pointer % regs.evtBytes : 0;
          break;
        case MMIO_EVT_TAIL_OFFSET:
          regs.evtTail = regs.evtBytes ? pointer % regs.evtBytes : 0;
          break;
        case MMIO_STATUS_OFFSET:
          regs.status &= ~(Number(value & 0xffff_ffffn) & MMIO_STATUS_W1C);
          break;
        default:
          throw new IommuError("EINVAL", `${name}: no MMIO register at offset 0x${offset.toString(16)}`);
      }
      deliver();
    },
    setInterruptHandler(h) {
      handler = h;
    },
    dma(deviceId, iova, length, write, data) {
      try {
        if (!iommuEnabled(regs)) return direct(iova, length, write, data);
        const dte = dtes.lookup(deviceId);
        current = dte;
        return translateDma(dte, iova, length, write, data);
      } finally {
        current = undefined;
        deliver();
      }
    },
    probeStale(deviceId, iova) {
      const cached = dtes.peek(deviceId);
      const dte = cached ?? dtes.read(deviceId);
      if (dte.behaviour !== "translate" || tu.iotlb === null) return false;
      if (cached) return tu.probeStale(deviceId, iova).stale;
      // The IOTLB outlives the DTE cache (it is tagged by DomainID): probe with the entry in memory.
      tu.setStream(deviceId, { mode: "translate", stage1: dte.stage!, asid: dte.fields.domainId });
      try {
        return tu.probeStale(deviceId, iova).stale;
      } finally {
        tu.setStream(deviceId, undefined);
      }
    },
    drainCommands() {
      commands.drain();
      deliver();
    },
    cachedDte: (deviceId) => dtes.peek(deviceId)?.fields,
    stats: () => ({
      commands: { ...commands.stats },
      events: { ...events.stats },
      dteCache: { ...dtes.stats },
      interrupts,
    }),
  };
  return hw;
}
