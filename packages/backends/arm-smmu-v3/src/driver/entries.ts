/**
 * The STEs and CDs the driver writes, field by field as Linux builds them
 * (`arm_smmu_make_abort_ste`, `arm_smmu_make_bypass_ste`, `arm_smmu_make_cdtable_ste`,
 * `arm_smmu_make_s2_domain_ste`, `arm_smmu_make_s1_cd`), and the bits each kind of entry uses
 * (`arm_smmu_get_ste_used`, `arm_smmu_get_cd_used`).
 */
import type { LpaeTcrFields } from "@iommu-sim/hw";
import * as CD from "../arch/cd.js";
import * as STE from "../arch/ste.js";
import { getField, setAddress, setField } from "../arch/words.js";

/** io-pgtable's stage-1 MAIR (`ARM_LPAE_MAIR_ATTR_*`: NC 0x44, WBRWA 0xff, DEVICE 0x04, INC_OWBRWA 0xf4). */
export const LPAE_S1_MAIR = 0xf404ff44;

/** The abort STE: V, Config = abort; transactions are terminated without an event. */
export function makeAbortSte(out: Uint32Array): void {
  out.fill(0);
  setField(out, ...STE.STE_V, 1);
  setField(out, ...STE.STE_CFG, STE.STE_CFG_ABORT);
}

/** The bypass STE: V, Config = bypass, SHCFG = incoming only with IDR1.ATTR_TYPES_OVR. */
export function makeBypassSte(out: Uint32Array, attrTypesOverride: boolean): void {
  out.fill(0);
  setField(out, ...STE.STE_V, 1);
  setField(out, ...STE.STE_CFG, STE.STE_CFG_BYPASS);
  if (attrTypesOverride) setField(out, ...STE.STE_SHCFG, 1);
}

/** What a CD-table STE needs (`arm_smmu_make_cdtable_ste`). */
export interface CdTableSteParams {
  /** CD table address (S1ContextPtr). */
  readonly cdTable: number;
  /** S1Fmt. */
  readonly s1fmt: number;
  /** S1CDMax. */
  readonly s1cdmax: number;
  /** S1DSS. */
  readonly s1dss: number;
  /** The SMMU can stall (IDR0.STALL_MODEL = 0) and the master does not: S1STALLD. */
  readonly stallDisable: boolean;
}

/**
 * A stage-1 STE pointing at a CD table: V, Config = S1 translate, S1Fmt, S1ContextPtr, S1CDMax;
 * S1DSS, CD-fetch attributes WBRA/WBRA/inner-shareable, S1STALLD, STRW = NS-EL1.
 */
export function makeCdTableSte(out: Uint32Array, p: CdTableSteParams): void {
  out.fill(0);
  setField(out, ...STE.STE_V, 1);
  setField(out, ...STE.STE_CFG, STE.STE_CFG_S1_TRANS);
  setField(out, ...STE.STE_S1FMT, p.s1fmt);
  setAddress(out, ...STE.STE_S1CTXPTR, p.cdTable);
  setField(out, ...STE.STE_S1CDMAX, p.s1cdmax);
  setField(out, ...STE.STE_S1DSS, p.s1dss);
  setField(out, ...STE.STE_S1CIR, 1); // STRTAB_STE_1_S1C_CACHE_WBRA
  setField(out, ...STE.STE_S1COR, 1);
  setField(out, ...STE.STE_S1CSH, 3); // ARM_SMMU_SH_ISH
  if (p.stallDisable) setField(out, ...STE.STE_S1STALLD, 1);
  setField(out, ...STE.STE_STRW, 0); // STRTAB_STE_1_STRW_NSEL1
}

/** What a stage-2 STE needs (`arm_smmu_make_s2_domain_ste`). */
export interface S2SteParams {
  readonly vmid: number;
  /** io-pgtable's VTCR fields (`cfg->arm_lpae_s2_cfg.vtcr`). */
  readonly vtcr: LpaeTcrFields;
  /** Stage-2 table root (VTTBR). */
  readonly vttbr: number;
  /** IDR1.ATTR_TYPES_OVR: SHCFG = incoming. */
  readonly attrTypesOverride: boolean;
}

/** A stage-2 STE: V, Config = S2 translate; S2VMID, VTCR, S2AA64, S2PTW, S2R; S2TTB. */
export function makeS2Ste(out: Uint32Array, p: S2SteParams): void {
  out.fill(0);
  setField(out, ...STE.STE_V, 1);
  setField(out, ...STE.STE_CFG, STE.STE_CFG_S2_TRANS);
  if (p.attrTypesOverride) setField(out, ...STE.STE_SHCFG, 1);
  setField(out, ...STE.STE_S2VMID, p.vmid);
  setField(out, ...STE.STE_S2T0SZ, p.vtcr.tsz);
  setField(out, ...STE.STE_S2SL0, p.vtcr.sl ?? 0);
  setField(out, ...STE.STE_S2IR0, p.vtcr.irgn);
  setField(out, ...STE.STE_S2OR0, p.vtcr.orgn);
  setField(out, ...STE.STE_S2SH0, p.vtcr.sh);
  setField(out, ...STE.STE_S2TG, p.vtcr.tg);
  setField(out, ...STE.STE_S2PS, p.vtcr.ps);
  setField(out, ...STE.STE_S2AA64, 1);
  setField(out, ...STE.STE_S2PTW, 1);
  setField(out, ...STE.STE_S2R, 1);
  setAddress(out, ...STE.STE_S2TTB, p.vttbr);
}

