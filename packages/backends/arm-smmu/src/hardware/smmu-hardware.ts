/**
 * The Arm SMMU v2 hardware model (MMU-500 style): a register file read and written by offset,
 * stream matching (SMR/S2CR), context banks decoded into the translation unit's stream
 * configurations, register-driven TLB maintenance with syncs, context fault syndromes (FSR, FSYNR0,
 * FAR, CBFRSYNRA) with the context interrupt, and unidentified-stream global faults.
 *
 * The register file is modelled as MMIO: `read32`/`write32`/`write64` take a byte offset from the
 * SMMU's base. Page 0 is GR0, page 1 GR1, page `NUMPAGE + n` context bank `n` (4 KiB pages).
 * Translation state is derived lazily: a write to a bank's configuration marks it dirty and the
 * next transaction decodes it, as the hardware reads the registers on a walk.
 *
 * @module
 */
import {
  createTranslateOut,
  createTranslationUnit,
  DmaAccess,
  type PhysMemory,
  type TranslationFault,
  type TranslationUnit,
  type TranslationUnitOptions,
} from "@iommu-sim/hw";
import { IommuError } from "@iommu-sim/iommu";
import { CbFsr, CbFsynr0 } from "../fault-status.js";
import { asidTag, type DecodedContextBank, decodeContextBank } from "./context-bank.js";
import { ID0, ID1, type SmmuIdRegisters } from "./id-registers.js";
import { type MmioWrite, registerName } from "./mmio-trace.js";
import {
  Cb,
  FSR_FORMAT_SHIFT,
  Gr0,
  Gr1,
  S2CR,
  S2crType,
  SCR0,
  SCTLR,
  SGFSR,
  SMMU_PAGE_SIZE,
  SMR,
} from "./registers.js";
import { MATCH_CONFLICT, matchStream, NO_MATCH } from "./stream-match.js";
import { TlbOp, TlbQueue } from "./tlb-maintenance.js";

/** Options of {@link createArmSmmuHardware}. */
export interface ArmSmmuHardwareOptions {
  /** Physical memory the walker reads and DMA reaches. */
  readonly memory: PhysMemory;
  /** Identification register values. */
  readonly id: SmmuIdRegisters;
  /**
   * The TLB (one shared TLB; see the backend docs), as the translation unit takes it.
   * @default 512 entries, 4-way, LRU
   */
  readonly iotlb?: TranslationUnitOptions["iotlb"];
  /** Walk caches of the translation unit, as it takes them. @default false */
  readonly walkCache?: TranslationUnitOptions["walkCache"];
  /** Name for messages. @default "arm-smmu" */
  readonly name?: string;
}

/** Why a transaction did not complete. */
export type SmmuAbortKind =
  /** No SMR matched and sCR0.USFCFG = 1 (sGFSR.USF). */
  | "unidentified-stream"
  /** Several SMRs matched (sGFSR.SMCF). */
  | "stream-match-conflict"
  /** The S2CR's TYPE is fault. */
  | "s2cr-fault"
  /** The context bank faulted (FSR records it). */
  | "context-fault"
  /** The context bank's configuration cannot translate. */
  | "bad-context";

/** Outcome of a transaction. */
export type SmmuTransactionResult =
  | { readonly ok: true; readonly data: Uint8Array | undefined }
  | {
      readonly ok: false;
      readonly kind: SmmuAbortKind;
      /** Input address of the (first) faulting access. */
      readonly iova: number;
      /** Context bank involved, or -1. */
      readonly cb: number;
      /** The walker's fault, for context faults. */
      readonly fault: TranslationFault | undefined;
    };

/** Where the SMMU routes a StreamID: `-1` bypass, `-2` fault, `-3` USF, `-4` conflict, else the bank. */
const ROUTE_BYPASS = -1;
const ROUTE_FAULT = -2;
const ROUTE_USF = -3;
const ROUTE_CONFLICT = -4;

