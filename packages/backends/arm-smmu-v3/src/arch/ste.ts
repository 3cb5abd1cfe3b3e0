/**
 * Stream Table Entry and level-1 stream-table descriptor fields (hw-facts 6; Linux `STRTAB_*`),
 * as [dword, hi, lo] positions for {@link getField} / {@link setField}.
 */

/** STE size: 8 dwords, 64 bytes (`STRTAB_STE_DWORDS`). */
export const STE_DWORDS = 8;
/** STE bytes. */
export const STE_BYTES = 64;
/** STE.V: dword 0 bit 0. */
export const STE_V = [0, 0, 0] as const;
/** STE.Config [3:1]. */
export const STE_CFG = [0, 3, 1] as const;
/** STE.S1Fmt [5:4]: 0 linear CD table, 1 2-level with 4 KiB leaves, 2 2-level with 64 KiB leaves. */
export const STE_S1FMT = [0, 5, 4] as const;
/** STE.S1ContextPtr [51:6] (address field). */
export const STE_S1CTXPTR = [0, 51, 6] as const;
/** STE.S1CDMax [63:59]: log2 of the number of CDs. */
export const STE_S1CDMAX = [0, 63, 59] as const;
/** STE.S1DSS [1:0] of dword 1: 0 terminate, 1 bypass, 2 substream 0 for traffic without a SubstreamID. */
export const STE_S1DSS = [1, 1, 0] as const;
/** STE.S1CIR [3:2]. */
export const STE_S1CIR = [1, 3, 2] as const;
/** STE.S1COR [5:4]. */
export const STE_S1COR = [1, 5, 4] as const;
/** STE.S1CSH [7:6]. */
export const STE_S1CSH = [1, 7, 6] as const;
/** STE.S1STALLD [27]. */
export const STE_S1STALLD = [1, 27, 27] as const;
/** STE.EATS [29:28]. */
export const STE_EATS = [1, 29, 28] as const;
/** STE.STRW [31:30]: 0 NS-EL1, 2 EL2. */
export const STE_STRW = [1, 31, 30] as const;
/** STE.SHCFG [45:44]: 1 = use incoming shareability. */
export const STE_SHCFG = [1, 45, 44] as const;
/** STE.S2VMID [15:0] of dword 2. */
export const STE_S2VMID = [2, 15, 0] as const;
/** STE.VTCR.S2T0SZ (dword 2 [37:32]). */
export const STE_S2T0SZ = [2, 37, 32] as const;
/** STE.VTCR.S2SL0 [39:38]. */
export const STE_S2SL0 = [2, 39, 38] as const;
/** STE.VTCR.S2IR0 [41:40]. */
export const STE_S2IR0 = [2, 41, 40] as const;
/** STE.VTCR.S2OR0 [43:42]. */
export const STE_S2OR0 = [2, 43, 42] as const;
/** STE.VTCR.S2SH0 [45:44]. */
export const STE_S2SH0 = [2, 45, 44] as const;
/** STE.VTCR.S2TG [47:46]: 0 4K, 1 64K, 2 16K. */
export const STE_S2TG = [2, 47, 46] as const;
/** STE.VTCR.S2PS [50:48]. */
export const STE_S2PS = [2, 50, 48] as const;
/** STE.S2AA64 [51]. */
export const STE_S2AA64 = [2, 51, 51] as const;
/** STE.S2ENDI [52]. */
export const STE_S2ENDI = [2, 52, 52] as const;
/** STE.S2PTW [54]. */
export const STE_S2PTW = [2, 54, 54] as const;
/** STE.S2S [57]: stall stage-2 faults. */
export const STE_S2S = [2, 57, 57] as const;
/** STE.S2R [58]: record stage-2 faults. */
export const STE_S2R = [2, 58, 58] as const;
/** STE.S2TTB [51:4] of dword 3 (address field). */
export const STE_S2TTB = [3, 51, 4] as const;

/** STE.Config values (`STRTAB_STE_0_CFG_*`). */
export const STE_CFG_ABORT = 0b000;
/** Bypass both stages. */
export const STE_CFG_BYPASS = 0b100;
/** Stage 1 translates, stage 2 bypassed. */
export const STE_CFG_S1_TRANS = 0b101;
/** Stage 1 bypassed, stage 2 translates. */
export const STE_CFG_S2_TRANS = 0b110;
/** Nested: stage 1 then stage 2. */
export const STE_CFG_NESTED = 0b111;

/** S1DSS values. */
export const STE_S1DSS_TERMINATE = 0;
/** Non-substream traffic bypasses stage 1. */
export const STE_S1DSS_BYPASS = 1;
/** Non-substream traffic uses CD 0 (Linux's choice for a paging domain). */
export const STE_S1DSS_SSID0 = 2;

/** Level-1 stream-table descriptor: SPAN [4:0] (L2 table holds 2^(SPAN-1) STEs; 0 = invalid). */
export const STRTAB_L1_SPAN = [0, 4, 0] as const;
/** Level-1 descriptor L2Ptr [51:6]. */
export const STRTAB_L1_L2PTR = [0, 51, 6] as const;
