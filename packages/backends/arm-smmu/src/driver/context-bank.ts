/**
 * Programming a context bank for a domain: the register values `arm_smmu_init_context_bank()`
 * derives from the io-pgtable configuration, written in the order `arm_smmu_write_context_bank()`
 * writes them (CBA2R, CBAR, TCR2, TCR, TTBRs or CONTEXTIDR + TTBRs, MAIRs, and SCTLR last).
 *
 * @module
 */
import type { PageTable } from "@iommu-sim/hw";
import {
  ADDRESS_SIZE_BITS,
  CBA2R,
  CBAR,
  Cb,
  CbarType,
  Gr1,
  SCTLR,
  TCR,
  TCR2,
  TTBR,
} from "../hardware/registers.js";
import { cbWrite, cbWriteq, gr1Write, type SmmuDevice } from "./smmu-device.js";

/** Context formats (`enum arm_smmu_context_fmt`): AArch64 LPAE or AArch32 short descriptor. */
export type ContextFormat = "aarch64" | "aarch32-s";

/** What a domain's context needs (`struct arm_smmu_cfg` plus the io-pgtable configuration). */
export interface ContextConfig {
  readonly cbndx: number;
  /** Stage 1 (CBAR type S1 translate, S2 bypass) or stage 2. */
  readonly stage: 1 | 2;
  readonly fmt: ContextFormat;
  /** ASID (stage 1) = `cbndx`; VMID (stage 2) = `cbndx + 1`. */
  readonly asid: number;
  readonly vmid: number;
  /** The domain's table. */
  readonly table: PageTable;
  /** Table walks are coherent (`cfg->coherent_walk`). */
  readonly coherentWalk: boolean;
}

/** Register values of a context bank (`struct arm_smmu_cb` plus CBAR/CBA2R/SCTLR). */
export interface ContextBankValues {
  readonly cba2r: number;
  readonly cbar: number;
  /** TCR2 (stage 1 only; 0 for short descriptors). */
  readonly tcr2: number;
  /** TCR (stage 1) or VTCR (stage 2). */
  readonly tcr: number;
  readonly ttbr0: readonly [lo: number, hi: number];
  readonly ttbr1: readonly [lo: number, hi: number];
  readonly contextidr: number;
  /** MAIR0 / PRRR. */
  readonly mair0: number;
  /** MAIR1 / NMRR. */
  readonly mair1: number;
  readonly sctlr: number;
}

/** io-pgtable's MAIR for stage 1 (`ARM_LPAE_MAIR_ATTR_*`: NC 0x44, WBRWA 0xff, DEVICE 0x04, INC_OWBRWA 0xf4). */
export const LPAE_S1_MAIR0 = 0xf404ff44;

/** TCR/VTCR shareability and cacheability of table walks: IS/WBWA when coherent, else OS/NC. */
function walkAttributes(coherent: boolean): number {
  const sh = coherent ? 3 : 2;
  const rgn = coherent ? 1 : 0;
  return (sh << TCR.SH0_SHIFT) | (rgn << TCR.ORGN0_SHIFT) | (rgn << TCR.IRGN0_SHIFT);
}

const tg0 = (granule: number): number => (granule === 4096 ? 0 : granule === 65536 ? 1 : 2);

// io-pgtable-arm-v7s register values: PRRR/NMRR for its TEX remap, and the TTBR walk attributes.
const V7S_PRRR =
  ((1 << 2) | // TR(1, DEVICE)
    (2 << 8) | // TR(4, NORMAL)
    (2 << 14) | // TR(7, NORMAL)
    (1 << 16) | // DS0
    (1 << 17) | // DS1
    (1 << 19) | // NS1
    (2 ** 31)) >>> // NOS(7)
  0;
const V7S_NMRR = ((1 << 14) | (1 << 30)) >>> 0; // IR(7, WBWA) | OR(7, WBWA)
const V7S_TTBR_S = 1 << 1;
const V7S_TTBR_NOS = 1 << 5;
const V7S_TTBR_ORGN_WBWA = 1 << 3;
const V7S_TTBR_IRGN_WBWA = 1 << 6;

