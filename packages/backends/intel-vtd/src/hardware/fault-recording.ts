/**
 * Primary fault logging (VT-d specification 7.2.1): CAP.NFR 128-bit fault recording registers at
 * byte offset CAP.FRO of the register window, written round robin from an internal index, with
 * FSTS.PPF (some record has F set), FSTS.FRI (index of the first pending record) and FSTS.PFO (a
 * fault arrived while the next record was still in use; while PFO stays set no fault is recorded).
 * Record layout as hw-facts 5.2 and `encodeVtdFaultRecord` in `@iommu-sim/hw`.
 */
import {
  DMA_FSTS_FRI_SHIFT,
  DMA_FSTS_PFO,
  DMA_FSTS_PPF,
  DMAR_FSTS_REG,
  PRIMARY_FAULT_REG_LEN,
} from "./registers.js";

/** One fault to record. */
export interface PrimaryFault {
  /** Source id (requester id). */
  readonly sid: number;
  /** Faulting address (the record keeps its page, bits [63:12]). */
  readonly address: number;
  /** Fault reason code. */
  readonly reason: number;
  /** Read request (T = 1) or write (T = 0). */
  readonly read: boolean;
  /** PASID, or -1 for none. */
  readonly pasid: number;
}

/** The fault recording registers. */
export interface FaultRecording {
  /** Records a fault; returns true when it raises a fault event (PPF 0 to 1, or PFO newly set). */
  record(fault: PrimaryFault): boolean;
  /** Software wrote 1 to F of record `index` (W1C); PPF follows. */
  clear(index: number): void;
  /** Recomputes FSTS.PPF from the F bits. */
  updatePending(): void;
  /** Faults dropped because of overflow (PFO) since creation. */
  readonly overflowed: number;
}

const TWO32 = 2 ** 32;

/**
 * Creates the fault recording logic over the register words `regs`, with `count` records from byte
 * offset `offset`.
 */
export function createFaultRecording(regs: Uint32Array, offset: number, count: number): FaultRecording {
  let next = 0;
  let overflowed = 0;
  const fsts = DMAR_FSTS_REG / 4;
  const word = (index: number, dword: number) => (offset + index * PRIMARY_FAULT_REG_LEN) / 4 + dword;
  const anyPending = (): boolean => {
    for (let i = 0; i < count; i++) if ((regs[word(i, 3)]! & 0x8000_0000) !== 0) return true;
    return false;
  };
  const self: FaultRecording = {
    record(fault) {
      const status = regs[fsts]!;
      if (status & DMA_FSTS_PFO) {
        overflowed++;
        return false;
      }
      const index = next;
      if ((regs[word(index, 3)]! & 0x8000_0000) !== 0) {
        overflowed++;
        regs[fsts] = status | DMA_FSTS_PFO;
        return true;
      }
      regs[word(index, 0)] = (fault.address % TWO32) - (fault.address % 4096);
      regs[word(index, 1)] = Math.floor(fault.address / TWO32);
      const pp = fault.pasid >= 0;
      regs[word(index, 2)] = (fault.sid & 0xffff) | (pp ? 0x8000_0000 : 0);
      regs[word(index, 3)] =
        ((fault.reason & 0xff) |
          ((pp ? fault.pasid & 0xf_ffff : 0) << 8) |
          (fault.read ? 1 << 30 : 0) |
          (1 << 31)) >>>
        0;
      next = (index + 1) % count;
      if (status & DMA_FSTS_PPF) return false;
      regs[fsts] =
        ((status & ~(0xff << DMA_FSTS_FRI_SHIFT)) | DMA_FSTS_PPF | (index << DMA_FSTS_FRI_SHIFT)) >>> 0;
      return true;
    },
    clear(index) {
      if (index < 0 || index >= count) return;
      regs[word(index, 3)] = regs[word(index, 3)]! & 0x7fff_ffff;
      self.updatePending();
    },
    updatePending() {
      regs[fsts] = anyPending() ? regs[fsts]! | DMA_FSTS_PPF : regs[fsts]! & ~DMA_FSTS_PPF;
    },
    get overflowed() {
      return overflowed;
    },
  };
  return self;
}
