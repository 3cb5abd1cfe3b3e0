/**
 * Register map of an Arm SMMU v2 (SMMU architecture 2.0, MMU-500 style), as offsets within its
 * register pages and field masks. The SMMU's address space is pages of 4 KiB (ID1.PAGESIZE = 0):
 * page 0 is global space 0 (GR0), page 1 global space 1 (GR1), and context bank `n` is page
 * `NUMPAGE + n`, where NUMPAGE = 2^(ID1.NUMPAGENDXB + 1). Offsets and fields are the ones Linux's
 * `drivers/iommu/arm/arm-smmu/arm-smmu.h` defines.
 *
 * @module
 */
import { IommuError } from "@iommu-sim/iommu";

/** Register page size in bytes (ID1.PAGESIZE = 0: 4 KiB pages). */
export const SMMU_PAGE_SIZE = 0x1000;

/** Global register space 0 (page 0). */
export const Gr0 = {
  /** Secure configuration register 0 (non-secure alias `sCR0`). */
  sCR0: 0x0,
  /** Auxiliary configuration register. */
  sACR: 0x10,
  ID0: 0x20,
  ID1: 0x24,
  ID2: 0x28,
  ID7: 0x3c,
  /** Global fault status (write 1 to clear). */
  sGFSR: 0x48,
  sGFSYNR0: 0x50,
  /** Global fault syndrome 1: the StreamID of the faulting transaction in [15:0]. */
  sGFSYNR1: 0x54,
  sGFSYNR2: 0x58,
  /** Invalidate every TLB entry of a VMID (value: VMID). */
  TLBIVMID: 0x64,
  /** Invalidate every non-secure, non-Hyp TLB entry. */
  TLBIALLNSNH: 0x68,
  /** Invalidate every Hyp TLB entry. */
  TLBIALLH: 0x6c,
  /** Global TLB synchronisation: completes every invalidation issued through global space. */
  sTLBGSYNC: 0x70,
  /** Global TLB status: GSACTIVE (bit 0) while a global sync is in progress. */
  sTLBGSTATUS: 0x74,
  /** Stream match register `n` at `0x800 + 4n`. */
  SMR_BASE: 0x800,
  /** Stream-to-context register `n` at `0xc00 + 4n`. */
  S2CR_BASE: 0xc00,
} as const;

/** Global register space 1 (page 1): per context bank attributes. */
export const Gr1 = {
  /** Context bank attribute register `n` at `0x0 + 4n`. */
  CBAR_BASE: 0x0,
  /** Context bank fault restricted syndrome A `n` at `0x400 + 4n`: StreamID of the last fault. */
  CBFRSYNRA_BASE: 0x400,
  /** Context bank attribute register 2 `n` at `0x800 + 4n`. */
  CBA2R_BASE: 0x800,
} as const;

/** Context bank registers (offsets within the bank's page). */
export const Cb = {
  SCTLR: 0x0,
  ACTLR: 0x4,
  RESUME: 0x8,
  TCR2: 0x10,
  /** 64-bit. */
  TTBR0: 0x20,
  /** 64-bit. */
  TTBR1: 0x28,
  TCR: 0x30,
  CONTEXTIDR: 0x34,
  /** MAIR0; PRRR in the short-descriptor format. */
  MAIR0: 0x38,
  /** MAIR1; NMRR in the short-descriptor format. */
  MAIR1: 0x3c,
  /** 64-bit. */
  PAR: 0x50,
  /** Fault status, write 1 to clear. */
  FSR: 0x58,
  /** Fault status restore: writing sets FSR bits (fault injection). */
  FSRRESTORE: 0x5c,
  /** Faulting input address, 64-bit. */
  FAR: 0x60,
  FSYNR0: 0x68,
  FSYNR1: 0x6c,
  /** Invalidate by VA (all levels), 64-bit in AArch64 format. */
  TLBIVA: 0x600,
  /** Invalidate by ASID. */
  TLBIASID: 0x610,
  /** Invalidate by VA, last level only. */
  TLBIVAL: 0x620,
  /** Stage-2: invalidate by IPA (all levels). */
  TLBIIPAS2: 0x630,
  /** Stage-2: invalidate by IPA, last level only. */
  TLBIIPAS2L: 0x638,
  /** Context TLB synchronisation. */
  TLBSYNC: 0x7f0,
  /** Context TLB status: SACTIVE (bit 0) while a sync is in progress. */
  TLBSTATUS: 0x7f4,
} as const;

/** sCR0 fields. */
export const SCR0 = {
  CLIENTPD: 1 << 0,
  GFRE: 1 << 1,
  GFIE: 1 << 2,
  EXIDENABLE: 1 << 3,
  GCFGFRE: 1 << 4,
  GCFGFIE: 1 << 5,
  /** Unidentified stream fault configuration: 1 = unmatched streams fault, 0 = they bypass. */
  USFCFG: 1 << 10,
  VMIDPNE: 1 << 11,
  PTM: 1 << 12,
  FB: 1 << 13,
  BSU_SHIFT: 14,
  VMID16EN: 2 ** 31,
} as const;

