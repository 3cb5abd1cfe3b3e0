/**
 * ARM LPAE descriptor bits and io-pgtable-arm's prot -> descriptor rule (hw-facts 1.2, 1.3, 1.6).
 * Bit positions are given for the whole 64-bit descriptor; the `*_HI` constants are the same bits
 * within the high 32-bit half, which is how the hot paths handle them.
 */

import type { DescriptorHalves } from "../../page-table/radix-table.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import type { LpaeStage } from "./geometry.js";

/** Descriptor type field `[1:0]` values. */
export const LPAE_TYPE_BLOCK = 1;
/** Table at levels 0..2, page at level 3. */
export const LPAE_TYPE_TABLE = 3;
/** Same value as {@link LPAE_TYPE_TABLE}: a level-3 page. */
export const LPAE_TYPE_PAGE = 3;

/** Bit 0: valid. */
export const LPAE_VALID = 1 << 0;
/** Bit 5: NS (stage 1, `IO_PGTABLE_QUIRK_ARM_NS`). */
export const LPAE_NS = 1 << 5;
/** Bits 4:2: stage-1 AttrIndx shift. */
export const LPAE_ATTRINDX_SHIFT = 2;
/** AttrIndx values io-pgtable uses (its MAIR slots). */
export const LPAE_ATTRINDX = { NC: 0, CACHE: 1, DEV: 2, INC_OCACHE: 3 } as const;
/** MAIR value io-pgtable programs for those slots (`cfg->arm_lpae_s1_cfg.mair`). */
export const LPAE_MAIR = 0x0000_0000_f404_ff44n;
/** Bit 6: stage-1 AP[1], EL0 (unprivileged) access. */
export const LPAE_AP_UNPRIV = 1 << 6;
/** Bit 7: stage-1 AP[2], read-only. */
export const LPAE_AP_RDONLY = 1 << 7;
/** Bits 7:6: stage-2 S2AP read / write. */
export const LPAE_HAP_READ = 1 << 6;
/** Stage-2 S2AP write bit. */
export const LPAE_HAP_WRITE = 2 << 6;
/** Bits 9:8 shareability values. */
export const LPAE_SH_NS = 0 << 8;
/** Outer shareable. */
export const LPAE_SH_OS = 2 << 8;
/** Inner shareable. */
export const LPAE_SH_IS = 3 << 8;
/** Bit 10: access flag. */
export const LPAE_AF = 1 << 10;
/** Bit 11: stage-1 not-global. */
export const LPAE_NG = 1 << 11;
/** Stage-2 MemAttr[5:2] values. */
export const LPAE_MEMATTR = { DEV: 0x1 << 2, NC: 0x5 << 2, FWB_WB: 0x6 << 2, OIWB: 0xf << 2 } as const;
/** Bit 51 (high half bit 19): DBM, stage 1 with `IO_PGTABLE_QUIRK_ARM_HD`. */
export const LPAE_DBM_HI = 1 << 19;
/** Bit 52 (high half bit 20): contiguous hint; io-pgtable never sets it. */
export const LPAE_CONT_HI = 1 << 20;
/** Bits 54:53 (high half 22:21): stage-1 UXN+PXN / stage-2 XN[1:0], set for IOMMU_NOEXEC. */
export const LPAE_XN_HI = 3 << 21;
/** Bit 55 (high half bit 23): software bit `ARM_LPAE_PTE_SW_SYNC`. */
export const LPAE_SW_SYNC_HI = 1 << 23;
/** Bit 63 (high half bit 31): NSTable in table descriptors (ARM_NS quirk). */
export const LPAE_NSTABLE_HI = 0x8000_0000;
/** `iopte_prot` of pre-6.14 kernels: attribute bits 11:2 carried into split leaves. */
export const LPAE_ATTR_LO_MASK = 0x3ff << 2;
/** `ATTR_HI_MASK` (6 << 52) within the high half: bits 54:53 (the contiguous bit is ignored). */
export const LPAE_ATTR_HI_MASK_HI = 6 << 20;

/** Quirks that change LPAE leaf bits. */
export interface LpaeLeafQuirks {
  readonly armNs?: boolean;
  readonly armS2Fwb?: boolean;
  readonly armHd?: boolean;
}

/**
 * `arm_lpae_prot_to_pte` plus the leaf type `arm_lpae_init_pte` adds: the attribute bits of a leaf at
 * `level` for Linux `prot`, address bits zero, written into `out` as two halves.
 */