/** The SMMU hardware model. */
export interface ArmSmmuHardware {
  readonly name: string;
  /** Context banks (ID1.NUMCB). */
  readonly contextBanks: number;
  /** Stream match register groups (ID0.NUMSMRG). */
  readonly streamMatchGroups: number;
  /** Register pages before the first context bank (2^(ID1.NUMPAGENDXB + 1)). */
  readonly numPage: number;
  /** The translation datapath (walkers and the TLB). */
  readonly unit: TranslationUnit;
  /** Reads a 32-bit register at byte `offset` from the SMMU base. */
  read32(offset: number): number;
  /** Writes a 32-bit register. */
  write32(offset: number, value: number): void;
  /** Reads a 64-bit register (FAR, TTBRn, PAR). */
  read64(offset: number): bigint;
  /** Writes a 64-bit register as its two 32-bit halves (`writeq`; a single access on AArch64). */
  write64(offset: number, lo: number, hi: number): void;
  /** Byte offset of context bank `cb`'s register `reg`. */
  cbOffset(cb: number, reg: number): number;
  /** The context interrupt line of each bank (the driver's handler); called after the fault is recorded. */
  onContextInterrupt: ((cb: number) => void) | undefined;
  /** The global fault interrupt. */
  onGlobalInterrupt: (() => void) | undefined;
  /**
   * A transaction from `sid`: matched, routed by its S2CR and translated page by page by the
   * bank. On the first faulting page nothing is transferred and the fault is recorded.
   */
  transaction(
    sid: number,
    iova: number,
    length: number,
    write: boolean,
    data?: Uint8Array,
  ): SmmuTransactionResult;
  /** True when the TLB still answers `iova` for `sid` although the bank's tables no longer map it there. */
  probeStale(sid: number, iova: number): boolean;
  /** Starts recording register writes (clears an earlier trace). */
  startTrace(): void;
  /** Stops recording and returns the writes since {@link startTrace}. */
  stopTrace(): MmioWrite[];
  /** Invalidations issued but not yet completed by a sync: per bank, and global. */
  pendingInvalidations(): { readonly context: readonly number[]; readonly global: number };
  /** The decoded form of bank `cb`, as the next transaction will see it. */
  contextBank(cb: number): DecodedContextBank;
}

