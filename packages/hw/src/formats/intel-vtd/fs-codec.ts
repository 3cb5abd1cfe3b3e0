/**
 * x86-64 paging-structure entry bits as VT-d first-stage (and AMD v2) translation uses them
 * (generic_pt `fmt/x86_64.h`, VT-d spec 9.7, SDM 4.5), and the radix-engine codec over them.
 * Levels use generic_pt numbering (0 = PTE table, 1 = PD, 2 = PDPT, 3 = PML4, 4 = PML5).
 *
 * @module
 */
import type { DescriptorHalves, FastDescriptorTest, RadixCodec } from "../../page-table/radix-table.js";
import { WalkFault } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";

const TWO32 = 0x1_0000_0000;
/**
 * Bytes a level-`level` entry maps, `2^(12 + 9 * level)`, for levels 0..6: a load instead of a
 * variable-exponent `**` on the walk's path (which measured several times slower).
 */
const LEVEL_SIZE = Float64Array.from({ length: 7 }, (_, level) => 2 ** (12 + 9 * level));

/** P (bit 0). */
export const X86_P = 1;
/** R/W (bit 1). */
export const X86_RW = 2;
/** U/S (bit 2). */
export const X86_US = 4;
/** PCD (bit 4). */
export const X86_PCD = 1 << 4;
/** A (bit 5). */
export const X86_A = 1 << 5;
/** D (bit 6). */
export const X86_D = 1 << 6;
/** PS (bit 7) in PDEs and PDPTEs. */
export const X86_PS = 1 << 7;
/** XD (bit 63) in the high word. */
export const X86_HI_XD = 0x8000_0000;
/** Table entries as Linux writes them: P | RW | U | A (0x27). */
export const X86_TABLE_BITS = X86_P | X86_RW | X86_US | X86_A;

/** Options of one table. */
export interface X86FsCodecOptions {
  /** Levels whose PS leaves the hardware supports (bit 1: 2M; bit 2: 1G, VT-d CAP `fl1gp`). */
  readonly superpageLevels: number;
}

/**
 * The first-stage codec: leaves `P | U | A | (WRITE ? RW | D : 0) | (level > 0 ? PS : 0) | addr`
 * (A and D preset so the hardware never writes them back; no XD: Linux's x86_64 format never sets
 * it), tables 0x27. The hardware view: P grants read, RW write, XD forbids fetch, U/S clear means
 * supervisor-only (PRIV); PCD marks uncached (MMIO) memory, anything else is write-back (CACHE).
 */
export class X86FsCodec implements RadixCodec {
  constructor(readonly options: X86FsCodecOptions) {}

  isPresent(lo: number): boolean {
    return (lo & X86_P) !== 0;
  }

  isTable(lo: number, _hi: number, level: number): boolean {
    return level > 0 && !(level <= 2 && (lo & X86_PS) !== 0);
  }

  tableAddress(lo: number, hi: number): number {
    return (hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
  }

  tableWord(lo: number, hi: number, level: number): number {
    // P without PS above level 0 (isTable; walkFault faults only PS entries) and address bits 51:32
    // zero. RW/U/A/XD and the other bits are not checked by the walker.
    if (level > 0 && (lo & (X86_P | X86_PS)) === X86_P && (hi & 0xf_ffff) === 0)
      return (lo & 0xffff_f000) >>> 2;
    return -1;
  }

  fastTest(level: number, last: boolean): FastDescriptorTest {
    // Tables: P, PS clear above level 0, address bits 51:32 zero. Leaves: P at level 0 (bit 7 is
    // PAT there); P | PS at level 1/2 where the hardware has that superpage, with the address bits
    // below the page size zero (bit 12 is PAT, and leafAddress drops them, while the output masks
    // are the same at every level). (The last level of a generic_pt table is always level 0.)
    const table = !last && level > 0;
    const leaf = last ? level === 0 : level <= 2 && (this.options.superpageLevels & (1 << level)) !== 0;
    // 0 at level 0; 0x1ff000 (2M) or 0x3fff_f000 (1G) for the superpage levels.
    const below = level > 0 && level <= 2 ? 2 ** (12 + 9 * level) - 4096 : 0;
    const leafBits = level > 0 ? X86_P | X86_PS : X86_P;
    return {
      tableLoMask: table ? X86_P | X86_PS : 0,
      tableLoValue: table ? X86_P : 1,
      tableHiMask: 0xf_ffff,
      tableAddressMask: 0xffff_f000,
      leafLoMask: leaf ? leafBits | below : 0,
      leafLoValue: leaf ? leafBits : 1,
      leafHiMask: 0,
      outLoMask: 0xffff_f000,
      outHiMask: 0xf_ffff,
    };
  }

  leafAddress(lo: number, hi: number, level: number): number {
    // In PS entries bit 12 is PAT; the address starts at the page size.
    const pa = (hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
    return level > 0 ? pa - (pa % (LEVEL_SIZE[level] ?? 2 ** (12 + 9 * level))) : pa;
  }

  leafSize(_lo: number, _hi: number, level: number): number {
    return LEVEL_SIZE[level] ?? 2 ** (12 + 9 * level);
  }

  encodeTable(tablePa: number, _level: number, out: DescriptorHalves): void {
    out.lo = ((tablePa >>> 0) | X86_TABLE_BITS) >>> 0;
    out.hi = Math.floor(tablePa / TWO32) >>> 0;
  }

  encodeLeafTemplate(prot: number, level: number, _pgsize: number, out: DescriptorHalves): void {
    let lo = X86_P | X86_US | X86_A;
    if (prot & IOMMU_WRITE) lo |= X86_RW | X86_D;
    if (level > 0) lo |= X86_PS;
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
    throw new Error("intel-vtd-fs never splits a leaf: partial unmaps remove the whole page");
  }

  leafPerm(lo: number, hi: number): number {
    let perm = IOMMU_READ;
    if (lo & X86_RW) perm |= IOMMU_WRITE;
    if (!(lo & X86_US)) perm |= IOMMU_PRIV;
    if (hi & X86_HI_XD) perm |= IOMMU_NOEXEC;
    perm |= lo & X86_PCD ? IOMMU_MMIO : IOMMU_CACHE;
    return perm;
  }

  walkFault(lo: number, _hi: number, level: number): number {
    if (level > 0 && lo & X86_PS && (level > 2 || !(this.options.superpageLevels & (1 << level)))) {
      return WalkFault.TRANSLATION;
    }
    return 0;
  }
}
