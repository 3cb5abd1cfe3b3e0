/**
 * Context Descriptor and level-1 CD-table descriptor fields (hw-facts 6; Linux `CTXDESC_*`).
 */

/** CD size: 8 dwords, 64 bytes (`CTXDESC_CD_DWORDS`). */
export const CD_DWORDS = 8;
/** CD bytes. */
export const CD_BYTES = 64;
/** Entries per level-2 CD table (`CTXDESC_L2_ENTRIES`, S1Fmt = 64 KiB leaves). */
export const CD_L2_ENTRIES = 1024;
/** Bytes of a level-1 CD descriptor. */
export const CD_L1_DESC_BYTES = 8;
/** CD.T0SZ [5:0]. */
export const CD_T0SZ = [0, 5, 0] as const;
/** CD.TG0 [7:6]: 0 4K, 1 64K, 2 16K. */
export const CD_TG0 = [0, 7, 6] as const;
/** CD.IRGN0 [9:8]. */
export const CD_IRGN0 = [0, 9, 8] as const;
/** CD.ORGN0 [11:10]. */
export const CD_ORGN0 = [0, 11, 10] as const;
/** CD.SH0 [13:12]. */
export const CD_SH0 = [0, 13, 12] as const;
/** CD.EPD0 [14]: TTB0 walks disabled (translation fault). */
export const CD_EPD0 = [0, 14, 14] as const;
/** CD.ENDI [15]. */
export const CD_ENDI = [0, 15, 15] as const;
/** CD.EPD1 [30]. */
export const CD_EPD1 = [0, 30, 30] as const;
/** CD.V [31]. */
export const CD_V = [0, 31, 31] as const;
/** CD.IPS [34:32]. */
export const CD_IPS = [0, 34, 32] as const;
/** CD.TBI0 [38]. */
export const CD_TBI0 = [0, 38, 38] as const;
/** CD.AA64 [41]. */
export const CD_AA64 = [0, 41, 41] as const;
/** CD.HD [42]. */
export const CD_HD = [0, 42, 42] as const;
/** CD.HA [43]. */
export const CD_HA = [0, 43, 43] as const;
/** CD.S [44]: stall faults. */
export const CD_S = [0, 44, 44] as const;
/** CD.R [45]: record faults. */
export const CD_R = [0, 45, 45] as const;
/** CD.A [46]: abort (terminate) faulting transactions. */
export const CD_A = [0, 46, 46] as const;
/** CD.ASET [47]: ASID not shared with the PE. */
export const CD_ASET = [0, 47, 47] as const;
/** CD.ASID [63:48]. */
export const CD_ASID = [0, 63, 48] as const;
/** CD.TTB0 [51:4] of dword 1 (address field). */
export const CD_TTB0 = [1, 51, 4] as const;
/** CD.MAIR0: dword 3, low half. */
export const CD_MAIR_LO = [3, 31, 0] as const;
/** CD.MAIR0: dword 3, high half. */
export const CD_MAIR_HI = [3, 63, 32] as const;
/** Level-1 CD descriptor V [0]. */
export const CD_L1_V = [0, 0, 0] as const;
/** Level-1 CD descriptor L2Ptr [51:12]. */
export const CD_L1_L2PTR = [0, 51, 12] as const;

/** TCR/VTCR PS (IPS) encodings by output size in bits (`ARM_LPAE_TCR_PS_*`). */
export const PS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];
/** TG0 / S2TG granule encodings: 0 4K, 1 64K, 2 16K. */
export const TG0_GRANULES: readonly number[] = [4096, 65536, 16384];
