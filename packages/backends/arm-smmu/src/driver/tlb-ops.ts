/**
 * The driver's TLB maintenance through the context bank and global registers: Linux's
 * `arm_smmu_s1_tlb_ops` and `arm_smmu_s2_tlb_ops_v2` (`tlb_flush_all`, `tlb_flush_walk`,
 * `tlb_add_page`) and the two syncs. Writes are numbers, two 32-bit halves for 64-bit registers.
 *
 * @module
 */
import { Cb, Gr0 } from "../hardware/registers.js";
import type { ContextFormat } from "./context-bank.js";
import { cbRead, cbWrite, cbWriteq, gr0Read, gr0Write, type SmmuDevice } from "./smmu-device.js";

/** The value Linux writes to sync and TLBIALL registers (`QCOM_DUMMY_VAL`, -1). */
export const DUMMY_VAL = 0xffff_ffff;

/** The flush target of a domain with a context bank. */
export interface TlbContext {
  readonly smmu: SmmuDevice;
  readonly cbndx: number;
  readonly stage: 1 | 2;
  readonly fmt: ContextFormat;
  readonly asid: number;
  readonly vmid: number;
}

/** Waits for the bank's invalidations (`arm_smmu_tlb_sync_context()`): TLBSYNC, then TLBSTATUS idle. */
export function tlbSyncContext(ctx: TlbContext): void {
  cbWrite(ctx.smmu, ctx.cbndx, Cb.TLBSYNC, DUMMY_VAL);
  while ((cbRead(ctx.smmu, ctx.cbndx, Cb.TLBSTATUS) & 1) !== 0) {
    // The model completes a sync at once; real hardware is polled here (TLB_LOOP_TIMEOUT).
  }
}

/** Waits for global invalidations (`arm_smmu_tlb_sync_global()`): sTLBGSYNC, then sTLBGSTATUS idle. */
export function tlbSyncGlobal(smmu: SmmuDevice): void {
  gr0Write(smmu, Gr0.sTLBGSYNC, DUMMY_VAL);
  while ((gr0Read(smmu, Gr0.sTLBGSTATUS) & 1) !== 0) {
    // As above.
  }
}

/** Invalidates the whole context: TLBIASID + TLBSYNC (stage 1), TLBIVMID + global sync (stage 2). */
export function tlbFlushAll(ctx: TlbContext): void {
  if (ctx.stage === 1) {
    cbWrite(ctx.smmu, ctx.cbndx, Cb.TLBIASID, ctx.asid);
    tlbSyncContext(ctx);
  } else {
    gr0Write(ctx.smmu, Gr0.TLBIVMID, ctx.vmid);
    tlbSyncGlobal(ctx.smmu);
  }
}

/**
 * Writes `reg` once per `granule` over `[iova, iova + size)` (`arm_smmu_tlb_inv_range_s1/_s2()`).
 * Stage 1 AArch64: `VA[55:12] | ASID << 48` as a 64-bit write; stage 1 AArch32: `VA[31:12] | ASID`
 * as a 32-bit write; stage 2: `IPA >> 12`.
 */
export function tlbInvRange(ctx: TlbContext, iova: number, size: number, granule: number, reg: number): void {
  const { smmu, cbndx } = ctx;
  if (ctx.stage === 1 && ctx.fmt !== "aarch64") {
    let va = (iova - (iova % 4096) + ctx.asid) >>> 0;
    for (let left = size; left > 0; left -= granule, va = (va + granule) >>> 0) cbWrite(smmu, cbndx, reg, va);
    return;
  }
  const asidHi = ctx.stage === 1 ? (ctx.asid << 16) >>> 0 : 0;
  const step = granule / 4096;
  let vpn = Math.floor(iova / 4096);
  for (let left = size; left > 0; left -= granule, vpn += step) {
    const lo = (vpn % 2 ** 32) >>> 0;
    const hi = Math.floor(vpn / 2 ** 32);
    if (ctx.fmt === "aarch64") cbWriteq(smmu, cbndx, reg, lo, (hi | asidHi) >>> 0);
    else cbWrite(smmu, cbndx, reg, lo);
  }
}

/** A leaf was removed (`tlb_add_page`): TLBIVAL (stage 1) or TLBIIPAS2L (stage 2), no sync. */
export function tlbAddPage(ctx: TlbContext, iova: number, granule: number): void {
  tlbInvRange(ctx, iova, granule, granule, ctx.stage === 1 ? Cb.TLBIVAL : Cb.TLBIIPAS2L);
}

/** A table was freed (`tlb_flush_walk`): TLBIVA / TLBIIPAS2 over its range, then TLBSYNC. */
export function tlbFlushWalk(ctx: TlbContext, iova: number, size: number, granule: number): void {
  tlbInvRange(ctx, iova, size, granule, ctx.stage === 1 ? Cb.TLBIVA : Cb.TLBIIPAS2);
  tlbSyncContext(ctx);
}
