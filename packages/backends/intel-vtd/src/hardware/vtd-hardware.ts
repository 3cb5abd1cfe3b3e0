/**
 * One VT-d DMA-remapping hardware unit (a DRHD): a register window the driver programs through MMIO,
 * the root and context tables it reads from physical memory, a context cache, the walk and IOTLB of
 * `@iommu-sim/hw`'s translation unit, queued invalidation, and primary fault recording with the fault
 * event interrupt. Legacy mode (RTADDR.TTM = 00b) translates through second-stage tables named by
 * context entries; scalable mode (TTM = 01b, with ECAP.SMTS) through scalable-mode root and context
 * entries, the PASID directory and PASID table entries (first stage, second stage or pass-through per
 * PASID), with a PASID cache. It knows nothing of the driver: everything it does follows from
 * register writes and memory contents.
 */
import {
  createIotlb,
  createTranslateOut,
  createTranslationUnit,
  DmaAccess,
  HwError,
  type IotlbOptions,
  type PhysMemory,
  type StageConfig,
  type StreamConfig,
  type TranslationFault,
  type TranslationUnit,
  type VtdDescriptor,
  type WalkCache,
  type WalkCacheOptions,
  walkCacheOptionFor,
} from "@iommu-sim/hw";
import { agawToWidth, decodeVtdCapability, type VtdCapability } from "../capability.js";
import { type CachedContext, type ContextCache, createContextCache } from "./context-cache.js";
import { readContextEntry, readRootEntry } from "./context-entry-decode.js";
import { createFaultRecording, type FaultRecording } from "./fault-recording.js";
import { createInvalidationQueue, type InvalidationQueue } from "./invalidation-queue.js";
import { type CachedPasid, createPasidCache, type PasidCache } from "./pasid-cache.js";
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
import {
  readPasidDirEntry,
  readPasidEntry,
  readSmContextEntry,
  readSmRootEntry,
} from "./scalable-entry-decode.js";

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
  /** PASID: requests with PASID supported. */
  PASID: 1n << 40n,
  /** SMTS: scalable-mode translation supported (RTADDR.TTM = 01b, 256-bit descriptors). */
  SMTS: 1n << 43n,
  /** SLTS: second-stage translation in PASID entries (PGTT 2). */
  SLTS: 1n << 46n,
  /** FLTS: first-stage translation in PASID entries (PGTT 1). */
  FLTS: 1n << 47n,
  /** SMPWC: scalable-mode page walks are coherent. */
  SMPWC: 1n << 48n,
} as const;

/** RTADDR.TTM (bits [11:10]) value selecting scalable mode (`DMA_RTADDR_SMT`). */
export const RTADDR_TTM_SCALABLE = 1n << 10n;

/** PASID table entry PGTT values (`PASID_ENTRY_PGTT_*`). */
export const PGTT = { FIRST_STAGE: 1, SECOND_STAGE: 2, NESTED: 3, PASS_THROUGH: 4 } as const;

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
  /**
   * Paging-structure caches (walk caches) of the translation unit; options without levels get the
   * VT-d levels (`walkCacheOptionFor`). @default false
   */
  readonly walkCache?: WalkCache | WalkCacheOptions | false;
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
      /** Fault reason code (legacy 0x1-0xb; scalable mode 0x30-0x90). */
      readonly reason: number;
      /** What went wrong, in architecture-neutral terms. */
      readonly kind: "root" | "context" | "pasid" | "address" | "translation" | "permission";
      /** Whether a fault record was written (false with FPD set, or while PFO is set). */
      readonly recorded: boolean;
    };