/** sGFSR fields (SMMU architecture 2.0). */
export const SGFSR = {
  /** Invalid context fault. */
  ICF: 1 << 0,
  /** Unidentified stream fault. */
  USF: 1 << 1,
  /** Stream match conflict fault. */
  SMCF: 1 << 2,
  MULTI: 2 ** 31,
} as const;

/** SMR fields: `ID[15:0]`, `MASK[31:16]` (bits of the StreamID to ignore), `VALID[31]`. */
export const SMR = {
  ID_MASK: 0xffff,
  MASK_SHIFT: 16,
  MASK_MASK: 0x7fff,
  VALID: 2 ** 31,
} as const;

/** S2CR fields: `CBNDX[7:0]`, `EXIDVALID[10]`, `TYPE[17:16]`, `PRIVCFG[25:24]`. */
export const S2CR = {
  CBNDX_MASK: 0xff,
  EXIDVALID: 1 << 10,
  TYPE_SHIFT: 16,
  PRIVCFG_SHIFT: 24,
} as const;

/** S2CR.TYPE values (`enum arm_smmu_s2cr_type`). */
export const S2crType = { TRANS: 0, BYPASS: 1, FAULT: 2 } as const;

/** CBAR fields: `VMID[7:0]`, `BPSHCFG[9:8]`, `MEMATTR[15:12]`, `TYPE[17:16]`, `IRPTNDX[31:24]`. */
export const CBAR = {
  VMID_MASK: 0xff,
  BPSHCFG_SHIFT: 8,
  /** BPSHCFG value "non-shareable". */
  BPSHCFG_NSH: 3,
  MEMATTR_SHIFT: 12,
  /** MEMATTR value "write-back". */
  MEMATTR_WB: 0xf,
  TYPE_SHIFT: 16,
  IRPTNDX_SHIFT: 24,
} as const;

/** CBAR.TYPE values (`enum arm_smmu_cbar_type`). */
export const CbarType = {
  S2_TRANS: 0,
  S1_TRANS_S2_BYPASS: 1,
  S1_TRANS_S2_FAULT: 2,
  S1_TRANS_S2_TRANS: 3,
} as const;

/** CBA2R fields: `VA64[0]` (AArch64 translation regime), `VMID16[31:16]`. */
export const CBA2R = { VA64: 1 << 0, VMID16_SHIFT: 16 } as const;

/** Context bank SCTLR fields. */
export const SCTLR = {
  M: 1 << 0,
  TRE: 1 << 1,
  AFE: 1 << 2,
  E: 1 << 4,
  CFRE: 1 << 5,
  CFIE: 1 << 6,
  CFCFG: 1 << 7,
  HUPCF: 1 << 8,
  ASIDPNE: 1 << 12,
} as const;

/** TCR (stage 1 LPAE) and VTCR (stage 2) fields. */
export const TCR = {
  T0SZ_MASK: 0x3f,
  EPD0: 1 << 7,
  IRGN0_SHIFT: 8,
  ORGN0_SHIFT: 10,
  SH0_SHIFT: 12,
  TG0_SHIFT: 14,
  A1: 1 << 22,
  EPD1: 1 << 23,
  /** AArch32 only: extended address enable (LPAE rather than short descriptors). */
  EAE: 2 ** 31,
  /** VTCR: starting level `SL0[7:6]`. */
  SL0_SHIFT: 6,
  /** VTCR: physical address size `PS[18:16]`. */
  PS_SHIFT: 16,
  /** VTCR bit 31 is RES1. */
  VTCR_RES1: 2 ** 31,
} as const;

/** TCR2 fields: `PASIZE[3:0]`, `AS[4]` (16-bit ASIDs), `SEP[17:15]`. */
export const TCR2 = { PASIZE_MASK: 0xf, AS: 1 << 4, SEP_SHIFT: 15, SEP_UPSTREAM: 7 } as const;

/** TTBR fields: ASID in `[63:48]` (bits [31:16] of the high word). */
export const TTBR = { ASID_SHIFT_HI: 16 } as const;

/** The FSR syndrome format field `FORMAT[10:9]`: 0 AArch32 short, 1 AArch32 long, 2 AArch64. */
export const FSR_FORMAT_SHIFT = 9;

/** FSYNR0 `S1CBNDX[23:16]`: the stage-1 context bank of a nested fault. */
export const FSYNR0_S1CBNDX_SHIFT = 16;

/** The address-size encodings of ID2.IAS/OAS/UBS, TCR2.PASIZE and VTCR.PS: 0..6 = 32..52 bits. */
export const ADDRESS_SIZE_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** Bits for an address-size encoding, as `arm_smmu_id_size_to_bits()` (7 and above read as 48). */
export function addressSizeBits(encoding: number): number {
  return encoding <= 5 ? ADDRESS_SIZE_BITS[encoding]! : 48;
}

/** The encoding of an address size in bits (`32` -> 0 ... `52` -> 6); `EINVAL` for other sizes. */
export function addressSizeEncoding(bits: number): number {
  const index = ADDRESS_SIZE_BITS.indexOf(bits);
  if (index < 0)
    throw new IommuError("EINVAL", `address size ${bits} has no encoding (32/36/40/42/44/48/52)`);
  return index;
}
