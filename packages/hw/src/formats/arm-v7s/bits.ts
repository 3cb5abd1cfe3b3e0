/**
 * ARMv7 short-descriptor bit layout and Linux's prot <-> descriptor rules (io-pgtable-arm-v7s):
 * the only place that knows which bit means what. Descriptors are unsigned 32-bit numbers.
 *
 * Level 1 entries cover 1 MiB (bits [31:20] of the IOVA), level 2 entries 4 KiB (bits [19:12]).
 * The 8-bit attribute block (AF/AP0, AP1, TEX[2:0], AP2, S, nG) sits at bits [17:10] of a level-1
 * section and bits [11:4] of a level-2 small page; large pages move TEX and XN (ARM ARM B3.5.1).
 *
 * @module
 */
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";

/** 1 MiB: what one level-1 entry maps. */
export const V7S_SECTION_SIZE = 0x10_0000;
/** 4 KiB: what one level-2 entry maps. */
export const V7S_PAGE_SIZE = 0x1000;
/** A large page or supersection is one entry replicated over this many consecutive slots. */
export const V7S_CONT_ENTRIES = 16;
/** Entries in a level-2 table. */
export const V7S_L2_ENTRIES = 256;
/** Bytes of a level-2 table (1 KiB, carved from a page by the allocator as Linux's kmem_cache does). */
export const V7S_L2_TABLE_BYTES = 1024;
/** Every page size the format can encode: 4K | 64K | 1M | 16M. */
export const V7S_PGSIZES = 0x1000 | 0x1_0000 | 0x10_0000 | 0x100_0000;

/** Type field [1:0] of a level-1 table descriptor. */
export const V7S_TYPE_TABLE = 0x1;
/** Type bit of a section (level 1) or small page (level 2). */
export const V7S_TYPE_PAGE = 0x2;
/** Type field [1:0] of a level-2 large page. */
export const V7S_TYPE_LARGE_PAGE = 0x1;

/** Bufferable. */
export const V7S_B = 1 << 2;
/** Cacheable. */
export const V7S_C = 1 << 3;
/** NS in a level-1 table descriptor (`ARM_V7S_ATTR_NS_TABLE`). */
export const V7S_NS_TABLE = 1 << 3;
/** NS in a section / supersection (`ARM_V7S_ATTR_NS_SECTION`). */
export const V7S_NS_SECTION = 1 << 19;
/** Supersection marker in a level-1 block (`ARM_V7S_CONT_SECTION`). */
export const V7S_SUPERSECTION = 1 << 18;
/** XN of a large page. */
export const V7S_LARGE_XN = 1 << 15;
/** MediaTek extension: PA bit 32 in descriptor bit 9. */
export const V7S_MTK_PA32 = 1 << 9;
/** MediaTek extension: PA bit 33 in descriptor bit 4. */
export const V7S_MTK_PA33 = 1 << 4;
/** MediaTek extension: PA bit 34 in descriptor bit 5. */
export const V7S_MTK_PA34 = 1 << 5;

/** Attribute-block bits, relative to the block (shifted into place by {@link v7sAttrShift}). */
export const V7S_ATTR_AF = 1 << 0;
/** AP[1]: unprivileged access allowed. */
export const V7S_ATTR_UNPRIV = 1 << 1;
/** TEX[2:0] at [4:2] of the attribute block. */
export const V7S_ATTR_TEX_SHIFT = 2;
/** AP[2]: read-only. */
export const V7S_ATTR_RDONLY = 1 << 5;
/** Shareable. */
export const V7S_ATTR_S = 1 << 6;
/** Not global. */
export const V7S_ATTR_NG = 1 << 7;

/** Where the attribute block starts in a descriptor of `level` (1 -> 10, 2 -> 4). */
export function v7sAttrShift(level: number): number {
  return 16 - 6 * level;
}

/** XN bit of a section (bit 4) or small page (bit 0). */
export function v7sXn(level: number): number {
  return 1 << (4 * (2 - level));
}

/** Any non-zero type field is a valid entry (`ARM_V7S_PTE_IS_VALID`). */
export function v7sIsValid(pte: number): boolean {
  return (pte & 3) !== 0;
}

/** A level-1 table descriptor (`ARM_V7S_PTE_IS_TABLE`). */
export function v7sIsTable(pte: number, level: number): boolean {
  return level === 1 && (pte & 3) === V7S_TYPE_TABLE;
}

/** A supersection (level 1) or large page (level 2): one of 16 replicated entries. */
export function v7sIsCont(pte: number, level: number): boolean {
  if (level === 1) return (pte & 3) !== V7S_TYPE_TABLE && (pte & V7S_SUPERSECTION) !== 0;
  return (pte & V7S_TYPE_PAGE) === 0;
}

/** Quirks the encoder reads. */
export interface V7sEncodeOptions {
  /** `IO_PGTABLE_QUIRK_NO_PERMS`: no AF/AP/XN bits. */
  noPerms: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_NS`: NS in sections and NSTable in table descriptors. */
  armNs: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_MTK_EXT`: PA bits 32..34 in descriptor bits 9, 4, 5. */
  mtkExt: boolean;
}

/**
 * Attribute and type bits of a section (level 1) or small page (level 2) for Linux prot flags,
 * without the output address: Linux's `arm_v7s_prot_to_pte`. Memory type goes through TEX remap
 * (TEX[0]:C:B is the index): MMIO -> index 1 (device), CACHE -> 7 (normal WBWA), else 4 (normal NC).
 */