/** Creates the hardware in its reset state: sCR0.CLIENTPD = 1 (every transaction bypasses). */
export function createArmSmmuHardware(options: ArmSmmuHardwareOptions): ArmSmmuHardware {
  const name = options.name ?? "arm-smmu";
  const { id0, id1 } = options.id;
  const numSmrg = (id0 & ID0.SMS) !== 0 ? id0 & ID0.NUMSMRG_MASK : 0;
  const numCb = id1 & ID1.NUMCB_MASK;
  const numPage = 2 ** (((id1 >>> ID1.NUMPAGENDXB_SHIFT) & ID1.NUMPAGENDXB_MASK) + 1);
  // SMR ID and MASK implement only the StreamID bits (2^NUMSIDB - 1); the rest read as zero.
  const sidMask = 2 ** ((id0 >>> ID0.NUMSIDB_SHIFT) & ID0.NUMSIDB_MASK) - 1;
  const smrImplemented = (SMR.VALID + ((sidMask << SMR.MASK_SHIFT) | sidMask)) >>> 0;
  const WORDS = SMMU_PAGE_SIZE / 4;
  const gr0 = new Uint32Array(WORDS);
  const gr1 = new Uint32Array(WORDS);
  const cbRegs = new Uint32Array(WORDS * numCb);
  gr0[Gr0.sCR0 >> 2] = SCR0.CLIENTPD;
  gr0[Gr0.ID0 >> 2] = options.id.id0;
  gr0[Gr0.ID1 >> 2] = options.id.id1;
  gr0[Gr0.ID2 >> 2] = options.id.id2;
  gr0[Gr0.ID7 >> 2] = 0x21; // architecture 2.1 (MMU-500 r2)

  const smrs = gr0.subarray(Gr0.SMR_BASE >> 2, (Gr0.SMR_BASE >> 2) + Math.max(numSmrg, 1));
  const decoded: (DecodedContextBank | undefined)[] = new Array(numCb).fill(undefined);
  const cbQueues = Array.from({ length: numCb }, () => new TlbQueue());
  const globalQueue = new TlbQueue();
  // StreamID -> route, rebuilt after SMR/S2CR/sCR0 writes.
  let routes = new Map<number, number>();
  let trace: MmioWrite[] | undefined;
  let currentSid = 0;
  const pendingIrq: number[] = [];
  const out = createTranslateOut();

  const reg = (cb: number, off: number): number => cbRegs[cb * WORDS + (off >> 2)]!;
  const setReg = (cb: number, off: number, v: number): void => {
    cbRegs[cb * WORDS + (off >> 2)] = v;
  };

  const faults = {
    record(fault: TranslationFault): void {
      const cb = fault.stream;
      const d = decoded[cb];
      if (d === undefined) return;
      let bits: number = CbFsr.TF;
      if (fault.kind === "permission") bits = CbFsr.PF;
      else if (fault.kind === "access-flag") bits = CbFsr.AFF;
      else if (fault.kind === "address-size") bits = CbFsr.ASF;
      const fsr = reg(cb, Cb.FSR);
      const FAULT_BITS =
        CbFsr.TF | CbFsr.AFF | CbFsr.PF | CbFsr.EF | CbFsr.TLBMCF | CbFsr.TLBLKF | CbFsr.ASF | CbFsr.UUT;
      if ((fsr & FAULT_BITS) !== 0) {
        // A fault is already recorded: keep its syndrome, only note that another one happened.
        setReg(cb, Cb.FSR, (fsr | CbFsr.MULTI) >>> 0);
      } else {
        setReg(cb, Cb.FSR, (bits | (d.format << FSR_FORMAT_SHIFT)) >>> 0);
        const level = fault.level < 0 ? 0 : fault.level & CbFsynr0.PLVL_MASK;
        let fsynr0 = level;
        if (fault.access & DmaAccess.WRITE) fsynr0 |= CbFsynr0.WNR;
        if (fault.access & DmaAccess.PRIV) fsynr0 |= CbFsynr0.PNU;
        if (fault.access & DmaAccess.EXEC) fsynr0 |= CbFsynr0.IND;
        setReg(cb, Cb.FSYNR0, fsynr0);
        setReg(cb, Cb.FAR, (fault.iova % 2 ** 32) >>> 0);
        setReg(cb, Cb.FAR + 4, Math.floor(fault.iova / 2 ** 32) >>> 0);
        gr1[(Gr1.CBFRSYNRA_BASE >> 2) + cb] = currentSid & 0xffff;
      }
      if ((reg(cb, Cb.SCTLR) & SCTLR.CFIE) !== 0) pendingIrq.push(cb);
    },
  };
  const unit = createTranslationUnit({
    memory: options.memory,
    iotlb: options.iotlb ?? { entries: 512, ways: 4, replacement: "lru", name: `${name} TLB` },
    walkCache: options.walkCache ?? false,
    faults,
    name,
  });

  const decode = (cb: number): DecodedContextBank => {
    let d = decoded[cb];
    if (d === undefined) {
      d = decodeContextBank({
        index: cb,
        cbar: gr1[(Gr1.CBAR_BASE >> 2) + cb]!,
        cba2r: gr1[(Gr1.CBA2R_BASE >> 2) + cb]!,
        sctlr: reg(cb, Cb.SCTLR),
        tcr: reg(cb, Cb.TCR),
        tcr2: reg(cb, Cb.TCR2),
        ttbr0Lo: reg(cb, Cb.TTBR0),
        ttbr0Hi: reg(cb, Cb.TTBR0 + 4),
        contextidr: reg(cb, Cb.CONTEXTIDR),
      });
      decoded[cb] = d;
      try {
        unit.setStream(cb, d.config);
      } catch (error) {
        const problem = error instanceof Error ? error.message : String(error);
        d = { ...d, config: { mode: "abort" }, stage: 0, problem };
        decoded[cb] = d;
        unit.setStream(cb, d.config);
      }
    }
    return d;
  };

  const route = (sid: number): number => {
    let r = routes.get(sid);
    if (r !== undefined) return r;
    const scr0 = gr0[Gr0.sCR0 >> 2]!;
    if ((scr0 & SCR0.CLIENTPD) !== 0) r = ROUTE_BYPASS;
    else {
      // Without stream matching (ID0.SMS = 0) the StreamID indexes the S2CRs directly.
      const idx = numSmrg === 0 ? (sid < 128 ? sid : NO_MATCH) : matchStream(smrs, numSmrg, sid);
      if (idx === NO_MATCH) r = (scr0 & SCR0.USFCFG) !== 0 ? ROUTE_USF : ROUTE_BYPASS;
      else if (idx === MATCH_CONFLICT) r = ROUTE_CONFLICT;
      else {
        const s2cr = gr0[(Gr0.S2CR_BASE >> 2) + idx]!;
        const type = (s2cr >>> S2CR.TYPE_SHIFT) & 3;
        const cbndx = s2cr & S2CR.CBNDX_MASK;
        r =
          type === S2crType.BYPASS
            ? ROUTE_BYPASS
            : type === S2crType.TRANS && cbndx < numCb
              ? cbndx
              : ROUTE_FAULT;
      }
    }
    routes.set(sid, r);
    return r;
  };

  const globalFault = (bit: number, sid: number): void => {
    const gfsr = gr0[Gr0.sGFSR >> 2]!;
    if (gfsr !== 0) gr0[Gr0.sGFSR >> 2] = (gfsr | SGFSR.MULTI) >>> 0;
    else {
      gr0[Gr0.sGFSR >> 2] = bit;
      gr0[Gr0.sGFSYNR0 >> 2] = 0;
      gr0[Gr0.sGFSYNR1 >> 2] = sid & 0xffff;
      gr0[Gr0.sGFSYNR2 >> 2] = 0;
    }
    if ((gr0[Gr0.sCR0 >> 2]! & SCR0.GFIE) !== 0) hw.onGlobalInterrupt?.();
  };

  const raiseContextIrqs = (): void => {
    while (pendingIrq.length > 0) hw.onContextInterrupt?.(pendingIrq.shift()!);
  };

  // The context bank of register page `page`; an offset outside the SMMU's pages is refused.
  const bank = (page: number, offset: number): number => {
    const cb = page - numPage;
    if (cb < 0 || cb >= numCb)
      throw new IommuError("EFAULT", `${name}: no register at offset 0x${offset.toString(16)}`);
    return cb;
  };

  const space = (offset: number): { kind: "GR0" | "GR1" | "CB"; cb: number; off: number } => {
    const page = offset >>> 12;
    const off = offset & 0xfff;
    if (page === 0) return { kind: "GR0", cb: -1, off };
    if (page === 1) return { kind: "GR1", cb: -1, off };
    return { kind: "CB", cb: bank(page, offset), off };
  };

  const record = (offset: number, width: 32 | 64, value: bigint): void => {
    if (trace === undefined) return;
    const s = space(offset);
    trace.push({
      space: s.kind === "CB" ? `CB${s.cb}` : s.kind,
      offset: s.off,
      name: registerName(s.kind, s.off),
      width,
      value,
    });
  };

  const writeGr0 = (off: number, value: number): void => {
    if (off === Gr0.ID0 || off === Gr0.ID1 || off === Gr0.ID2 || off === Gr0.ID7) return; // read-only
    if (off === Gr0.sGFSR) {
      gr0[off >> 2] = gr0[off >> 2]! & ~value;
      return;
    }
    if (off === Gr0.TLBIVMID) {
      globalQueue.push(TlbOp.VMID, 0, 0, value & 0xff);
      return;
    }
    if (off === Gr0.TLBIALLNSNH || off === Gr0.TLBIALLH) {
      globalQueue.push(TlbOp.ALL, 0, 0, 0);
      return;
    }
    if (off === Gr0.sTLBGSYNC) {
      globalQueue.complete(unit);
      // Context-bank operations are not covered by a global sync.
      return;
    }
    if (off === Gr0.sTLBGSTATUS) return;
    if (off >= Gr0.SMR_BASE && off < Gr0.S2CR_BASE) value = (value & smrImplemented) >>> 0;
    gr0[off >> 2] = value;
    if (off === Gr0.sCR0 || (off >= Gr0.SMR_BASE && off < Gr0.S2CR_BASE + 0x200)) routes = new Map();
  };

  const writeGr1 = (off: number, value: number): void => {
    gr1[off >> 2] = value;
    if (off < Gr1.CBFRSYNRA_BASE) decoded[off >> 2] = undefined;
    else if (off >= Gr1.CBA2R_BASE && off < Gr1.CBA2R_BASE + 4 * numCb)
      decoded[(off - Gr1.CBA2R_BASE) >> 2] = undefined;
  };

  // Context-bank TLB maintenance: the 64-bit AArch64 form carries VA[55:12] in [43:0] and the ASID in
  // [63:48]; the 32-bit AArch32 form VA[31:12] in [31:12] and the ASID in [7:0].
  const tlbiVa = (cb: number, op: number, lo: number, hi: number, wide: boolean): void => {
    const d = decode(cb);
    let va: number;
    let asid: number;
    if (wide) {
      va = ((hi & 0xfff) * 2 ** 32 + lo) * 4096;
      asid = hi >>> 16;
    } else {
      va = (lo & 0xfffff000) >>> 0;
      asid = lo & 0xff;
    }
    cbQueues[cb]!.push(op, va, asidTag(cb, asid, d.privateAsids), d.vmid);
  };
  const tlbiIpa = (cb: number, op: number, lo: number, hi: number): void => {
    const d = decode(cb);
    cbQueues[cb]!.push(op, ((hi & 0xfff) * 2 ** 32 + lo) * 4096, 0, d.vmid);
  };

  const writeCb = (cb: number, off: number, lo: number, hi: number, wide: boolean): void => {
    switch (off) {
      case Cb.FSR:
        setReg(cb, off, (reg(cb, off) & ~lo) >>> 0);
        return;
      case Cb.FSRRESTORE:
        setReg(cb, Cb.FSR, lo);
        return;
      case Cb.TLBIVA:
        tlbiVa(cb, TlbOp.VA, lo, hi, wide);
        return;
      case Cb.TLBIVAL:
        tlbiVa(cb, TlbOp.VAL, lo, hi, wide);
        return;
      case Cb.TLBIASID: {
        const d = decode(cb);
        cbQueues[cb]!.push(TlbOp.ASID, 0, asidTag(cb, lo & 0xffff, d.privateAsids), d.vmid);
        return;
      }
      case Cb.TLBIIPAS2:
        tlbiIpa(cb, TlbOp.IPA, lo, hi);
        return;
      case Cb.TLBIIPAS2L:
        tlbiIpa(cb, TlbOp.IPAL, lo, hi);
        return;
      case Cb.TLBSYNC:
        cbQueues[cb]!.complete(unit);
        return;
      case Cb.TLBSTATUS:
        return;
      default:
        setReg(cb, off, lo);
        if (wide) setReg(cb, off + 4, hi);
        if (off <= Cb.MAIR1) decoded[cb] = undefined;
    }
  };

  const hw: ArmSmmuHardware = {
    name,
    contextBanks: numCb,
    streamMatchGroups: numSmrg,
    numPage,
    unit,
    onContextInterrupt: undefined,
    onGlobalInterrupt: undefined,
    cbOffset: (cb, r) => (numPage + cb) * SMMU_PAGE_SIZE + r,
    read32(offset) {
      const page = offset >>> 12;
      const off = offset & 0xfff;
      if (page === 0) return gr0[off >> 2]!;
      if (page === 1) return gr1[off >> 2]!;
      return reg(bank(page, offset), off);
    },
    write32(offset, value) {
      if (trace !== undefined) record(offset, 32, BigInt(value >>> 0));
      const page = offset >>> 12;
      const off = offset & 0xfff;
      if (page === 0) writeGr0(off, value >>> 0);
      else if (page === 1) writeGr1(off, value >>> 0);
      else writeCb(bank(page, offset), off, value >>> 0, 0, false);
    },
    read64(offset) {
      return (BigInt(hw.read32(offset + 4)) << 32n) | BigInt(hw.read32(offset));
    },
    write64(offset, lo, hi) {
      if (trace !== undefined) record(offset, 64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
      const page = offset >>> 12;
      const off = offset & 0xfff;
      if (page === 0) writeGr0(off, lo >>> 0);
      else if (page === 1) writeGr1(off, lo >>> 0);
      else writeCb(bank(page, offset), off, lo >>> 0, hi >>> 0, true);
    },
    transaction(sid, iova, length, write, data) {
      const r = route(sid);
      if (r === ROUTE_USF) {
        globalFault(SGFSR.USF, sid);
        return { ok: false, kind: "unidentified-stream", iova, cb: -1, fault: undefined };
      }
      if (r === ROUTE_CONFLICT) {
        globalFault(SGFSR.SMCF, sid);
        return { ok: false, kind: "stream-match-conflict", iova, cb: -1, fault: undefined };
      }
      if (r === ROUTE_FAULT) return { ok: false, kind: "s2cr-fault", iova, cb: -1, fault: undefined };
      const memory = options.memory;
      if (r === ROUTE_BYPASS) {
        if (write) {
          memory.write(iova, data!);
          return { ok: true, data: undefined };
        }
        return { ok: true, data: memory.read(iova, length) };
      }
      const cb = r;
      const d = decode(cb);
      if (d.config.mode === "abort") return { ok: false, kind: "bad-context", iova, cb, fault: undefined };
      currentSid = sid;
      const access = write ? DmaAccess.WRITE : DmaAccess.READ;
      // Translate every page first: a faulting transaction moves no byte.
      const end = iova + length;
      let firstPa = -1;
      let firstLen = 0;
      let pieces: number[] | undefined;
      for (let at = iova; at < end; ) {
        if (!unit.translate(cb, at, access, out)) {
          const fault = unit.recentFaults[unit.recentFaults.length - 1];
          if ((reg(cb, Cb.SCTLR) & SCTLR.CFRE) === 0) {
            // Context faults not reported to the client: the access completes as RAZ/WI.
            raiseContextIrqs();
            return { ok: true, data: write ? undefined : new Uint8Array(length) };
          }
          raiseContextIrqs();
          return { ok: false, kind: "context-fault", iova: at, cb, fault };
        }
        const n = Math.min(end, at - (at % out.pageSize) + out.pageSize) - at;
        if (firstPa < 0) {
          firstPa = out.outputAddress;
          firstLen = n;
        } else {
          pieces ??= [firstPa, firstLen];
          pieces.push(out.outputAddress, n);
        }
        at += n;
      }
      pieces ??= [firstPa, firstLen];
      if (write) {
        let done = 0;
        for (let i = 0; i < pieces.length; i += 2) {
          const n = pieces[i + 1]!;
          memory.write(pieces[i]!, data!.subarray(done, done + n));
          done += n;
        }
        return { ok: true, data: undefined };
      }
      const bytes = new Uint8Array(length);
      let done = 0;
      for (let i = 0; i < pieces.length; i += 2) {
        const n = pieces[i + 1]!;
        bytes.set(memory.read(pieces[i]!, n), done);
        done += n;
      }
      return { ok: true, data: bytes };
    },
    probeStale(sid, iova) {
      const r = route(sid);
      if (r < 0) return false;
      decode(r);
      return unit.probeStale(r, iova).stale;
    },
    startTrace() {
      trace = [];
    },
    stopTrace() {
      const t = trace ?? [];
      trace = undefined;
      return t;
    },
    pendingInvalidations: () => ({ context: cbQueues.map((q) => q.pending), global: globalQueue.pending }),
    contextBank: (cb) => decode(cb),
  };
  return hw;
}
