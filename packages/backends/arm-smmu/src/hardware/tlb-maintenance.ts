/**
 * TLB maintenance as the SMMU performs it: invalidation registers queue an operation, and the
 * matching synchronisation (a context bank's TLBSYNC, or sTLBGSYNC for operations issued through
 * global space) completes it. The architecture only promises completion at the sync; the model
 * applies every queued operation exactly then, the latest moment allowed, so a driver that forgets
 * a sync leaves stale entries a device can still use.
 *
 * @module
 */
import type { TranslationUnit } from "@iommu-sim/hw";

/** Queued operation kinds. */
export const TlbOp = {
  /** Stage-1 entries of one VA (a = VA, b = ASID tag, c = VMID); leaf-only variant below. */
  VA: 0,
  VAL: 1,
  /** Stage-1 entries of an ASID (b = ASID tag, c = VMID). */
  ASID: 2,
  /** Stage-2 entries of one IPA (a = IPA, c = VMID); leaf-only variant below. */
  IPA: 3,
  IPAL: 4,
  /** Every entry of a VMID (c = VMID). */
  VMID: 5,
  /** Every non-secure non-Hyp entry. */
  ALL: 6,
} as const;

/** A queue of invalidations waiting for their sync: flat numbers, four per operation. */
export class TlbQueue {
  readonly #ops: number[] = [];
  // Reused invalidation requests: completing a queue allocates nothing.
  readonly #s1Filter = { asid: 0, vmid: 0, stage: 1 as const };
  readonly #s2Filter = { vmid: 0, stage: 2 as const };
  readonly #s1Range = { start: 0, filter: this.#s1Filter, leafOnly: false };
  readonly #s2Range = { start: 0, filter: this.#s2Filter, leafOnly: false };
  /** Operations queued since the last sync, counted. */
  issued = 0;

  /** Queues an operation. */
  push(op: number, a: number, b: number, c: number): void {
    this.#ops.push(op, a, b, c);
    this.issued++;
  }

  /** Operations waiting. */
  get pending(): number {
    return this.#ops.length / 4;
  }

  /**
   * Completes every queued operation on `unit`'s IOTLB and walk caches (the effect of a sync). The
   * L variants (TLBIVAL, TLBIIPAS2L) are leaf-only: walk caches keep their table descriptors.
   */
  complete(unit: TranslationUnit): void {
    const ops = this.#ops;
    if (unit.iotlb !== null || unit.walkCache !== null) {
      for (let i = 0; i < ops.length; i += 4) {
        const op = ops[i]!;
        const a = ops[i + 1]!;
        const b = ops[i + 2]!;
        const c = ops[i + 3]!;
        switch (op) {
          case TlbOp.VA:
          case TlbOp.VAL:
            this.#s1Filter.asid = b;
            this.#s1Filter.vmid = c;
            this.#s1Range.start = a;
            this.#s1Range.leafOnly = op === TlbOp.VAL;
            unit.invalidateRange(this.#s1Range);
            break;
          case TlbOp.ASID:
            this.#s1Filter.asid = b;
            this.#s1Filter.vmid = c;
            unit.invalidateTags(this.#s1Filter);
            break;
          case TlbOp.IPA:
          case TlbOp.IPAL:
            this.#s2Filter.vmid = c;
            this.#s2Range.start = a;
            this.#s2Range.leafOnly = op === TlbOp.IPAL;
            unit.invalidateRange(this.#s2Range);
            break;
          case TlbOp.VMID:
            unit.invalidateTags({ vmid: c });
            break;
          default:
            unit.invalidateAll();
        }
      }
    }
    ops.length = 0;
  }
}