export function lpaeLeafAttributes(
  stage: LpaeStage,
  prot: number,
  level: number,
  quirks: LpaeLeafQuirks,
  out: DescriptorHalves,
): void {
  let lo = 0;
  let hi = 0;
  if (stage === 1) {
    lo = LPAE_NG;
    if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= LPAE_AP_RDONLY;
    else if (quirks.armHd) hi |= LPAE_DBM_HI;
    if (!(prot & IOMMU_PRIV)) lo |= LPAE_AP_UNPRIV;
    if (prot & IOMMU_MMIO) lo |= LPAE_ATTRINDX.DEV << LPAE_ATTRINDX_SHIFT;
    else if (prot & IOMMU_CACHE) lo |= LPAE_ATTRINDX.CACHE << LPAE_ATTRINDX_SHIFT;
  } else {
    if (prot & IOMMU_READ) lo |= LPAE_HAP_READ;
    if (prot & IOMMU_WRITE) lo |= LPAE_HAP_WRITE;
    if (prot & IOMMU_MMIO) lo |= LPAE_MEMATTR.DEV;
    else if (prot & IOMMU_CACHE) lo |= quirks.armS2Fwb ? LPAE_MEMATTR.FWB_WB : LPAE_MEMATTR.OIWB;
    else lo |= LPAE_MEMATTR.NC;
  }
  lo |= prot & IOMMU_CACHE ? LPAE_SH_IS : LPAE_SH_OS;
  if (prot & IOMMU_NOEXEC) hi |= LPAE_XN_HI;
  if (quirks.armNs) lo |= LPAE_NS;
  lo |= LPAE_AF;
  lo |= level === 3 ? LPAE_TYPE_PAGE : LPAE_TYPE_BLOCK;
  out.lo = lo >>> 0;
  out.hi = hi >>> 0;
}

/** `paddr_to_iopte` low half: PA[31:12], plus PA[51:48] in bits 15:12 with a 64 KiB granule. */
export function lpaeAddressLo(pa: number, pack52: boolean): number {
  const lo = (pa >>> 0) & 0xffff_f000;
  return pack52 ? lo | (((Math.floor(pa / 0x1_0000_0000) >>> 16) & 0xf) << 12) : lo;
}

/** `paddr_to_iopte` high half: PA[47:32] in bits 47:32. */
export function lpaeAddressHi(pa: number): number {
  return Math.floor(pa / 0x1_0000_0000) & 0xffff;
}

/** `iopte_to_paddr`: the address in a descriptor's halves, unpacking PA[51:48] with a 64 KiB granule. */
export function lpaeDescriptorAddress(lo: number, hi: number, pack52: boolean): number {
  if (pack52)
    return (hi & 0xffff) * 0x1_0000_0000 + ((lo & 0xffff_0000) >>> 0) + ((lo >>> 12) & 0xf) * 2 ** 48;
  return (hi & 0xffff) * 0x1_0000_0000 + ((lo & 0xffff_f000) >>> 0);
}

/**
 * Linux prot bits a leaf grants, as the hardware reads it: stage 1 always allows reads, writes
 * unless AP[2], PRIV when AP[1] is clear, NOEXEC when UXN or PXN, CACHE/MMIO from AttrIndx 1/2;
 * stage 2 reads/writes from S2AP, NOEXEC when XN != 0, CACHE for Normal WB (0xF, or 0x6 with FWB),
 * MMIO for Device memory (MemAttr[3:2] == 0).
 */
export function lpaeLeafPerm(stage: LpaeStage, lo: number, hi: number, s2fwb: boolean): number {
  let perm = 0;
  if (hi & LPAE_XN_HI) perm |= IOMMU_NOEXEC;
  if (stage === 1) {
    perm |= IOMMU_READ;
    if (!(lo & LPAE_AP_RDONLY)) perm |= IOMMU_WRITE;
    if (!(lo & LPAE_AP_UNPRIV)) perm |= IOMMU_PRIV;
    const idx = (lo >>> LPAE_ATTRINDX_SHIFT) & 7;
    if (idx === LPAE_ATTRINDX.CACHE) perm |= IOMMU_CACHE;
    else if (idx === LPAE_ATTRINDX.DEV) perm |= IOMMU_MMIO;
  } else {
    if (lo & LPAE_HAP_READ) perm |= IOMMU_READ;
    if (lo & LPAE_HAP_WRITE) perm |= IOMMU_WRITE;
    const memattr = lo & (0xf << 2);
    if (memattr === LPAE_MEMATTR.OIWB || (s2fwb && memattr === LPAE_MEMATTR.FWB_WB)) perm |= IOMMU_CACHE;
    else if ((memattr & (0xc << 2)) === 0) perm |= IOMMU_MMIO;
  }
  return perm;
}
