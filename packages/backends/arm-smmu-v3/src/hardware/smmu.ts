/**
 * The SMMUv3 hardware model: its register file (ID registers, CR0, GBPA, IRQ_CTRL, GERROR,
 * STRTAB_BASE/CFG, CMDQ and EVTQ base/prod/cons), a configuration cache filled from the stream table
 * in memory and dropped only by CFGI commands, the command-queue consumer, the event-queue producer,
 * and the translation unit of `@iommu-sim/hw` (IOTLB, walkers) the datapath goes through.
 * The driver reaches it only through registers and memory.
 */
import {
  createTranslationUnit,
  type IotlbOptions,
  type PhysMemory,
  type TranslationFault,
  type TranslationUnit,
  type TranslationUnitOptions,
} from "@iommu-sim/hw";
import { CMD_BYTES, CMDQ_OP_NAMES } from "../arch/commands.js";
import { EVT_BYTES } from "../arch/events.js";
import {
  CMDQ_CONS_ERR_SHIFT,
  CMDQ_ERR_CERROR_ILL,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_SMMUEN,
  GBPA_ABORT,
  GERROR_CMDQ_ERR,
  IRQ_CTRL_EVTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  Q_OVERFLOW_FLAG,
  queueEmpty,
  queueIncrement,
  queueIndex,
  SMMU_CMDQ_BASE,
  SMMU_CMDQ_CONS,
  SMMU_CMDQ_PROD,
  SMMU_CR0,
  SMMU_CR0ACK,
  SMMU_EVTQ_BASE,
  SMMU_EVTQ_CONS,
  SMMU_EVTQ_PROD,
  SMMU_GBPA,
  SMMU_GERROR,
  SMMU_GERRORN,
  SMMU_IDR0,
  SMMU_IDR1,
  SMMU_IDR3,
  SMMU_IDR5,
  SMMU_IRQ_CTRL,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
} from "../arch/registers.js";
import { readWords } from "../arch/words.js";
import {
  decodeSmmuV3IdRegisters,
  type SmmuV3IdFeatures,
  type SmmuV3IdRegisterValues,
} from "../id-registers.js";
import { type CommandStats, type CommandTarget, executeCommand } from "./command-consumer.js";
import {
  type FetchedConfig,
  type FetchLimits,
  fetchStreamConfig,
  type StreamTableRegisters,
} from "./config-fetch.js";
import { type EventQueueState, type EventQueueStats, recordFault } from "./event-producer.js";

/** IOTLB options of the translation unit (`@iommu-sim/hw`'s `IotlbOptions`). */
export type SmmuIotlbOptions = IotlbOptions;

/**
 * The default IOTLB: gem5's per-interface main TLB, 2048 entries, 4-way set associative, round-robin
 * replacement (hw-facts 4.4, `SMMUv3DeviceInterface.tlb_entries/tlb_assoc/tlb_policy`).
 */
export const SMMU_DEFAULT_IOTLB: SmmuIotlbOptions = {
  entries: 2048,
  ways: 4,
  replacement: "round-robin",
  name: "SMMUv3 main TLB",
};

/** Options of {@link createSmmuV3Hardware}. */
export interface SmmuV3HardwareOptions {
  /** Physical memory: stream table, CDs, queues and page tables live here; DMA lands here. */
  memory: PhysMemory;
  /** ID register values (IDR3 defaults to 0). */
  idRegisters: SmmuV3IdRegisterValues;
  /** IOTLB geometry, or `false` for none. @default {@link SMMU_DEFAULT_IOTLB} */
  iotlb?: SmmuIotlbOptions | false;
  /**
   * Walk caches of the translation unit (gem5's per-stage, per-level table-descriptor caches), or
   * `false` for none. TLBI_NH_VA / TLBI_S2_IPA with LEAF=0 drop their entries over the range,
   * LEAF=1 keeps them. @default false
   */
  walkCache?: TranslationUnitOptions["walkCache"];
  /** Name for messages. @default "smmu-v3" */
  name?: string;
}