export function v7sProtToPte(prot: number, level: number, options: V7sEncodeOptions): number {
  const ap = !options.noPerms;
  let attr = V7S_ATTR_NG | V7S_ATTR_S;
  if (!(prot & IOMMU_MMIO)) attr |= 1 << V7S_ATTR_TEX_SHIFT;
  if (ap) {
    attr |= V7S_ATTR_AF;
    if (!(prot & IOMMU_PRIV)) attr |= V7S_ATTR_UNPRIV;
    if (!(prot & IOMMU_WRITE)) attr |= V7S_ATTR_RDONLY;
  }
  let pte = attr << v7sAttrShift(level);
  // Linux ties XN to the permission model: with NO_PERMS the bit is left clear.
  if (prot & IOMMU_NOEXEC && ap) pte |= v7sXn(level);
  if (prot & IOMMU_MMIO) pte |= V7S_B;
  else if (prot & IOMMU_CACHE) pte |= V7S_B | V7S_C;
  pte |= V7S_TYPE_PAGE;
  if (level === 1 && options.armNs) pte |= V7S_NS_SECTION;
  return pte >>> 0;
}

/**
 * Turns a section into a supersection, or a small page into a large page (`arm_v7s_pte_to_cont`):
 * large pages keep XN at bit 15 and TEX at [14:12] because bits [15:12] of a 64 KiB page's base
 * are free, while bit 0 and [8:6] are not where the small-page layout put them.
 */
export function v7sPteToCont(pte: number, level: number): number {
  if (level === 1) return (pte | V7S_SUPERSECTION) >>> 0;
  const xn = pte & v7sXn(2);
  const tex = pte & (7 << 6);
  pte ^= xn | tex | V7S_TYPE_PAGE;
  return (pte | (xn << 15) | (tex << 6) | V7S_TYPE_LARGE_PAGE) >>> 0;
}

/** Inverse of {@link v7sPteToCont} (`arm_v7s_cont_to_pte`, used by the pre-6.14 split). */
export function v7sContToPte(pte: number, level: number): number {
  if (level === 1) return (pte & ~V7S_SUPERSECTION) >>> 0;
  const xn = pte & V7S_LARGE_XN;
  const tex = pte & (7 << 12);
  pte ^= xn | tex | V7S_TYPE_LARGE_PAGE;
  return (pte | (xn >>> 15) | (tex >>> 6) | V7S_TYPE_PAGE) >>> 0;
}

/**
 * Linux prot flags of a leaf, as `arm_v7s_pte_to_prot` reads them back: READ always, WRITE unless
 * AP[2], PRIV unless AP[1], MMIO when TEX is 0, else CACHE when C, NOEXEC when XN. Large pages are
 * first converted to the small-page layout.
 */
export function v7sPteToProt(pte: number, level: number): number {
  if (level === 2 && v7sIsCont(pte, 2)) pte = v7sContToPte(pte, 2);
  const attr = pte >>> v7sAttrShift(level);
  let prot = IOMMU_READ;
  if (!(attr & V7S_ATTR_RDONLY)) prot |= IOMMU_WRITE;
  if (!(attr & V7S_ATTR_UNPRIV)) prot |= IOMMU_PRIV;
  if ((attr & (7 << V7S_ATTR_TEX_SHIFT)) === 0) prot |= IOMMU_MMIO;
  else if (pte & V7S_C) prot |= IOMMU_CACHE;
  if (pte & v7sXn(level)) prot |= IOMMU_NOEXEC;
  return prot;
}

/** Low 32 bits of a leaf's output-address field plus the MediaTek PA bits (`paddr_to_iopte`). */
export function v7sPaddrToPte(paddr: number, level: number, mtkExt: boolean): number {
  const mask = level === 1 ? 0xfff0_0000 : 0xffff_f000;
  let pte = ((paddr % 0x1_0000_0000) & mask) >>> 0;
  if (mtkExt && paddr >= 0x1_0000_0000) {
    const high = Math.floor(paddr / 0x1_0000_0000);
    if (high & 1) pte |= V7S_MTK_PA32;
    if (high & 2) pte |= V7S_MTK_PA33;
    if (high & 4) pte |= V7S_MTK_PA34;
  }
  return pte >>> 0;
}

/** Output (or next-table) address of a descriptor at `level` (`iopte_to_paddr`). */
export function v7sPteToPaddr(pte: number, level: number, mtkExt: boolean): number {
  let mask: number;
  if (v7sIsTable(pte, level)) mask = 0xffff_fc00;
  else if (v7sIsCont(pte, level)) mask = level === 1 ? 0xff00_0000 : 0xffff_0000;
  else mask = level === 1 ? 0xfff0_0000 : 0xffff_f000;
  let pa = (pte & mask) >>> 0;
  if (mtkExt) {
    if (pte & V7S_MTK_PA32) pa += 0x1_0000_0000;
    if (pte & V7S_MTK_PA33) pa += 0x2_0000_0000;
    if (pte & V7S_MTK_PA34) pa += 0x4_0000_0000;
  }
  return pa;
}

/** Bytes one descriptor at `level` maps (16 times the entry size for large pages / supersections). */
export function v7sLeafSize(pte: number, level: number): number {
  const base = level === 1 ? V7S_SECTION_SIZE : V7S_PAGE_SIZE;
  return v7sIsCont(pte, level) ? base * V7S_CONT_ENTRIES : base;
}