/** Computes a bank's register values for `cfg` (`arm_smmu_init_context_bank()`). */
export function contextBankValues(cfg: ContextConfig): ContextBankValues {
  const { table } = cfg;
  const g = table.geometry;
  const root = table.rootAddress;
  const rootLo = (root % 2 ** 32) >>> 0;
  const rootHi = Math.floor(root / 2 ** 32);
  const sctlr =
    SCTLR.CFIE | SCTLR.CFRE | SCTLR.AFE | SCTLR.TRE | SCTLR.M | (cfg.stage === 1 ? SCTLR.ASIDPNE : 0);
  const cba2r = cfg.fmt === "aarch64" ? CBA2R.VA64 : 0;
  if (cfg.stage === 2) {
    // VTCR: RES1, PS, TG0, SH0/ORGN0/IRGN0, SL0 (~(start level, +1 for 4K) & 3), T0SZ.
    const sl = ~(g.startLevel + (g.granule === 4096 ? 1 : 0)) & 3;
    const tcr =
      (TCR.VTCR_RES1 +
        ((ADDRESS_SIZE_BITS.indexOf(g.oas) << TCR.PS_SHIFT) |
          (tg0(g.granule) << TCR.TG0_SHIFT) |
          walkAttributes(cfg.coherentWalk) |
          (sl << TCR.SL0_SHIFT) |
          (64 - g.ias))) >>>
      0;
    return {
      cba2r,
      cbar: ((CbarType.S2_TRANS << CBAR.TYPE_SHIFT) | (cfg.vmid & CBAR.VMID_MASK)) >>> 0,
      tcr2: 0,
      tcr,
      ttbr0: [rootLo, rootHi],
      ttbr1: [0, 0],
      contextidr: 0,
      mair0: 0,
      mair1: 0,
      sctlr: sctlr >>> 0,
    };
  }
  const cbar =
    (CbarType.S1_TRANS_S2_BYPASS << CBAR.TYPE_SHIFT) |
    (CBAR.BPSHCFG_NSH << CBAR.BPSHCFG_SHIFT) |
    (CBAR.MEMATTR_WB << CBAR.MEMATTR_SHIFT);
  if (cfg.fmt === "aarch32-s") {
    const walk = cfg.coherentWalk ? V7S_TTBR_NOS | V7S_TTBR_IRGN_WBWA | V7S_TTBR_ORGN_WBWA : 0;
    return {
      cba2r,
      cbar,
      tcr2: 0,
      tcr: 0, // T0SZ = 0, EAE = 0: short descriptors over the whole 32-bit space
      ttbr0: [(rootLo | V7S_TTBR_S | walk) >>> 0, 0],
      ttbr1: [0, 0],
      contextidr: cfg.asid,
      mair0: V7S_PRRR,
      mair1: V7S_NMRR,
      sctlr: sctlr >>> 0,
    };
  }
  // arm_smmu_lpae_tcr(): TG0, SH0, ORGN0, IRGN0, T0SZ, and EPD1 (no TTBR1 walks).
  const tcr =
    ((tg0(g.granule) << TCR.TG0_SHIFT) | walkAttributes(cfg.coherentWalk) | (64 - g.ias) | TCR.EPD1) >>> 0;
  // arm_smmu_lpae_tcr2(): PASIZE (IPS), SEP = upstream; AS (16-bit ASIDs) for AArch64.
  const tcr2 = (ADDRESS_SIZE_BITS.indexOf(g.oas) | (TCR2.SEP_UPSTREAM << TCR2.SEP_SHIFT) | TCR2.AS) >>> 0;
  const asidHi = (cfg.asid << TTBR.ASID_SHIFT_HI) >>> 0;
  return {
    cba2r,
    cbar,
    tcr2,
    tcr,
    ttbr0: [rootLo, (asidHi | rootHi) >>> 0],
    ttbr1: [0, asidHi],
    contextidr: 0,
    mair0: LPAE_S1_MAIR0,
    mair1: 0,
    sctlr: sctlr >>> 0,
  };
}

/** Writes a bank's registers in Linux's order (`arm_smmu_write_context_bank()`). */
export function writeContextBank(smmu: SmmuDevice, idx: number, cfg: ContextConfig): void {
  const v = contextBankValues(cfg);
  const stage1 = cfg.stage === 1;
  gr1Write(smmu, Gr1.CBA2R_BASE + 4 * idx, v.cba2r);
  gr1Write(smmu, Gr1.CBAR_BASE + 4 * idx, v.cbar);
  // TCR before the TTBRs: it decides how some of their fields (ASID[15:8]) are read.
  if (stage1) cbWrite(smmu, idx, Cb.TCR2, v.tcr2);
  cbWrite(smmu, idx, Cb.TCR, v.tcr);
  if (cfg.fmt === "aarch32-s") {
    cbWrite(smmu, idx, Cb.CONTEXTIDR, v.contextidr);
    cbWrite(smmu, idx, Cb.TTBR0, v.ttbr0[0]);
    cbWrite(smmu, idx, Cb.TTBR1, v.ttbr1[0]);
  } else {
    cbWriteq(smmu, idx, Cb.TTBR0, v.ttbr0[0], v.ttbr0[1]);
    if (stage1) cbWriteq(smmu, idx, Cb.TTBR1, v.ttbr1[0], v.ttbr1[1]);
  }
  if (stage1) {
    cbWrite(smmu, idx, Cb.MAIR0, v.mair0);
    cbWrite(smmu, idx, Cb.MAIR1, v.mair1);
  }
  cbWrite(smmu, idx, Cb.SCTLR, v.sctlr);
}

/** Disables a bank (`arm_smmu_write_context_bank()` with no configuration): SCTLR = 0. */
export function disableContextBank(smmu: SmmuDevice, idx: number): void {
  cbWrite(smmu, idx, Cb.SCTLR, 0);
}