/** Interrupt lines of the SMMU (wired SPIs; the model has no MSIs). */
export interface SmmuV3Interrupts {
  /** The event queue has new records (IRQ_CTRL.EVTQ_IRQEN). */
  evtq?: () => void;
  /** A global error became active (IRQ_CTRL.GERROR_IRQEN). */
  gerror?: () => void;
}

/** Counters of the SMMU. */
export interface SmmuV3HardwareStats {
  /** Commands consumed, by name. */
  commands: Record<string, number>;
  /** CMD_SYNCs completed. */
  syncs: number;
  /** Commands refused with CERROR_ILL. */
  illegalCommands: number;
  /** IOTLB entries dropped by TLBI commands. */
  iotlbEntriesInvalidated: number;
  /** Configuration fetches (config-cache misses). */
  configFetches: number;
  /** Config-cache entries dropped by CFGI commands. */
  configInvalidations: number;
  /** Event records written / lost. */
  eventsWritten: number;
  eventsLost: number;
}

/** One consumed command, for tests and dumps. */
export interface TracedCommand {
  readonly name: string;
  readonly dwords: readonly [bigint, bigint];
}

/** The SMMU. */
export interface SmmuV3Hardware {
  /** Features decoded from the ID registers. */
  readonly features: SmmuV3IdFeatures;
  /** The translation datapath (IOTLB and walkers). */
  readonly translation: TranslationUnit;
  readonly memory: PhysMemory;
  /** Reads a 32-bit register (`readl`). */
  read32(offset: number): number;
  /** Writes a 32-bit register (`writel`). */
  write32(offset: number, value: number): void;
  /** Reads a 64-bit register (`readq`), as a bigint: not a hot path, and RA sits in bit 62. */
  read64(offset: number): bigint;
  /** Writes a 64-bit register (`writeq`) given as its two 32-bit halves. */
  write64(offset: number, lo: number, hi: number): void;
  /** Connects the interrupt lines. */
  setInterrupts(lines: SmmuV3Interrupts): void;
  /**
   * A transaction from StreamID `sid`: the config cache (filled from memory on a miss), then the
   * translation unit. With SMMUEN = 0, GBPA decides (abort or bypass). Faults become event records.
   */
  dma(
    sid: number,
    iova: number,
    length: number,
    write: boolean,
    data: Uint8Array | undefined,
    ssid: number,
  ): { ok: boolean; data?: Uint8Array; fault?: TranslationFault; recorded: boolean; aborted: boolean };
  /** Whether `sid`'s cached translation of `iova` is stale (the translation unit's probeStale). */
  probeStale(sid: number, iova: number): boolean;
  /** The config-cache entry of `sid`, if cached. */
  cachedConfig(sid: number): FetchedConfig | undefined;
  /** The last `n` commands consumed (up to 256), oldest first. */
  recentCommands(n?: number): TracedCommand[];
  /** Counters. */
  stats(): SmmuV3HardwareStats;
  /** Zeroes the counters and the command trace. */
  resetStats(): void;
}

const TRACE = 256;

