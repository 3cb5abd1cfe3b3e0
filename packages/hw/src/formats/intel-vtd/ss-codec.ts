/**
 * Intel VT-d second-stage entry bits (`struct dma_pte`, generic_pt `fmt/vtdss.h`, VT-d spec 9.8)
 * and the radix-engine codec over them. Levels use generic_pt numbering (0 = SL-PTE table).
 *
 * @module
 */
import type { DescriptorHalves, FastDescriptorTest, RadixCodec } from "../../page-table/radix-table.js";
import { WalkFault } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";

const TWO32 = 0x1_0000_0000;
/**
 * Bytes a level-`level` entry maps, `2^(12 + 9 * level)`, for levels 0..6: a load instead of a
 * variable-exponent `**` on the walk's path (which measured several times slower).
 */
const LEVEL_SIZE = Float64Array.from({ length: 7 }, (_, level) => 2 ** (12 + 9 * level));

/** R (bit 0, `DMA_PTE_READ`). */
export const VTDSS_R = 1;
/** W (bit 1, `DMA_PTE_WRITE`). */
export const VTDSS_W = 2;
/** PS (bit 7, `DMA_PTE_LARGE_PAGE`): a 2M (level 1) or 1G (level 2) leaf. */
export const VTDSS_PS = 1 << 7;
/** SNP (bit 11, `DMA_PTE_SNP`): force snoop. */
export const VTDSS_SNP = 1 << 11;

/** Options of one table. */
export interface VtdSsCodecOptions {
  /** Set SNP in leaves of IOMMU_CACHE mappings. */
  readonly forceSnoop: boolean;
  /** Levels whose PS leaves the hardware supports (bit n = level n; from `cap_super_page_val`). */
  readonly superpageLevels: number;
}

/**
 * The VT-d second-stage codec: no present bit (an entry is present iff R|W, `dma_pte_present`);
 * tables are `next | R | W`; leaves `addr | R? | W? | PS (levels 1, 2) | SNP?`.
 */
export class VtdSsCodec implements RadixCodec {
  constructor(readonly options: VtdSsCodecOptions) {}

  isPresent(lo: number): boolean {
    return (lo & 3) !== 0;
  }

  isTable(lo: number, _hi: number, level: number): boolean {
    return level > 0 && !(level <= 2 && (lo & VTDSS_PS) !== 0);
  }

  tableAddress(lo: number, hi: number): number {
    return (hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
  }

  tableWord(lo: number, hi: number, level: number): number {
    // Present (R|W) without PS above level 0 (isTable; walkFault faults only PS entries) and address
    // bits 51:32 zero. Nothing else is checked by the walker (no address-size or reserved-bit fault).
    if (level > 0 && (lo & 3) !== 0 && (lo & VTDSS_PS) === 0 && (hi & 0xf_ffff) === 0)
      return (lo & 0xffff_f000) >>> 2;
    return -1;
  }

  fastTest(level: number, last: boolean): FastDescriptorTest {
    // A mask test cannot say "R or W": tables must have both (Linux writes next | R | W), leaves R
    // (Linux's read-only and read-write leaves; write-only ones take the full checks). Tables: R|W,
    // PS clear above level 0, address bits 51:32 zero. Leaves: R at level 0 (PS is not looked at
    // there); R | PS at level 1/2 where the hardware has that superpage. leafAddress is the raw
    // address field at every level. (The last level of a generic_pt table is always level 0.)
    const table = !last && level > 0;
    const leaf = last ? level === 0 : level <= 2 && (this.options.superpageLevels & (1 << level)) !== 0;
    const leafBits = level > 0 ? VTDSS_R | VTDSS_PS : VTDSS_R;
    return {
      tableLoMask: table ? VTDSS_R | VTDSS_W | VTDSS_PS : 0,
      tableLoValue: table ? VTDSS_R | VTDSS_W : 1,
      tableHiMask: 0xf_ffff,
      tableAddressMask: 0xffff_f000,
      leafLoMask: leaf ? leafBits : 0,
      leafLoValue: leaf ? leafBits : 1,
      leafHiMask: 0,
      outLoMask: 0xffff_f000,
      outHiMask: 0xf_ffff,
    };
  }

  leafAddress(lo: number, hi: number): number {
    return (hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
  }

  leafSize(_lo: number, _hi: number, level: number): number {
    return LEVEL_SIZE[level] ?? 2 ** (12 + 9 * level);
  }

  encodeTable(tablePa: number, _level: number, out: DescriptorHalves): void {
    out.lo = ((tablePa >>> 0) | VTDSS_R | VTDSS_W) >>> 0;
    out.hi = Math.floor(tablePa / TWO32) >>> 0;
  }

  encodeLeafTemplate(prot: number, level: number, _pgsize: number, out: DescriptorHalves): void {
    let lo = 0;
    if (prot & IOMMU_READ) lo |= VTDSS_R;
    if (prot & IOMMU_WRITE) lo |= VTDSS_W;
    if (level > 0) lo |= VTDSS_PS;
    if (this.options.forceSnoop && prot & IOMMU_CACHE) lo |= VTDSS_SNP;
    out.lo = lo;
    out.hi = 0;
  }

  leafAddressLo(pa: number): number {
    return pa >>> 0;
  }

  leafAddressHi(pa: number): number {
    return Math.floor(pa / TWO32) >>> 0;
  }

  splitTemplate(): void {
    throw new Error("intel-vtd-ss never splits a leaf: partial unmaps remove the whole page");
  }

  leafPerm(lo: number): number {
    let perm = 0;
    if (lo & VTDSS_R) perm |= IOMMU_READ;
    if (lo & VTDSS_W) perm |= IOMMU_WRITE;
    if (lo & VTDSS_SNP) perm |= IOMMU_CACHE;
    return perm;
  }

  walkFault(lo: number, _hi: number, level: number): number {
    // PS is reserved above level 2 and where the hardware lacks that superpage size.
    if (level > 0 && lo & VTDSS_PS && (level > 2 || !(this.options.superpageLevels & (1 << level)))) {
      return WalkFault.TRANSLATION;
    }
    return 0;
  }
}
