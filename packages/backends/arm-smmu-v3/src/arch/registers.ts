/**
 * SMMUv3 register offsets and fields (hw-facts 6; Linux `ARM_SMMU_*` in arm-smmu-v3.h), shared by
 * the hardware model and the driver: the architecture, not either side's code.
 */

/** SMMU_IDR0..5 offsets. */
export const SMMU_IDR0 = 0x0;
/** SMMU_IDR1. */
export const SMMU_IDR1 = 0x4;
/** SMMU_IDR3. */
export const SMMU_IDR3 = 0xc;
/** SMMU_IDR5. */
export const SMMU_IDR5 = 0x14;
/** SMMU_CR0: SMMUEN [0], PRIQEN [1], EVTQEN [2], CMDQEN [3]. */
export const SMMU_CR0 = 0x20;
/** SMMU_CR0ACK: mirrors CR0 once the update took effect. */
export const SMMU_CR0ACK = 0x24;
/** SMMU_GBPA: global bypass attribute; ABORT [20] aborts traffic while SMMUEN = 0. */
export const SMMU_GBPA = 0x44;
/** SMMU_IRQ_CTRL: GERROR_IRQEN [0], PRIQ_IRQEN [1], EVTQ_IRQEN [2]. */
export const SMMU_IRQ_CTRL = 0x50;
/** SMMU_GERROR: CMDQ_ERR [0], EVTQ_ABT_ERR [2], ... (active when it differs from GERRORN). */
export const SMMU_GERROR = 0x60;
/** SMMU_GERRORN: software acknowledges a global error by writing GERROR's value here. */
export const SMMU_GERRORN = 0x64;
/** SMMU_STRTAB_BASE (64-bit): ADDR [51:6], RA [62]. */
export const SMMU_STRTAB_BASE = 0x80;
/** SMMU_STRTAB_BASE_CFG: LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16] (0 linear, 1 2-level). */
export const SMMU_STRTAB_BASE_CFG = 0x88;
/** SMMU_CMDQ_BASE (64-bit): LOG2SIZE [4:0], ADDR [51:5], RA [62]. */
export const SMMU_CMDQ_BASE = 0x90;
/** SMMU_CMDQ_PROD: written by software. */
export const SMMU_CMDQ_PROD = 0x98;
/** SMMU_CMDQ_CONS: written by the SMMU; ERR [30:24]. */
export const SMMU_CMDQ_CONS = 0x9c;
/** SMMU_EVTQ_BASE (64-bit). */
export const SMMU_EVTQ_BASE = 0xa0;
/** SMMU_EVTQ_PROD (page 1 on real hardware, +0x10000): written by the SMMU; OVFLG [31]. */
export const SMMU_EVTQ_PROD = 0xa8;
/** SMMU_EVTQ_CONS (page 1): written by software; OVACKFLG [31]. */
export const SMMU_EVTQ_CONS = 0xac;

/** CR0.SMMUEN. */
export const CR0_SMMUEN = 1 << 0;
/** CR0.EVTQEN. */
export const CR0_EVTQEN = 1 << 2;
/** CR0.CMDQEN. */
export const CR0_CMDQEN = 1 << 3;
/** GBPA.ABORT: with SMMUEN = 0, incoming transactions are aborted (no event). */
export const GBPA_ABORT = 1 << 20;
/** IRQ_CTRL.GERROR_IRQEN. */
export const IRQ_CTRL_GERROR_IRQEN = 1 << 0;
/** IRQ_CTRL.EVTQ_IRQEN. */
export const IRQ_CTRL_EVTQ_IRQEN = 1 << 2;
/** GERROR.CMDQ_ERR. */
export const GERROR_CMDQ_ERR = 1 << 0;
/** STRTAB_BASE.RA (read-allocate hint, set by Linux on coherent SMMUs), in the high word. */
export const STRTAB_BASE_RA_HI = 1 << 30;
/** STRTAB_BASE_CFG.FMT = 2-level. */
export const STRTAB_BASE_CFG_FMT_2LVL = 1;
/** Linux's `STRTAB_SPLIT`: 256 STEs per level-2 table. */
export const STRTAB_SPLIT = 8;
/** CMDQ_CONS.ERR shift and width ([30:24]). */
export const CMDQ_CONS_ERR_SHIFT = 24;
/** CMDQ_CONS.ERR mask after shifting. */
export const CMDQ_CONS_ERR_MASK = 0x7f;
/** CERROR_NONE. */
export const CMDQ_ERR_CERROR_NONE = 0;
/** CERROR_ILL: illegal command (unknown opcode, or one the SMMU does not implement). */
export const CMDQ_ERR_CERROR_ILL = 1;
/** CERROR_ABT: abort reading the command. */
export const CMDQ_ERR_CERROR_ABT = 2;
/** CERROR_ATC_INV_SYNC. */
export const CMDQ_ERR_CERROR_ATC_INV_SYNC = 3;
/** Queue pointer overflow flag (`Q_OVERFLOW_FLAG`): PROD.OVFLG / CONS.OVACKFLG. */
export const Q_OVERFLOW_FLAG = 0x8000_0000;

/** Queue pointer index: the low `shift` bits (`Q_IDX`). */
export function queueIndex(pointer: number, shift: number): number {
  return pointer & ((1 << shift) - 1);
}

/** Queue pointer wrap bit: bit `shift` (`Q_WRP`). */
export function queueWrap(pointer: number, shift: number): number {
  return pointer & (1 << shift);
}

/** Index and wrap of a pointer incremented by one, overflow flag kept (`queue_inc_prod`). */
export function queueIncrement(pointer: number, shift: number): number {
  const idxWrp = (pointer & ((2 << shift) - 1)) + 1;
  return ((pointer & Q_OVERFLOW_FLAG) | (idxWrp & ((2 << shift) - 1))) >>> 0;
}

/** True when a queue with these pointers is full: same index, different wrap (`queue_full`). */
export function queueFull(prod: number, cons: number, shift: number): boolean {
  return (
    queueIndex(prod, shift) === queueIndex(cons, shift) && queueWrap(prod, shift) !== queueWrap(cons, shift)
  );
}

/** True when a queue with these pointers is empty: same index and wrap (`queue_empty`). */
export function queueEmpty(prod: number, cons: number, shift: number): boolean {
  return (
    queueIndex(prod, shift) === queueIndex(cons, shift) && queueWrap(prod, shift) === queueWrap(cons, shift)
  );
}
