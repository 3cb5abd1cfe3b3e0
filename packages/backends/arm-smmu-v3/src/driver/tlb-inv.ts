/**
 * TLB invalidation by range, as Linux's `__arm_smmu_tlb_inv_range()` builds it (hw-facts 4.1): with
 * range invalidation (IDR3.RIL) chunks of (NUM+1) x 2^SCALE pages of the domain's granule with
 * TG and, for leaf-only invalidations, the TTL level hint; without it one command per `granule`.
 * The batch ends with a CMD_SYNC. Numbers only.
 */
import { buildTlbiRange, CMDQ_TLBI_RANGE_NUM_MAX } from "../arch/commands.js";
import { batchSlot, type DriverCmdq } from "./cmdq.js";

/** Index of the lowest set bit of a positive integer below 2^53 (`__ffs`). */
export function ffs(x: number): number {
  let n = 0;
  let v = x;
  while (v > 0xffff_ffff && v % 0x1_0000_0000 === 0) {
    v /= 0x1_0000_0000;
    n += 32;
  }
  const lo = v % 0x1_0000_0000;
  if (lo === 0) return n + 32 + ffs(Math.floor(v / 0x1_0000_0000));
  return n + 31 - Math.clz32(lo & -lo);
}

/** What one range invalidation needs. */
export interface TlbInvRange {
  /** `CMDQ_OP_TLBI_NH_VA`, `CMDQ_OP_TLBI_S2_IPA`, ... */
  readonly opcode: number;
  readonly asid: number;
  readonly vmid: number;
  /** The domain's page sizes (its lowest bit is the translation granule, `tg`). */
  readonly pgsizeBitmap: number;
  /** The SMMU has range invalidation. */
  readonly ril: boolean;
}

/**
 * Queues the TLBI commands for [iova, iova + size) of leaves of `granule` bytes (or tables, with
 * `leaf` false) and submits them with a CMD_SYNC (`__arm_smmu_tlb_inv_range` +
 * `arm_smmu_cmdq_batch_submit`).
 */
export function tlbInvRange(
  cmdq: DriverCmdq,
  inv: TlbInvRange,
  iovaIn: number,
  size: number,
  granule: number,
  leaf: boolean,
): void {
  if (size === 0) return;
  let iova = iovaIn;
  const end = iova + size;
  let invRange = granule;
  let tg = 0;
  let tgField = 0;
  let ttl = 0;
  let numPages = 0;
  if (inv.ril) {
    tg = ffs(inv.pgsizeBitmap);
    numPages = Math.floor(size / 2 ** tg);
    tgField = (tg - 10) / 2;
    // The level of the leaves: 3 for granule-sized pages, 2 for the next block size, ...
    if (leaf) ttl = 4 - Math.floor((Math.log2(granule) - 3) / (tg - 3));
    // Never send TTL = SCALE = NUM = 0 for a non-leaf range (an erratum workaround in Linux).
    else if ((numPages & CMDQ_TLBI_RANGE_NUM_MAX) === 1) numPages++;
  }
  while (iova < end) {
    let num = 0;
    let scale = 0;
    if (inv.ril) {
      if (numPages <= 0) break;
      scale = ffs(numPages);
      const n = Math.floor(numPages / 2 ** scale) & CMDQ_TLBI_RANGE_NUM_MAX;
      num = n - 1;
      invRange = n * 2 ** (scale + tg);
      numPages -= n * 2 ** scale;
    }
    const at = batchSlot(cmdq);
    buildTlbiRange(cmdq.batch, at, inv.opcode, inv.asid, inv.vmid, iova, leaf, num, scale, ttl, tgField);
    iova += invRange;
  }
  cmdq.submit(true);
}