/** Counters of the unit. */
export interface VtdHardwareStats {
  /** Context entries read from memory (context-cache misses). */
  contextFetches: number;
  /** PASID table entries read from memory (PASID-cache misses, scalable mode). */
  pasidFetches: number;
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
  /** The PASID cache (scalable mode). */
  readonly pasidCache: PasidCache;
  /** True once SRTP latched a root table with RTADDR.TTM = 01b on a unit with ECAP.SMTS. */
  readonly scalable: boolean;
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
  /**
   * A device's transaction with source id `sid` (and `pasid`, or -1 for a request without PASID):
   * translate every page, then move the bytes.
   */
  dma(
    sid: number,
    iova: number,
    length: number,
    write: boolean,
    data?: Uint8Array,
    pasid?: number,
  ): VtdDmaOutcome;
  /** True when the IOTLB still answers `iova` for `sid` although the tables no longer map it there. */
  probeStale(sid: number, iova: number, pasid?: number): boolean;
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
  const hasSmts = (ecap & ECAP.SMTS) !== 0n;
  const hasFlts = (ecap & ECAP.FLTS) !== 0n;
  const hasSlts = (ecap & ECAP.SLTS) !== 0n;
  const hasPasid = (ecap & ECAP.PASID) !== 0n;
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
    pasidFetches: 0,
    descriptors: 0,
    faultsRecorded: 0,
    faultsSuppressed: 0,
  };
  const contextCache = createContextCache();
  const pasidCache = createPasidCache();
  let scalable = false;
  let rootInvalid = false;
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

  const recordFault = (sid: number, address: number, reason: number, read: boolean, pasid = -1): boolean => {
    const before = faultRecording.overflowed;
    if (faultRecording.record({ sid, address, reason, read, pasid })) raiseEvent();
    const recorded = faultRecording.overflowed === before;
    if (recorded) stats.faultsRecorded++;
    return recorded;
  };

  // The translation unit's faults (walks and permission checks) become fault records. In scalable
  // mode `walking` says which PASID entry the walk belongs to and whether the request carried a PASID.
  let lastRecorded = false;
  let walking: { pe: CachedPasid; requestPasid: number } | undefined;
  const sink = {
    record(fault: TranslationFault) {
      const ctx = contextCache.get(fault.stream);
      if (ctx?.fpd || walking?.pe.fpd) {
        stats.faultsSuppressed++;
        lastRecorded = false;
        return;
      }
      const write = (fault.access & DmaAccess.WRITE) !== 0;
      if (walking) {
        const reason = smTranslationReason(fault.kind, write, walking.pe.pgtt);
        lastRecorded = recordFault(fault.stream, fault.iova, reason, !write, walking.requestPasid);
        return;
      }
      const reason = fault.kind === "address-size" ? 0x4 : write ? 0x5 : 0x6;
      lastRecorded = recordFault(fault.stream, fault.iova, reason, !write);
    },
  };
  const iotlb = options.iotlb === false ? false : createIotlb(options.iotlb);
  const translation = createTranslationUnit({
    memory,
    iotlb,
    // First- and second-stage tables share generic_pt's level numbering and spans.
    walkCache: walkCacheOptionFor(options.walkCache, "intel-vtd-ss"),
    faults: sink,
    name: `${name} translation`,
  });

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

  // Scalable mode, context-cache miss: the root entry's half for the devfn, then the 256-bit
  // context entry (specification 3.4.3).
  const fetchSmContext = (sid: number): CachedContext => {
    const root = readSmRootEntry(memory, rootTable, sid >>> 8);
    if (root.reserved) return invalid(0x3a);
    const upper = (sid & 0xff) >= 0x80;
    if (!(upper ? root.upperPresent : root.lowerPresent)) return invalid(0x39);
    const ce = readSmContextEntry(memory, upper ? root.upperTable : root.lowerTable, sid & 0x7f);
    if (!ce.present) return invalid(0x41);
    if (ce.reserved) return invalid(0x42);
    if (ce.dte && !hasDt) return invalid(0x43);
    return {
      valid: true,
      faultReason: 0,
      did: 0,
      fpd: ce.fpd,
      tt: 0,
      aw: 0,
      ssptptr: 0,
      scalable: {
        pasidDir: ce.pasidDir,
        maxPasid: 2 ** (ce.pdts + 7) * 64,
        ridPasid: ce.ridPasid,
        paside: ce.paside,
      },
    };
  };

  // Context-cache miss: root entry, then context entry, from memory (specification 3.4.2).
  const fetchContext = (sid: number): CachedContext => {
    stats.contextFetches++;
    if (rootInvalid) return invalid(0x30);
    if (scalable) return fetchSmContext(sid);
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
    if (ctx.valid && ctx.scalable) {
      contextCache.set(sid, ctx);
      refreshStream(sid);
    } else if (ctx.valid) {
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

  const invalidPasid = (faultReason: number): CachedPasid => ({
    valid: false,
    faultReason,
    did: 0,
    fpd: false,
    pgtt: 0,
    limit: 0,
    stage: undefined,
  });

  // PASID-cache miss: directory entry, then PASID table entry (specification 3.4.3, 9.5, 9.6).
  const fetchPasid = (ctx: CachedContext, pasid: number): CachedPasid => {
    stats.pasidFetches++;
    const sm = ctx.scalable!;
    const dir = readPasidDirEntry(memory, sm.pasidDir, pasid >>> 6);
    if (!dir.present) return { ...invalidPasid(0x51), fpd: dir.fpd };
    if (dir.reserved) return invalidPasid(0x52);
    const pe = readPasidEntry(memory, dir.table, pasid & 0x3f);
    if (!pe.present) return { ...invalidPasid(0x59), fpd: dir.fpd || pe.fpd };
    const fpd = dir.fpd || pe.fpd;
    if (pe.did >= capability.domainIds) return { ...invalidPasid(0x5b), fpd };
    if (
      pe.pgtt === PGTT.FIRST_STAGE &&
      hasFlts &&
      (pe.flpm === 0 || (pe.flpm === 1 && capability.firstStage5Level))
    ) {
      const ias = pe.flpm === 1 ? 57 : 48;
      return {
        valid: true,
        faultReason: 0,
        did: pe.did,
        fpd,
        pgtt: pe.pgtt,
        // Lower canonical half only (hw's intel-vtd-fs): at or above 2^47 / 2^56 is non-canonical here.
        limit: 2 ** (ias - 1),
        stage: { format: "intel-vtd-fs", root: pe.flptr, ias, oas, asid: pe.did },
      };
    }
    if (pe.pgtt === PGTT.SECOND_STAGE && hasSlts && pe.aw !== 0 && ((capability.sagaw >> pe.aw) & 1) === 1) {
      const ias = agawToWidth(pe.aw);
      return {
        valid: true,
        faultReason: 0,
        did: pe.did,
        fpd,
        pgtt: pe.pgtt,
        limit: Math.min(2 ** ias, mgawLimit),
        stage: { format: "intel-vtd-ss", root: pe.slptptr, ias, oas, asid: pe.did },
      };
    }
    if (pe.pgtt === PGTT.PASS_THROUGH && hasPt) {
      return {
        valid: true,
        faultReason: 0,
        did: pe.did,
        fpd,
        pgtt: pe.pgtt,
        limit: mgawLimit,
        stage: undefined,
      };
    }
    // Nested (PGTT 3), reserved PGTT values, or a type the unit does not report.
    return { ...invalidPasid(0x5b), fpd };
  };

  const lookupPasid = (sid: number, ctx: CachedContext, pasid: number): CachedPasid => {
    const cached = pasidCache.get(sid, pasid);
    if (cached) return cached;
    const pe = fetchPasid(ctx, pasid);
    if (pe.valid || capability.cachingMode) {
      pasidCache.set(sid, pasid, pe);
      if (pe.stage) refreshStream(sid);
    }
    return pe;
  };

  // The translation unit's view of a scalable-mode source id: one stage per cached PASID entry
  // that walks tables. Rebuilt when the context or PASID cache fills or drops entries of `sid`;
  // the IOTLB is untouched (it is invalidated only by descriptors).
  function refreshStream(sid: number): void {
    const ctx = contextCache.get(sid);
    if (!ctx?.scalable) {
      translation.setStream(sid, undefined);
      return;
    }
    const pasids = new Map<number, StageConfig & { readonly asid: number }>();
    for (const [pasid, e] of pasidCache.entriesOf(sid) ?? []) if (e.stage) pasids.set(pasid, e.stage);
    translation.setStream(sid, { mode: "translate", pasids, noPasid: "abort" });
  }
  const refreshStreams = (sids: number[]) => {
    for (const sid of sids) refreshStream(sid);
  };

  const executeDescriptor = (d: VtdDescriptor): boolean => {
    stats.descriptors++;
    const f = d.fields;
    switch (d.name) {
      case "context-cache": {
        const g = f.g as number;
        // Scalable-mode context entries carry no domain id: DID is ignored, and a domain-selective
        // invalidation has nothing to select by, so it drops every context.
        if (g === 1 || (g === 2 && scalable)) dropContexts(contextCache.invalidateAll());
        else if (g === 2) dropContexts(contextCache.invalidateDomain(f.did as number));
        else if (g === 3)
          dropContexts(
            contextCache.invalidateDevice(
              f.sid as number,
              f.fm as number,
              scalable ? undefined : (f.did as number),
            ),
          );
        else return false;
        return true;
      }
      case "iotlb": {
        // Through the unit: the IOTLB and the paging-structure caches (walk caches) together.
        const g = f.g as number;
        if (g === 1) translation.invalidateAll();
        else if (g === 2 || (g === 3 && !capability.pageSelectiveInvalidation))
          translation.invalidateTags({ asid: f.did as number, includeGlobal: true });
        else if (g === 3) {
          const am = f.am as number;
          if (am > capability.maxAddressMask) return false;
          const size = 4096 * 2 ** am;
          const addr = Number(f.addr as bigint);
          // IH = 1: only leaves changed, so the paging-structure caches keep their entries.
          translation.invalidateRange({
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
      case "pasid-cache": {
        if (!scalable) return false;
        const g = f.g as number;
        // G: 0 domain-selective, 1 PASID-selective within a domain, 3 global.
        if (g === 0) refreshStreams(pasidCache.invalidate(f.did as number, undefined));
        else if (g === 1) refreshStreams(pasidCache.invalidate(f.did as number, f.pasid as number));
        else if (g === 3) refreshStreams(pasidCache.invalidate(undefined, undefined));
        else return false;
        return true;
      }
      case "pasid-iotlb": {
        if (!scalable) return false;
        const g = f.g as number;
        const filter = { asid: f.did as number, pasid: f.pasid as number };
        if (g === 2) translation.invalidateTags(filter);
        else if (g === 3) {
          const am = f.am as number;
          // Linux never limits this mask by CAP.MAMV; masks past the model's 2^53 mean the whole PASID.
          if (am > 40) translation.invalidateTags(filter);
          else {
            const size = 4096 * 2 ** am;
            const addr = Number(f.addr as bigint);
            translation.invalidateRange({
              start: addr - (addr % size),
              size,
              filter,
              leafOnly: f.ih as boolean,
              pageSize: 4096,
            });
          }
        } else return false;
        return true;
      }
      case "pasid-device-tlb":
        return scalable && hasDt;
      case "iec":
        return hasIr;
      default:
        // PASID-based descriptors exist only in scalable mode.
        return false;
    }
  };
  const invalidationQueue = createInvalidationQueue(regs, memory, executeDescriptor, 1024, hasSmts);

  const writeGcmd = (value: number) => {
    let gsts = regs[DMAR_GSTS_REG / 4]!;
    if (value & DMA_GCMD_SRTP) {
      const rta = get64(DMAR_RTADDR_REG);
      rootTable = rta - (rta % 4096);
      // TTM [11:10]: 00b legacy, 01b scalable (needs ECAP.SMTS); anything else is not a table the
      // unit can use, and every request faults "SM: Invalid Root Table Address".
      const ttm = (rta % 4096) >>> 10;
      scalable = ttm === 1 && hasSmts;
      rootInvalid = ttm !== 0 && !scalable;
      gsts |= DMA_GCMD_SRTP;
      // CAP.ESRTPS: the SRTP flow itself invalidates the context cache and the IOTLB.
      if (cap >> 63n) {
        dropContexts(contextCache.invalidateAll());
        refreshStreams(pasidCache.invalidate(undefined, undefined));
        translation.invalidateAll();
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
    pasid = -1,
  ): VtdDmaOutcome => {
    try {
      return transact(sid, iova, length, write, data, pasid);
    } finally {
      walking = undefined;
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
    data: Uint8Array | undefined,
    requestPasid: number,
  ): VtdDmaOutcome => {
    pieces.length = 0;
    if (!(regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_TE)) {
      // Translation disabled: requests pass untranslated.
      pieces.push(iova, length);
    } else {
      const ctx = lookupContext(sid);
      if (!ctx.valid) {
        const recorded = recordFault(sid, iova, ctx.faultReason, !write, requestPasid);
        const r = ctx.faultReason;
        const kind = r === 0x1 || r === 0xa || r === 0x30 || r === 0x39 || r === 0x3a ? "root" : "context";
        return { ok: false, address: iova, reason: r, kind, recorded };
      }
      if (ctx.scalable) {
        const outcome = translateScalable(sid, ctx, iova, length, write, requestPasid);
        if (outcome) return outcome;
      } else if (requestPasid >= 0) {
        // Legacy mode has no PASIDs: "SM: TTM 0 for request with PASID".
        const recorded = ctx.fpd ? false : recordFault(sid, iova, 0x31, !write, requestPasid);
        return { ok: false, address: iova, reason: 0x31, kind: "pasid", recorded };
      } else {
        const outcome = translateLegacy(sid, ctx, iova, length, write);
        if (outcome) return outcome;
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

  // Scalable mode: the request's PASID (RID_PASID without one) selects a PASID entry, which walks
  // a first- or second-stage table or passes through. Fills `pieces`; returns a fault outcome.
  const translateScalable = (
    sid: number,
    ctx: CachedContext,
    iova: number,
    length: number,
    write: boolean,
    requestPasid: number,
  ): VtdDmaOutcome | undefined => {
    const sm = ctx.scalable!;
    const fail = (address: number, reason: number, kind: "pasid" | "address", fpd: boolean) => {
      const recorded = ctx.fpd || fpd ? false : recordFault(sid, address, reason, !write, requestPasid);
      if (!recorded && (ctx.fpd || fpd)) stats.faultsSuppressed++;
      return { ok: false as const, address, reason, kind, recorded };
    };
    if (requestPasid >= 0 && (!hasPasid || !sm.paside)) return fail(iova, 0x45, "pasid", false);
    const pasid = requestPasid >= 0 ? requestPasid : sm.ridPasid;
    if (pasid >= sm.maxPasid) return fail(iova, requestPasid >= 0 ? 0x46 : 0x48, "pasid", false);
    const pe = lookupPasid(sid, ctx, pasid);
    if (!pe.valid) return fail(iova, pe.faultReason, "pasid", pe.fpd);
    const end = iova + length;
    if (pe.stage === undefined) {
      // Pass-through: output = input, up to the unit's MGAW.
      if (end > pe.limit) return fail(Math.max(iova, pe.limit), 0x83, "address", pe.fpd);
      pieces.push(iova, length);
      return undefined;
    }
    const access = write ? DmaAccess.WRITE : DmaAccess.READ;
    walking = { pe, requestPasid };
    let addr = iova;
    while (addr < end) {
      if (addr >= pe.limit) {
        // First stage: a lower-half address past the table's reach is not canonical.
        const reason = pe.pgtt === PGTT.FIRST_STAGE ? 0x80 : 0x83;
        return fail(addr, reason, "address", pe.fpd);
      }
      if (!translation.translate(sid, addr, access, out, pasid)) {
        const fault = translation.recentFaults[translation.recentFaults.length - 1]!;
        const reason = smTranslationReason(fault.kind, write, pe.pgtt);
        const kind =
          fault.kind === "permission"
            ? "permission"
            : fault.kind === "address-size"
              ? "address"
              : "translation";
        return { ok: false, address: addr, reason, kind, recorded: lastRecorded };
      }
      const pageEnd = addr - (addr % out.pageSize) + out.pageSize;
      const n = Math.min(end, pageEnd) - addr;
      pieces.push(out.outputAddress, n);
      addr += n;
    }
    walking = undefined;
    return undefined;
  };

  const translateLegacy = (
    sid: number,
    ctx: CachedContext,
    iova: number,
    length: number,
    write: boolean,
  ): VtdDmaOutcome | undefined => {
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
        const kind = fault.kind === "permission" ? "permission" : reason === 0x4 ? "address" : "translation";
        return { ok: false, address: addr, reason, kind, recorded: lastRecorded };
      }
      const pageEnd = addr - (addr % out.pageSize) + out.pageSize;
      const n = Math.min(end, pageEnd) - addr;
      pieces.push(out.outputAddress, n);
      addr += n;
    }
    return undefined;
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
    pasidCache,
    get scalable() {
      return scalable;
    },
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
    probeStale(sid, iova, pasid = -1) {
      if (!(regs[DMAR_GSTS_REG / 4]! & DMA_GCMD_TE)) return false;
      const sm = contextCache.get(sid)?.scalable;
      const p = pasid >= 0 ? pasid : sm ? sm.ridPasid : -1;
      return translation.probeStale(sid, iova, p).stale;
    },
    stats: () => ({ ...stats }),
  };
}

/**
 * Scalable-mode fault reason of a failed walk or permission check (specification 7.1.3, Linux
 * `dmar_fault_reason` names): first stage 0x71 (entry not present), 0x80 (not canonical); second
 * stage 0x79 (R = W = 0, which is "not present" there); either stage 0x85 / 0x86 for a write / read
 * the leaf does not permit.
 */
export function smTranslationReason(kind: string, write: boolean, pgtt: number): number {
  if (kind === "permission") return write ? 0x85 : 0x86;
  const fs = pgtt === PGTT.FIRST_STAGE;
  if (kind === "address-size") return fs ? 0x80 : 0x83;
  return fs ? 0x71 : 0x79;
}
