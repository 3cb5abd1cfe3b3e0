/**
 * One VT-d DMA-remapping hardware unit (a DRHD), legacy (non-scalable) mode: a register window the
 * driver programs through MMIO, the root and context tables it reads from physical memory, a
 * context cache, the second-stage walk and IOTLB of `@iommu-sim/hw`'s translation unit, queued
 * invalidation, and primary fault recording with the fault event interrupt. It knows nothing of the
 * driver: everything it does follows from register writes and memory contents.
 */
import {
  createIotlb,
  createTranslateOut,
  createTranslationUnit,
  DmaAccess,
  HwError,
  type IotlbOptions,
  type PhysMemory,
  type StreamConfig,
  type TranslationFault,
  type TranslationUnit,
  type VtdDescriptor,
} from "@iommu-sim/hw";
import { agawToWidth, decodeVtdCapability, type VtdCapability } from "../capability.js";
import { type CachedContext, type ContextCache, createContextCache } from "./context-cache.js";
import { readContextEntry, readRootEntry } from "./context-entry-decode.js";
import { createFaultRecording, type FaultRecording } from "./fault-recording.js";
import { createInvalidationQueue, type InvalidationQueue } from "./invalidation-queue.js";
import {
  DMA_FECTL_IM,
  DMA_FECTL_IP,
  DMA_FRCD_F,
  DMA_FSTS_ICE,
  DMA_FSTS_IQE,
  DMA_FSTS_ITE,
  DMA_FSTS_PFO,
  DMA_FSTS_PRO,
  DMA_GCMD_QIE,
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMA_ICS_IWC,
  DMAR_CAP_REG,
  DMAR_CCMD_REG,
  DMAR_ECAP_REG,
  DMAR_FECTL_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_RTADDR_REG,
  DMAR_VER_REG,
  PRIMARY_FAULT_REG_LEN,
  VTD_REGISTER_WINDOW,
} from "./registers.js";

/** Extended-capability bits the hardware model reads (VT-d specification 11.4.3). */
export const ECAP = {
  /** C: page walks are coherent. */
  C: 1n << 0n,
  /** QI: queued invalidation supported. */
  QI: 1n << 1n,
  /** DT: device-TLB (ATS) supported. */
  DT: 1n << 2n,
  /** IR: interrupt remapping supported. */
  IR: 1n << 3n,
  /** PT: pass-through translation type supported. */
  PT: 1n << 6n,
  /** SC: snoop control. */
  SC: 1n << 7n,
  /** SMTS: scalable-mode translation supported (not modelled). */
  SMTS: 1n << 43n,
} as const;

/** Options of {@link createVtdHardware}. */
export interface VtdHardwareOptions {
  /** Physical memory: root/context/page tables, the invalidation queue, and DMA. */
  readonly memory: PhysMemory;
  /** CAP_REG value. */
  readonly cap: bigint;
  /** ECAP_REG value. */
  readonly ecap: bigint;
  /** VER_REG value. */
  readonly version: number;
  /** IOTLB geometry, or false for none. */
  readonly iotlb: IotlbOptions | false;
  /** Name for messages. */
  readonly name: string;
}

/** Outcome of a device transaction at the hardware. */
export type VtdDmaOutcome =
  | { readonly ok: true; readonly data: Uint8Array | undefined }
  | {
      readonly ok: false;
      /** First faulting address. */
      readonly address: number;
      /** Fault reason code (0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0xa, 0xb). */
      readonly reason: number;
      /** What went wrong, in architecture-neutral terms. */
      readonly kind: "root" | "context" | "address" | "translation" | "permission";
      /** Whether a fault record was written (false with FPD set, or while PFO is set). */
      readonly recorded: boolean;
    };

/** Counters of the unit. */
export interface VtdHardwareStats {
  /** Context entries read from memory (context-cache misses). */
  contextFetches: number;
  /** Descriptors executed from the invalidation queue. */
  descriptors: number;
  /** Faults recorded in fault recording registers. */
  faultsRecorded: number;
  /** Faults not recorded: fault processing disabled (FPD) in the context. */
  faultsSuppressed: number;
}

