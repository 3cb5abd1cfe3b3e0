/**
 * Queued invalidation, the hardware side (VT-d specification 6.5.2): software writes descriptors
 * into a ring in memory (IQA: base [63:12], QS [2:0] = 2^QS pages; 128-bit descriptors in legacy
 * mode) and moves the tail (IQT). The hardware fetches from the head (IQH) up to the tail, executes
 * each descriptor, and stops at the first invalid one with FSTS.IQE set and IQH left pointing at it.
 * The model executes synchronously, as soon as the tail moves.
 */
import { decodeVtdDescriptor, type VtdDescriptor } from "@iommu-sim/hw";
import { DMA_FSTS_IQE, DMAR_FSTS_REG, DMAR_IQA_REG, DMAR_IQH_REG, DMAR_IQT_REG } from "./registers.js";

/** Memory the queue is fetched from and wait-descriptor status written to. */
export interface QueueMemory {
  read(pa: number, length: number): Uint8Array;
  writeU32(pa: number, value: number): void;
}

/** What executing a descriptor does; returns false when the descriptor is invalid here (IQE). */
export type DescriptorExecutor = (descriptor: VtdDescriptor, raw: Uint8Array) => boolean;

/** One descriptor the hardware fetched, for tests and dumps. */
export interface ConsumedDescriptor {
  /** Queue slot it was fetched from. */
  readonly index: number;
  /** The raw 16 bytes (32 with IQA.DW, 256-bit descriptors). */
  readonly raw: Uint8Array;
  /** Decoded, or `undefined` when it did not decode (IQE). */
  readonly decoded: VtdDescriptor | undefined;
}

/** The invalidation queue engine. */
export interface InvalidationQueue {
  /** Called after software wrote IQT while queued invalidation is enabled. */
  tailWritten(): void;
  /** Called when GCMD.QIE is set: the head resets to 0. */
  enable(): void;
  /** Descriptors fetched so far (the most recent `historyLimit`), oldest first. */
  readonly consumed: readonly ConsumedDescriptor[];
  /** Descriptors fetched since creation. */
  readonly fetched: number;
  /** Empties {@link consumed}. */
  clearHistory(): void;
}

const TWO32 = 2 ** 32;
/** IQA.DW: descriptor width 256 bits (scalable mode; `qi_shift` 5). */
const IQA_DW = 1 << 11;

/**
 * Creates the queue engine over the register words `regs` and `memory`. `allowWide` (ECAP.SMTS):
 * IQA.DW = 1 selects 256-bit descriptors (IQH/IQT in units of 32 bytes); otherwise DW = 1 is an
 * invalidation queue error.
 */
export function createInvalidationQueue(
  regs: Uint32Array,
  memory: QueueMemory,
  execute: DescriptorExecutor,
  historyLimit = 1024,
  allowWide = false,
): InvalidationQueue {
  const consumed: ConsumedDescriptor[] = [];
  /** Drops all but the newest `historyLimit` entries of {@link consumed}. */
  const trim = () => {
    if (consumed.length > historyLimit) consumed.splice(0, consumed.length - historyLimit);
  };
  let fetched = 0;
  const get64 = (offset: number) => regs[offset / 4]! + regs[offset / 4 + 1]! * TWO32;
  let shift = 4;
  const setHead = (index: number) => {
    regs[DMAR_IQH_REG / 4] = index << shift;
    regs[DMAR_IQH_REG / 4 + 1] = 0;
  };
  return {
    enable() {
      setHead(0);
    },
    tailWritten() {
      // An earlier invalid descriptor stops the queue until software clears IQE.
      if (regs[DMAR_FSTS_REG / 4]! & DMA_FSTS_IQE) return;
      const iqa = get64(DMAR_IQA_REG);
      const base = iqa - (iqa % 4096);
      // IQA.DW (bit 11): 256-bit descriptors, only where the unit reports ECAP.SMTS.
      const wide = (regs[DMAR_IQA_REG / 4]! & IQA_DW) !== 0;
      if (wide && !allowWide) {
        regs[DMAR_FSTS_REG / 4] = regs[DMAR_FSTS_REG / 4]! | DMA_FSTS_IQE;
        return;
      }
      shift = wide ? 5 : 4;
      const bytes = 1 << shift;
      const entries = (4096 * 2 ** (regs[DMAR_IQA_REG / 4]! & 7)) / bytes;
      const iqt = regs[DMAR_IQT_REG / 4]!;
      const tail = (iqt >>> shift) & 0x7fff;
      let head = (regs[DMAR_IQH_REG / 4]! >>> shift) & 0x7fff;
      if (tail >= entries || (wide && iqt & 0x10)) {
        regs[DMAR_FSTS_REG / 4] = regs[DMAR_FSTS_REG / 4]! | DMA_FSTS_IQE;
        return;
      }
      while (head !== tail) {
        const raw = memory.read(base + head * bytes, bytes);
        fetched++;
        let decoded: VtdDescriptor | undefined;
        try {
          decoded = decodeVtdDescriptor(raw);
        } catch {
          decoded = undefined;
        }
        consumed.push({ index: head, raw, decoded });
        // shift() per descriptor moved the whole full history every time (O(historyLimit) per
        // strict unmap); trimming only at twice the limit keeps this amortised O(1), and the
        // `consumed` getter trims to the limit when someone looks.
        if (consumed.length >= 2 * historyLimit) trim();
        if (decoded === undefined || !execute(decoded, raw)) {
          regs[DMAR_FSTS_REG / 4] = regs[DMAR_FSTS_REG / 4]! | DMA_FSTS_IQE;
          break;
        }
        head = (head + 1) % entries;
      }
      setHead(head);
    },
    get consumed() {
      trim();
      return consumed;
    },
    get fetched() {
      return fetched;
    },
    clearHistory() {
      consumed.length = 0;
    },
  };
}