/** Creates the SMMUv3 hardware model. Throws `EINVAL` for ID register values Linux would refuse. */
export function createSmmuV3Hardware(options: SmmuV3HardwareOptions): SmmuV3Hardware {
  const { memory } = options;
  const features = decodeSmmuV3IdRegisters(options.idRegisters);
  const idr = [
    options.idRegisters.idr0 >>> 0,
    options.idRegisters.idr1 >>> 0,
    (options.idRegisters.idr3 ?? 0) >>> 0,
    options.idRegisters.idr5 >>> 0,
  ];
  const hyp = ((idr[0]! >>> 9) & 1) === 1;
  const cache = new Map<number, FetchedConfig>();
  let nestedStreams = 0;
  const limits: FetchLimits = {
    sidBits: features.sidBits,
    ssidBits: features.ssidBits,
    oas: features.oas,
    granules: features.granules,
    stage1: features.stage1,
    stage2: features.stage2,
  };
  // Registers.
  let cr0 = 0;
  let gbpa = GBPA_ABORT; // Reset value: abort while disabled (Linux's disable_bypass default).
  let irqCtrl = 0;
  let gerror = 0;
  let gerrorn = 0;
  const strtab: { base: number; log2size: number; split: number; fmt: number } = {
    base: 0,
    log2size: 0,
    split: 0,
    fmt: 0,
  };
  let strtabBaseReg = 0n;
  let cmdqBaseReg = 0n;
  let evtqBaseReg = 0n;
  const cmdq = { base: 0, log2size: 0, prod: 0, cons: 0 };
  const evtq: EventQueueState = { base: 0, log2size: 0, prod: 0, cons: 0 };
  const evtStats: EventQueueStats = { written: 0, lost: 0 };
  const cmdStats: CommandStats = { byOpcode: {}, syncs: 0, illegal: 0, entriesDropped: 0 };
  let configFetches = 0;
  let configInvalidations = 0;
  let lines: SmmuV3Interrupts = {};
  let evtqPending = false;
  let consuming = false;
  const trace = new Uint32Array(TRACE * 4);
  let traced = 0;
  const cmdWords = new Uint32Array(4);
  const evtWords = new Uint32Array(EVT_BYTES / 4);

  // The fault sink: called by the translation unit while it translates.
  let recordedThisDma = false;
  const sink = {
    record(fault: TranslationFault): void {
      const entry = cache.get(fault.stream);
      const configError = entry?.error ?? 0;
      if (entry && fault.stage === 1 && !entry.recordS1) return;
      if (entry && fault.stage === 2 && !entry.recordS2) return;
      if (!(cr0 & CR0_EVTQEN)) {
        evtStats.lost++;
        return;
      }
      if (recordFault(memory, evtq, evtStats, fault, configError, evtWords)) {
        recordedThisDma = true;
        evtqPending = true;
      }
    },
  };

  const translation = createTranslationUnit({
    memory,
    iotlb: options.iotlb === undefined ? SMMU_DEFAULT_IOTLB : options.iotlb,
    walkCache: options.walkCache ?? false,
    faults: sink,
    name: options.name ?? "smmu-v3",
  });

  const strtabRegs = (): StreamTableRegisters => strtab;

  const invalidateConfig = (first: number, count: number): void => {
    for (const sid of [...cache.keys()]) {
      if (sid >= first && sid < first + count) drop(sid);
    }
  };
  const drop = (sid: number): void => {
    const entry = cache.get(sid);
    if (entry?.config?.mode === "translate" && entry.config.stage1 && entry.config.stage2) nestedStreams--;
    cache.delete(sid);
    translation.setStream(sid, undefined);
    configInvalidations++;
  };
  const target: CommandTarget = {
    translation,
    rangeInvalidation: features.rangeInvalidation,
    hyp,
    ats: features.ats,
    pri: features.pri,
    nested: () => nestedStreams > 0,
    invalidateConfig,
    invalidateAllConfig: () => {
      for (const sid of [...cache.keys()]) drop(sid);
    },
  };

  const load = (sid: number): FetchedConfig => {
    let entry = cache.get(sid);
    if (entry) return entry;
    configFetches++;
    entry = fetchStreamConfig(memory, strtabRegs(), limits, sid);
    try {
      translation.setStream(sid, entry.config);
    } catch {
      // The translation unit refused the decoded stages (e.g. a table geometry it cannot walk).
      entry = {
        ...entry,
        config: undefined,
        error:
          entry.config?.mode === "translate" && entry.config.stage2 && !entry.config.stage1 ? 0x04 : 0x0a,
      };
      translation.setStream(sid, undefined);
    }
    if (entry.config?.mode === "translate" && entry.config.stage1 && entry.config.stage2) nestedStreams++;
    cache.set(sid, entry);
    return entry;
  };

  const raise = (): void => {
    if (evtqPending && irqCtrl & IRQ_CTRL_EVTQ_IRQEN) {
      evtqPending = false;
      lines.evtq?.();
    }
  };

  const cmdqError = (): number => (cmdq.cons >>> CMDQ_CONS_ERR_SHIFT) & 0x7f;

  const consume = (): void => {
    if (consuming) return;
    consuming = true;
    try {
      for (;;) {
        while (cr0 & CR0_CMDQEN && cmdqError() === 0 && !queueEmpty(cmdq.prod, cmdq.cons, cmdq.log2size)) {
          const at = cmdq.base + queueIndex(cmdq.cons, cmdq.log2size) * CMD_BYTES;
          readWords(memory, at, cmdWords);
          trace.set(cmdWords, (traced % TRACE) * 4);
          traced++;
          if (!executeCommand(target, cmdWords, 0, cmdStats)) {
            // CONS stays on the offending command; ERR says why; GERROR.CMDQ_ERR toggles active.
            cmdq.cons = (cmdq.cons | (CMDQ_ERR_CERROR_ILL << CMDQ_CONS_ERR_SHIFT)) >>> 0;
            gerror = (gerror ^ GERROR_CMDQ_ERR) >>> 0;
            break;
          }
          cmdq.cons = queueIncrement(cmdq.cons, cmdq.log2size);
        }
        if (cmdqError() === 0 || !(irqCtrl & IRQ_CTRL_GERROR_IRQEN) || !lines.gerror) break;
        lines.gerror();
        // The handler acknowledged (GERRORN) after fixing the queue: carry on; otherwise stay stopped.
        if (cmdqError() !== 0) break;
      }
    } finally {
      consuming = false;
    }
  };

  const read32 = (offset: number): number => {
    switch (offset) {
      case SMMU_IDR0:
        return idr[0]!;
      case SMMU_IDR1:
        return idr[1]!;
      case SMMU_IDR3:
        return idr[2]!;
      case SMMU_IDR5:
        return idr[3]!;
      case SMMU_CR0:
      case SMMU_CR0ACK:
        return cr0;
      case SMMU_GBPA:
        return gbpa;
      case SMMU_IRQ_CTRL:
        return irqCtrl;
      case SMMU_GERROR:
        return gerror;
      case SMMU_GERRORN:
        return gerrorn;
      case SMMU_STRTAB_BASE_CFG:
        return (strtab.log2size | (strtab.split << 6) | (strtab.fmt << 16)) >>> 0;
      case SMMU_CMDQ_PROD:
        return cmdq.prod;
      case SMMU_CMDQ_CONS:
        return cmdq.cons;
      case SMMU_EVTQ_PROD:
        return evtq.prod;
      case SMMU_EVTQ_CONS:
        return evtq.cons;
      default:
        return 0;
    }
  };

  const write32 = (offset: number, value: number): void => {
    const v = value >>> 0;
    switch (offset) {
      case SMMU_CR0:
        cr0 = v & (CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN);
        consume();
        break;
      case SMMU_GBPA:
        gbpa = v & GBPA_ABORT;
        break;
      case SMMU_IRQ_CTRL:
        irqCtrl = v & (IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN);
        break;
      case SMMU_GERRORN:
        gerrorn = v;
        // Acknowledging CMDQ_ERR restarts the queue from CONS (software has fixed the command).
        if (!((gerror ^ gerrorn) & GERROR_CMDQ_ERR) && cmdqError() !== 0) {
          cmdq.cons = (cmdq.cons & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) >>> 0;
          consume();
        }
        break;
      case SMMU_STRTAB_BASE_CFG:
        strtab.log2size = v & 0x3f;
        strtab.split = (v >>> 6) & 0x1f;
        strtab.fmt = (v >>> 16) & 3;
        break;
      case SMMU_CMDQ_PROD:
        cmdq.prod = v & ((2 << cmdq.log2size) - 1);
        consume();
        break;
      case SMMU_EVTQ_CONS:
        evtq.cons = v & (((2 << evtq.log2size) - 1) | Q_OVERFLOW_FLAG);
        break;
      default:
        break; // Read-only or unmodelled registers ignore writes, as RO registers do.
    }
  };

  const write64 = (offset: number, loIn: number, hiIn: number): void => {
    const lo = loIn >>> 0;
    const hi = hiIn >>> 0;
    const value = (BigInt(hi) << 32n) | BigInt(lo);
    // ADDR fields stop at bit 51; RA / RWA (bit 62) are cache hints the model records only.
    const addr = (hi & 0xfffff) * 0x1_0000_0000;
    switch (offset) {
      case SMMU_STRTAB_BASE:
        strtabBaseReg = value;
        strtab.base = addr + ((lo & ~0x3f) >>> 0);
        break;
      case SMMU_CMDQ_BASE:
        cmdqBaseReg = value;
        cmdq.base = addr + ((lo & ~0x1f) >>> 0);
        cmdq.log2size = Math.min(lo & 0x1f, features.cmdqShift);
        break;
      case SMMU_EVTQ_BASE:
        evtqBaseReg = value;
        evtq.base = addr + ((lo & ~0x1f) >>> 0);
        evtq.log2size = Math.min(lo & 0x1f, features.evtqShift);
        break;
      default:
        write32(offset, lo);
    }
  };

  const read64 = (offset: number): bigint => {
    switch (offset) {
      case SMMU_STRTAB_BASE:
        return strtabBaseReg;
      case SMMU_CMDQ_BASE:
        return cmdqBaseReg;
      case SMMU_EVTQ_BASE:
        return evtqBaseReg;
      default:
        return BigInt(read32(offset));
    }
  };

  const dma: SmmuV3Hardware["dma"] = (sid, iova, length, write, data, ssid) => {
    if (!(cr0 & CR0_SMMUEN)) {
      // SMMU disabled: GBPA decides; aborts are not recorded.
      if (gbpa & GBPA_ABORT) return { ok: false, recorded: false, aborted: true };
      if (write) {
        memory.write(iova, data!);
        return { ok: true, recorded: false, aborted: false };
      }
      return { ok: true, data: memory.read(iova, length), recorded: false, aborted: false };
    }
    const entry = load(sid);
    recordedThisDma = false;
    const opts = ssid >= 0 ? { pasid: ssid } : {};
    const result = write
      ? translation.dmaWrite(sid, iova, data!, opts)
      : translation.dmaRead(sid, iova, length, opts);
    const recorded = recordedThisDma;
    raise();
    if (result.ok)
      return { ok: true, ...(result.data ? { data: result.data } : {}), recorded: false, aborted: false };
    const aborted = entry.config?.mode === "abort";
    return { ok: false, ...(result.fault ? { fault: result.fault } : {}), recorded, aborted };
  };

  return {
    features,
    translation,
    memory,
    read32,
    write32,
    read64,
    write64,
    setInterrupts(l) {
      lines = l;
    },
    dma,
    probeStale(sid, iova) {
      if (!(cr0 & CR0_SMMUEN)) return false;
      load(sid);
      return translation.probeStale(sid, iova).stale;
    },
    cachedConfig: (sid) => cache.get(sid),
    recentCommands(n = TRACE) {
      const count = Math.min(n, traced, TRACE);
      const out: TracedCommand[] = [];
      for (let k = traced - count; k < traced; k++) {
        const at = (k % TRACE) * 4;
        const dw0 = (BigInt(trace[at + 1]!) << 32n) | BigInt(trace[at]!);
        const dw1 = (BigInt(trace[at + 3]!) << 32n) | BigInt(trace[at + 2]!);
        out.push({
          name: CMDQ_OP_NAMES[trace[at]! & 0xff] ?? `UNKNOWN(0x${(trace[at]! & 0xff).toString(16)})`,
          dwords: [dw0, dw1],
        });
      }
      return out;
    },
    stats() {
      const commands: Record<string, number> = {};
      for (const [op, n] of Object.entries(cmdStats.byOpcode)) commands[CMDQ_OP_NAMES[Number(op)] ?? op] = n;
      return {
        commands,
        syncs: cmdStats.syncs,
        illegalCommands: cmdStats.illegal,
        iotlbEntriesInvalidated: cmdStats.entriesDropped,
        configFetches,
        configInvalidations,
        eventsWritten: evtStats.written,
        eventsLost: evtStats.lost,
      };
    },
    resetStats() {
      cmdStats.byOpcode = {};
      cmdStats.syncs = 0;
      cmdStats.illegal = 0;
      cmdStats.entriesDropped = 0;
      configFetches = 0;
      configInvalidations = 0;
      evtStats.written = 0;
      evtStats.lost = 0;
      traced = 0;
    },
  };
}