/** A VT-d remapping unit. */
export interface VtdHardware {
  readonly name: string;
  readonly memory: PhysMemory;
  /** Decoded CAP_REG. */
  readonly capability: VtdCapability;
  /** The walk + IOTLB datapath. */
  readonly translation: TranslationUnit;
  /** The context cache. */
  readonly contextCache: ContextCache;
  /** The queued-invalidation engine (its `consumed` list is what the driver issued). */
  readonly invalidationQueue: InvalidationQueue;
  /** The fault recording registers. */
  readonly faultRecording: FaultRecording;
  /** Reads a 32-bit register at byte `offset`. */
  read32(offset: number): number;
  /** Writes a 32-bit register at byte `offset`, with its side effects. */
  write32(offset: number, value: number): void;
  /** Reads a 64-bit register (two 32-bit halves, low first). */
  read64(offset: number): bigint;
  /** Writes a 64-bit register (low half, then high half; the side effects follow the low half). */
  write64(offset: number, value: bigint): void;
  /** Connects the fault event interrupt (the MSI Linux's `dmar_fault` is bound to). */
  setFaultInterrupt(handler: (() => void) | undefined): void;
  /** A device's transaction with source id `sid`: translate every page, then move the bytes. */
  dma(sid: number, iova: number, length: number, write: boolean, data?: Uint8Array): VtdDmaOutcome;
  /** True when the IOTLB still answers `iova` for `sid` although the tables no longer map it there. */
  probeStale(sid: number, iova: number): boolean;
  /** Counters. */
  stats(): VtdHardwareStats;
}

const TWO32 = 2 ** 32;
// FSTS bits software clears by writing 1.
const FSTS_W1C = DMA_FSTS_PFO | DMA_FSTS_IQE | DMA_FSTS_ICE | DMA_FSTS_ITE | DMA_FSTS_PRO;