/** What a stage-1 CD needs (`arm_smmu_make_s1_cd`). */
export interface S1CdParams {
  readonly asid: number;
  /** io-pgtable's TCR fields (`cfg->arm_lpae_s1_cfg.tcr`). */
  readonly tcr: LpaeTcrFields;
  /** Stage-1 table root (TTBR0). */
  readonly ttbr: number;
  /** MAIR. @default {@link LPAE_S1_MAIR} */
  readonly mair?: number;
}

/**
 * A stage-1 CD: T0SZ, TG0, IRGN0, ORGN0, SH0, IPS from the TCR; EPD1, AA64, R, A, ASET, ASID, V;
 * TTB0; MAIR.
 */
export function makeS1Cd(out: Uint32Array, p: S1CdParams): void {
  out.fill(0);
  setField(out, ...CD.CD_T0SZ, p.tcr.tsz);
  setField(out, ...CD.CD_TG0, p.tcr.tg);
  setField(out, ...CD.CD_IRGN0, p.tcr.irgn);
  setField(out, ...CD.CD_ORGN0, p.tcr.orgn);
  setField(out, ...CD.CD_SH0, p.tcr.sh);
  setField(out, ...CD.CD_IPS, p.tcr.ps);
  setField(out, ...CD.CD_EPD1, 1);
  setField(out, ...CD.CD_V, 1);
  setField(out, ...CD.CD_AA64, 1);
  setField(out, ...CD.CD_R, 1);
  setField(out, ...CD.CD_A, 1);
  setField(out, ...CD.CD_ASET, 1);
  setField(out, ...CD.CD_ASID, p.asid);
  setAddress(out, ...CD.CD_TTB0, p.ttbr);
  const mair = p.mair ?? LPAE_S1_MAIR;
  setField(out, ...CD.CD_MAIR_LO, mair >>> 0);
  setField(out, ...CD.CD_MAIR_HI, Math.floor(mair / 0x1_0000_0000) >>> 0);
}

const mask = (out: Uint32Array, field: readonly [number, number, number]): void => {
  const [d, hi, lo] = field;
  if (hi - lo + 1 <= 32 && Math.floor(lo / 32) === Math.floor(hi / 32)) {
    setField(out, d, hi, lo, 2 ** (hi - lo + 1) - 1);
  } else {
    setAddress(out, d, hi, lo, 2 ** (hi + 1) - 2 ** lo);
  }
};

/** The bits of an STE the SMMU reads, given its V and Config (`arm_smmu_get_ste_used`). */
export function getSteUsed(ent: Uint32Array, used: Uint32Array): void {
  used.fill(0);
  mask(used, STE.STE_V);
  if (getField(ent, ...STE.STE_V) === 0) return;
  mask(used, STE.STE_CFG);
  const cfg = getField(ent, ...STE.STE_CFG);
  if (cfg & 1) {
    // Stage 1 translates.
    for (const f of [STE.STE_S1FMT, STE.STE_S1CTXPTR, STE.STE_S1CDMAX]) mask(used, f);
    for (const f of [
      STE.STE_S1DSS,
      STE.STE_S1CIR,
      STE.STE_S1COR,
      STE.STE_S1CSH,
      STE.STE_S1STALLD,
      STE.STE_STRW,
      STE.STE_EATS,
    ])
      mask(used, f);
    if (getField(ent, ...STE.STE_S1DSS) === STE.STE_S1DSS_BYPASS) mask(used, STE.STE_SHCFG);
  }
  if (cfg & 2) {
    // Stage 2 translates.
    mask(used, STE.STE_EATS);
    mask(used, STE.STE_SHCFG);
    for (const f of [
      STE.STE_S2VMID,
      STE.STE_S2T0SZ,
      STE.STE_S2SL0,
      STE.STE_S2IR0,
      STE.STE_S2OR0,
      STE.STE_S2SH0,
      STE.STE_S2TG,
      STE.STE_S2PS,
      STE.STE_S2AA64,
      STE.STE_S2ENDI,
      STE.STE_S2PTW,
      STE.STE_S2S,
      STE.STE_S2R,
      STE.STE_S2TTB,
    ])
      mask(used, f);
  }
  if (cfg === STE.STE_CFG_BYPASS) mask(used, STE.STE_SHCFG);
}

/** The bits of a CD the SMMU reads (`arm_smmu_get_cd_used`): all of it once valid, minus TTB0 with EPD0. */
export function getCdUsed(ent: Uint32Array, used: Uint32Array): void {
  used.fill(0);
  mask(used, CD.CD_V);
  if (getField(ent, ...CD.CD_V) === 0) return;
  used.fill(0xffff_ffff);
  if (getField(ent, ...CD.CD_EPD0) === 1) {
    for (const f of [CD.CD_T0SZ, CD.CD_TG0, CD.CD_IRGN0, CD.CD_ORGN0, CD.CD_SH0]) {
      const [d, hi, lo] = f;
      const w = used[2 * d]!;
      used[2 * d] = (w & ~((2 ** (hi - lo + 1) - 1) << lo)) >>> 0;
    }
    used[2] = (used[2]! & 0xf) >>> 0;
    used[3] = (used[3]! & ~0xfffff) >>> 0;
  }
}
