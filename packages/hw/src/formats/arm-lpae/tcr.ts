/**
 * The translation-control fields io-pgtable-arm reports for an LPAE table (hw-facts 1.5):
 * `cfg->arm_lpae_s1_cfg.tcr` (stage 1) and `cfg->arm_lpae_s2_cfg.vtcr` (stage 2), as fields.
 */
import { LPAE_PS_ENCODING, type LpaeGeometry } from "./geometry.js";

/** TCR/VTCR shareability encodings (`ARM_LPAE_TCR_SH_*`). */
export const LPAE_TCR_SH = { NS: 0, OS: 2, IS: 3 } as const;
/** Cacheability encodings (`ARM_LPAE_TCR_RGN_*`). */
export const LPAE_TCR_RGN = { NC: 0, WBWA: 1, WT: 2, WB: 3 } as const;

/** TCR/VTCR fields of one table. */
export interface LpaeTcrFields {
  /** T0SZ: 64 - ias. */
  readonly tsz: number;
  /** TG0 granule encoding: 4K = 0, 64K = 1, 16K = 2. */
  readonly tg: number;
  /** IPS / PS output-size encoding. */
  readonly ps: number;
  readonly sh: number;
  readonly irgn: number;
  readonly orgn: number;
  /** Stage 2 only: VTCR.SL0 (`~sl & 3` with sl = start level, +1 for 4K). */
  readonly sl?: number;
}

/**
 * The TCR (stage 1) or VTCR (stage 2) fields for `geometry`, as `arm_64_lpae_alloc_pgtable_s1/_s2`
 * compute them; `coherentWalk` selects IS/WBWA/WBWA over OS/NC/NC. TTBR1 and OUTER_WBWA quirks are
 * not modelled. @param coherentWalk @default true
 */
export function computeLpaeTcr(geometry: LpaeGeometry, coherentWalk = true): LpaeTcrFields {
  const tg = geometry.granule === 4096 ? 0 : geometry.granule === 65536 ? 1 : 2;
  const base = {
    tsz: 64 - geometry.ias,
    tg,
    ps: LPAE_PS_ENCODING[geometry.oas]!,
    sh: coherentWalk ? LPAE_TCR_SH.IS : LPAE_TCR_SH.OS,
    irgn: coherentWalk ? LPAE_TCR_RGN.WBWA : LPAE_TCR_RGN.NC,
    orgn: coherentWalk ? LPAE_TCR_RGN.WBWA : LPAE_TCR_RGN.NC,
  };
  if (geometry.stage === 1) return base;
  const sl = geometry.startLevel + (geometry.granule === 4096 ? 1 : 0);
  return { ...base, sl: ~sl & 3 };
}