/** Creates a remapping unit with translation disabled, as at reset. */
export function createVtdHardware(options: VtdHardwareOptions): VtdHardware {
  const { memory, cap, ecap, name } = options;
  const capability = decodeVtdCapability(cap);
  if (ecap & ECAP.SMTS) throw new HwError("EOPNOTSUPP", `${name}: scalable mode (ECAP.SMTS) is not modelled`);
  const hasPt = (ecap & ECAP.PT) !== 0n;
  const hasDt = (ecap & ECAP.DT) !== 0n;
  const hasQi = (ecap & ECAP.QI) !== 0n;
  const hasIr = (ecap & ECAP.IR) !== 0n;
  const iotlbRegs = Number((ecap >> 8n) & 0x3ffn) * 16;
  const oas = Math.min(memory.addressBits, 52);
  const mgawLimit = 2 ** capability.mgaw;
  const regs = new Uint32Array(VTD_REGISTER_WINDOW / 4);
  const put64 = (offset: number, value: bigint) => {
    regs[offset / 4] = Number(value & 0xffff_ffffn);
    regs[offset / 4 + 1] = Number((value >> 32n) & 0xffff_ffffn);
  };
  const get64 = (offset: number) => regs[offset / 4]! + regs[offset / 4 + 1]! * TWO32;
  regs[DMAR_VER_REG / 4] = options.version;
  regs[DMAR_FECTL_REG / 4] = DMA_FECTL_IM; // the fault event is masked at reset
  put64(DMAR_CAP_REG, cap);
  put64(DMAR_ECAP_REG, ecap);
  const froEnd = capability.faultRecordOffset + capability.faultRecords * PRIMARY_FAULT_REG_LEN;
  if (froEnd > VTD_REGISTER_WINDOW || capability.faultRecordOffset < 0x100) {
    throw new HwError(
      "EINVAL",
      `${name}: fault recording registers at 0x${capability.faultRecordOffset.toString(16)} x ${capability.faultRecords} do not fit the register window`,
    );
  }

  const stats: VtdHardwareStats = {
    contextFetches: 0,
    descriptors: 0,
    faultsRecorded: 0,
    faultsSuppressed: 0,
  };
  const contextCache = createContextCache();
  const faultRecording = createFaultRecording(regs, capability.faultRecordOffset, capability.faultRecords);
  let rootTable = 0;
  let interrupt: (() => void) | undefined;
  let eventPending = false;

  const raiseEvent = () => {
    eventPending = true;
  };
  // The fault event is a message the hardware sends once the transaction is done; with IM set it
  // stays pending (IP) until software unmasks.
  const deliverEvent = () => {
    if (!eventPending) return;
    eventPending = false;
    if (regs[DMAR_FECTL_REG / 4]! & DMA_FECTL_IM) {
      regs[DMAR_FECTL_REG / 4] = regs[DMAR_FECTL_REG / 4]! | DMA_FECTL_IP;
      return;
    }
    interrupt?.();
  };

  const recordFault = (sid: number, address: number, reason: number, read: boolean): boolean => {
    const before = faultRecording.overflowed;
    if (faultRecording.record({ sid, address, reason, read, pasid: -1 })) raiseEvent();
    const recorded = faultRecording.overflowed === before;
    if (recorded) stats.faultsRecorded++;
    return recorded;
  };

  // The translation unit's faults (walks and permission checks) become fault records.
  let lastRecorded = false;
  const sink = {
    record(fault: TranslationFault) {
      const ctx = contextCache.get(fault.stream);
      if (ctx?.fpd) {
        stats.faultsSuppressed++;
        lastRecorded = false;
        return;
      }
      const write = (fault.access & DmaAccess.WRITE) !== 0;
      const reason = fault.kind === "address-size" ? 0x4 : write ? 0x5 : 0x6;
      lastRecorded = recordFault(fault.stream, fault.iova, reason, !write);
    },
  };
  const iotlb = options.iotlb === false ? false : createIotlb(options.iotlb);
  const translation = createTranslationUnit({ memory, iotlb, faults: sink, name: `${name} translation` });

  const dropContexts = (sids: number[]) => {
    for (const sid of sids) translation.setStream(sid, undefined);
  };

  const invalid = (faultReason: number): CachedContext => ({
    valid: false,
    faultReason,
    did: 0,
    fpd: false,
    tt: 0,
    aw: 0,
    ssptptr: 0,
  });

  // Context-cache miss: root entry, then context entry, from memory (specification 3.4.2).
  const fetchContext = (sid: number): CachedContext => {
    stats.contextFetches++;
    const root = readRootEntry(memory, rootTable, sid >>> 8);
    if (root.reserved) return invalid(0xa);
    if (!root.present) return invalid(0x1);
    const ce = readContextEntry(memory, root.contextTable, sid & 0xff);
    if (!ce.present) return invalid(0x2);
    if (ce.reserved) return invalid(0xb);
    const translated = ce.tt === 0 || (ce.tt === 1 && hasDt);
    if (!translated && !(ce.tt === 2 && hasPt)) return invalid(0x3);
    if (translated && (((capability.sagaw >> ce.aw) & 1) === 0 || ce.aw === 0)) return invalid(0x3);
    if (ce.did >= capability.domainIds) return invalid(0x3);
    return {
      valid: true,
      faultReason: 0,
      did: ce.did,
      fpd: ce.fpd,
      tt: ce.tt,
      aw: ce.aw,
      ssptptr: ce.ssptptr,
    };
  };

  const lookupContext = (sid: number): CachedContext => {
    const cached = contextCache.get(sid);
    if (cached) return cached;
    const ctx = fetchContext(sid);
    if (ctx.valid) {
      const config: StreamConfig =
        ctx.tt === 2
          ? { mode: "bypass" }
          : {
              mode: "translate",
              stage1: { format: "intel-vtd-ss", root: ctx.ssptptr, ias: agawToWidth(ctx.aw), oas },
              asid: ctx.did,
            };
      translation.setStream(sid, config);
      contextCache.set(sid, ctx);
    } else if (capability.cachingMode) {
      // Caching Mode: not-present and invalid entries are cached as well, under domain id 0.
      contextCache.set(sid, ctx);
    }
    return ctx;
  };

  const executeDescriptor = (d: VtdDescriptor): boolean => {
    stats.descriptors++;
    const f = d.fields;
    switch (d.name) {
      case "context-cache": {
        const g = f.g as number;
        if (g === 1) dropContexts(contextCache.invalidateAll());
        else if (g === 2) dropContexts(contextCache.invalidateDomain(f.did as number));
        else if (g === 3)
          dropContexts(contextCache.invalidateDevice(f.sid as number, f.fm as number, f.did as number));
        else return false;
        return true;
      }
      case "iotlb": {
        const g = f.g as number;
        const tlb = translation.iotlb;
        if (g === 1) tlb?.invalidateAll();
        else if (g === 2 || (g === 3 && !capability.pageSelectiveInvalidation))
          tlb?.invalidateTags({ asid: f.did as number, includeGlobal: true });
        else if (g === 3) {
          const am = f.am as number;
          if (am > capability.maxAddressMask) return false;
          const size = 4096 * 2 ** am;
          const addr = Number(f.addr as bigint);
          tlb?.invalidateRange({
            start: addr - (addr % size),
            size,
            filter: { asid: f.did as number },
            leafOnly: f.ih as boolean,
            pageSize: 4096,
          });
        } else return false;
        return true;
      }
      case "invalidation-wait": {
        if (f.sw) memory.writeU32(Number(f.statusAddr as bigint), f.statusData as number);
        if (f.if) regs[DMAR_ICS_REG / 4] = regs[DMAR_ICS_REG / 4]! | DMA_ICS_IWC;
        return true;
      }
      case "device-tlb":
        // No device-TLB (ATS) is modelled: accepted as a no-op where the unit reports DT.
        return hasDt;
      case "iec":
        return hasIr;
      default:
        // PASID-based descriptors exist only in scalable mode.
        return false;
    }
  };
  const invalidationQueue = createInvalidationQueue(regs, memory, executeDescriptor);

  const writeGcmd = (value: number) => {
    let gsts = regs[DMAR_GSTS_REG / 4]!;
    if (value & DMA_GCMD_SRTP) {
      const rta = get64(DMAR_RTADDR_REG);
      rootTable = rta - (rta % 4096);
      gsts |= DMA_GCMD_SRTP;
      // CAP.ESRTPS: the SRTP flow itself invalidates the context cache and the IOTLB.
      if (cap >> 63n) {
        dropContexts(contextCache.invalidateAll());
        translation.iotlb?.invalidateAll();
      }
    }
    if (value & DMA_GCMD_QIE) {
      if (!hasQi)
        throw new HwError("EOPNOTSUPP", `${name}: queued invalidation is not supported (ECAP.QI = 0)`);
      if (!(gsts & DMA_GCMD_QIE)) invalidationQueue.enable();
      gsts |= DMA_GCMD_QIE;
    } else gsts &= ~DMA_GCMD_QIE;
    if (value & DMA_GCMD_TE) gsts |= DMA_GCMD_TE;
    else gsts &= ~DMA_GCMD_TE;
    regs[DMAR_GSTS_REG / 4] = gsts >>> 0;
  };

  const write32 = (offset: number, value: number) => {
    checkOffset(offset, 4);
    value >>>= 0;
    const fro = capability.faultRecordOffset;
    if (offset >= fro && offset < froEnd) {
      // Only the F bit (W1C) of a fault record is writable.
      if ((offset - fro) % PRIMARY_FAULT_REG_LEN === 12 && value & DMA_FRCD_F) {
        faultRecording.clear(Math.floor((offset - fro) / PRIMARY_FAULT_REG_LEN));
      }
      return;
    }
    if (iotlbRegs !== 0 && offset >= iotlbRegs && offset < iotlbRegs + 16) {
      throw new HwError(
        "EOPNOTSUPP",
        `${name}: register-based IOTLB invalidation is not modelled; use queued invalidation`,
      );
    }
    switch (offset) {
      case DMAR_VER_REG:
      case DMAR_CAP_REG:
      case DMAR_CAP_REG + 4:
      case DMAR_ECAP_REG:
      case DMAR_ECAP_REG + 4:
      case DMAR_GSTS_REG:
      case DMAR_IQH_REG:
      case DMAR_IQH_REG + 4:
        return; // read-only
      case DMAR_CCMD_REG:
      case DMAR_CCMD_REG + 4:
        throw new HwError(
          "EOPNOTSUPP",
          `${name}: register-based context invalidation is not modelled; use queued invalidation`,
        );
      case DMAR_GCMD_REG:
        writeGcmd(value);
        return;
      case DMAR_FSTS_REG: {
        const hadIqe = regs[DMAR_FSTS_REG / 4]! & DMA_FSTS_IQE;
        regs[DMAR_FSTS_REG / 4] = regs[DMAR_FSTS_REG / 4]! & ~(value & FSTS_W1C);
        // Clearing IQE lets the hardware resume fetching at IQH.
        if (hadIqe && value & DMA_FSTS_IQE && regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_QIE)
          invalidationQueue.tailWritten();
        return;
      }
      case DMAR_FECTL_REG: {
        const ip = regs[DMAR_FECTL_REG / 4]! & DMA_FECTL_IP;
        regs[DMAR_FECTL_REG / 4] = (value & DMA_FECTL_IM) | ip;
        if (!(value & DMA_FECTL_IM) && ip) {
          regs[DMAR_FECTL_REG / 4] = 0;
          interrupt?.();
        }
        return;
      }
      case DMAR_ICS_REG:
        regs[DMAR_ICS_REG / 4] = regs[DMAR_ICS_REG / 4]! & ~(value & DMA_ICS_IWC);
        return;
      case DMAR_IQT_REG:
        regs[DMAR_IQT_REG / 4] = value & 0x7fff0;
        if (regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_QIE) invalidationQueue.tailWritten();
        return;
      default:
        regs[offset / 4] = value;
    }
  };

  const dma = (
    sid: number,
    iova: number,
    length: number,
    write: boolean,
    data?: Uint8Array,
  ): VtdDmaOutcome => {
    try {
      return transact(sid, iova, length, write, data);
    } finally {
      deliverEvent();
    }
  };

  const out = createTranslateOut();
  const pieces: number[] = [];
  const transact = (
    sid: number,
    iova: number,
    length: number,
    write: boolean,
    data?: Uint8Array,
  ): VtdDmaOutcome => {
    pieces.length = 0;
    if (!(regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_TE)) {
      // Translation disabled: requests pass untranslated.
      pieces.push(iova, length);
    } else {
      const ctx = lookupContext(sid);
      if (!ctx.valid) {
        const recorded = recordFault(sid, iova, ctx.faultReason, !write);
        const kind = ctx.faultReason === 0x1 || ctx.faultReason === 0xa ? "root" : "context";
        return { ok: false, address: iova, reason: ctx.faultReason, kind, recorded };
      }
      const access = write ? DmaAccess.WRITE : DmaAccess.READ;
      let addr = iova;
      const end = iova + length;
      while (addr < end) {
        if (ctx.tt !== 2 && addr >= mgawLimit) {
          const recorded = ctx.fpd ? false : recordFault(sid, addr, 0x4, !write);
          return { ok: false, address: addr, reason: 0x4, kind: "address", recorded };
        }
        if (!translation.translate(sid, addr, access, out)) {
          const fault = translation.recentFaults[translation.recentFaults.length - 1]!;
          const reason = fault.kind === "address-size" ? 0x4 : write ? 0x5 : 0x6;
          const kind =
            fault.kind === "permission" ? "permission" : reason === 0x4 ? "address" : "translation";
          return { ok: false, address: addr, reason, kind, recorded: lastRecorded };
        }
        const pageEnd = addr - (addr % out.pageSize) + out.pageSize;
        const n = Math.min(end, pageEnd) - addr;
        pieces.push(out.outputAddress, n);
        addr += n;
      }
    }
    if (write) {
      let off = 0;
      for (let i = 0; i < pieces.length; i += 2) {
        const n = pieces[i + 1]!;
        memory.write(pieces[i]!, data!.subarray(off, off + n));
        off += n;
      }
      return { ok: true, data: undefined };
    }
    const bytes = new Uint8Array(length);
    let off = 0;
    for (let i = 0; i < pieces.length; i += 2) {
      const n = pieces[i + 1]!;
      bytes.set(memory.read(pieces[i]!, n), off);
      off += n;
    }
    return { ok: true, data: bytes };
  };

  function checkOffset(offset: number, size: number): void {
    if (
      !Number.isInteger(offset) ||
      offset < 0 ||
      offset + size > VTD_REGISTER_WINDOW ||
      offset % size !== 0
    ) {
      throw new HwError(
        "EINVAL",
        `${name}: register offset 0x${offset.toString(16)} is not an aligned ${size * 8}-bit register`,
      );
    }
  }

  return {
    name,
    memory,
    capability,
    translation,
    contextCache,
    invalidationQueue,
    faultRecording,
    read32(offset) {
      checkOffset(offset, 4);
      return regs[offset / 4]!;
    },
    write32,
    read64(offset) {
      checkOffset(offset, 8);
      return BigInt(regs[offset / 4]!) | (BigInt(regs[offset / 4 + 1]!) << 32n);
    },
    write64(offset, value) {
      checkOffset(offset, 8);
      // The high half first, so a side effect of the low half sees the whole value.
      write32(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
      write32(offset, Number(value & 0xffff_ffffn));
    },
    setFaultInterrupt(handler) {
      interrupt = handler;
    },
    dma,
    probeStale(sid, iova) {
      if (!(regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_TE)) return false;
      return translation.probeStale(sid, iova).stale;
    },
    stats: () => ({ ...stats }),
  };
}
