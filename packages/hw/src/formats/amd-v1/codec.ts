/**
 * AMD IOMMU v1 ("host") page-table entry bits and the radix-engine codec over them (generic_pt
 * `fmt/amdv1.h`, AMD IOMMU spec "I/O Page Tables for Host Translations"). Levels use generic_pt
 * numbering: level 0 is the 4 KiB leaf table; the AMD "level"/NextLevel of a table is its generic
 * level + 1.
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

/** PR (bit 0): present. */
export const AMDV1_PR = 1;
/** A (bit 5): accessed. */
export const AMDV1_A = 1 << 5;
/** D (bit 6): dirty (`IOMMU_PTE_HD`). */
export const AMDV1_D = 1 << 6;
/** NextLevel field shift (bits 11:9). */
export const AMDV1_NL_SHIFT = 9;
/** NextLevel 7: a leaf whose size is encoded in its address bits. */
export const AMDV1_NL_SIZED = 7;
/** U (bit 59) in the high word. */
export const AMDV1_HI_U = 1 << 27;
/** FC (bit 60) in the high word: force coherent. */
export const AMDV1_HI_FC = 1 << 28;
/** IR (bit 61) in the high word: read permission. */
export const AMDV1_HI_IR = 1 << 29;
/** IW (bit 62) in the high word: write permission. */
export const AMDV1_HI_IW = 1 << 30;
/** Bits 51:32 of the address in the high word. */
const HI_ADDR = 0xf_ffff;

/** NextLevel field of a descriptor's low word. */
export function amdv1NextLevel(lo: number): number {
  return (lo >>> AMDV1_NL_SHIFT) & 7;
}

/** The 4 KiB-aligned address field (bits 51:12). */
export function amdv1Address(lo: number, hi: number): number {
  return (hi & HI_ADDR) * TWO32 + ((lo & 0xffff_f000) >>> 0);
}

function trailingZeros(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * Size of a NextLevel=7 leaf from its address bits (`PTE_PAGE_SIZE`): n ones from bit 12 upward
 * followed by a zero encode `2^(12 + n + 1)` bytes.
 */
export function amdv1EncodedSize(lo: number, hi: number): number {
  const low = ~(lo >>> 12) & 0xf_ffff;
  if (low !== 0) return 2 ** (13 + trailingZeros(low));
  const high = ~hi & HI_ADDR;
  return 2 ** (33 + (high !== 0 ? trailingZeros(high) : 20));
}

/** Address bits that encode a `size`-byte NextLevel=7 leaf: bits [lg2 - 2 : 12] set. */
export function amdv1SizeBits(size: number): number {
  return size / 2 - 4096;
}

/** True when `size` is a level's natural entry size (4K, 2M, 1G, 512G, 256T, 128P). */
export function amdv1IsNatural(size: number): boolean {
  const bit = Math.round(Math.log2(size));
  return (bit - 12) % 9 === 0;
}

/** Descriptor encoding choices of one table. */
export interface AmdV1CodecOptions {
  /** Set FC in leaves (`AMDV1_FORCE_COHERENCE`, what Linux does). */
  readonly forceCoherent: boolean;
  /** The deepest level that cannot hold leaves (the top of a 6-level table: generic level 5). */
  readonly noLeafLevel: number;
}

/**
 * The AMD v1 codec. Directories are `PR | NextLevel=<level> | addr | IR | IW` (`amdv1pt_install_table`);
 * leaves `PR | NextLevel (0 natural, 7 sized) | addr | FC | IR? | IW?`. The hardware view ANDs no
 * directory permissions (Linux always grants IR|IW there) and does not model level skipping: a
 * directory whose NextLevel is not its own level minus one (in AMD numbering) faults.
 */
export class AmdV1Codec implements RadixCodec {
  private lastSize = 0;
  private lastBits = 0;

  constructor(readonly options: AmdV1CodecOptions) {}

  isPresent(lo: number): boolean {
    return (lo & AMDV1_PR) !== 0;
  }

  isTable(lo: number, _hi: number, level: number): boolean {
    const nl = amdv1NextLevel(lo);
    return level > 0 && nl >= 1 && nl <= 6;
  }

  tableAddress(lo: number, hi: number): number {
    return amdv1Address(lo, hi);
  }

  tableWord(lo: number, hi: number, level: number): number {
    // PR with NextLevel = level (1..6: isTable, and walkFault's only directory check) and address
    // bits 51:32 zero. Bits 11:9 and 0 of lo against `level << 9 | 1`; IR/IW/FC/U are not looked at.
    if (level > 0 && level < 7 && (lo & 0xe01) === ((level << 9) | 1) && (hi & 0xf_ffff) === 0)
      return (lo & 0xffff_f000) >>> 2;
    return -1;
  }

  fastTest(level: number, last: boolean): FastDescriptorTest {
    // Tables: PR, NextLevel = level (as tableWord), address bits 51:32 zero. Leaves: PR with
    // NextLevel 0 (a natural-size leaf at its raw address; NextLevel 7 sized leaves take the full
    // checks) where the level may hold leaves; walkFault reads no other bit of a leaf.
    const table = !last && level > 0 && level < 7;
    const leaf = level < this.options.noLeafLevel;
    return {
      tableLoMask: table ? 0xe01 : 0,
      tableLoValue: table ? (level << AMDV1_NL_SHIFT) | AMDV1_PR : 1,
      tableHiMask: HI_ADDR,
      tableAddressMask: 0xffff_f000,
      leafLoMask: leaf ? 0xe01 : 0,
      leafLoValue: AMDV1_PR,
      leafHiMask: 0,
      outLoMask: 0xffff_f000,
      outHiMask: HI_ADDR,
    };
  }

  leafAddress(lo: number, hi: number): number {
    const pa = amdv1Address(lo, hi);
    if (amdv1NextLevel(lo) !== AMDV1_NL_SIZED) return pa;
    const size = amdv1EncodedSize(lo, hi);
    return pa - (pa % size);
  }

  leafSize(lo: number, hi: number, level: number): number {
    return amdv1NextLevel(lo) === AMDV1_NL_SIZED
      ? amdv1EncodedSize(lo, hi)
      : (LEVEL_SIZE[level] ?? 2 ** (12 + 9 * level));
  }

  encodeTable(tablePa: number, level: number, out: DescriptorHalves): void {
    out.lo = ((tablePa >>> 0) | (level << AMDV1_NL_SHIFT) | AMDV1_PR) >>> 0;
    out.hi = (Math.floor(tablePa / TWO32) | AMDV1_HI_IR | AMDV1_HI_IW) >>> 0;
  }

  encodeLeafTemplate(prot: number, level: number, pgsize: number, out: DescriptorHalves): void {
    const nl = pgsize === 2 ** (12 + 9 * level) ? 0 : AMDV1_NL_SIZED;
    out.lo = (AMDV1_PR | (nl << AMDV1_NL_SHIFT)) >>> 0;
    let hi = this.options.forceCoherent ? AMDV1_HI_FC : 0;
    if (prot & IOMMU_READ) hi |= AMDV1_HI_IR;
    if (prot & IOMMU_WRITE) hi |= AMDV1_HI_IW;
    out.hi = hi >>> 0;
  }

  private sizeBits(pgsize: number): number {
    if (pgsize !== this.lastSize) {
      this.lastSize = pgsize;
      this.lastBits = amdv1IsNatural(pgsize) ? 0 : amdv1SizeBits(pgsize);
    }
    return this.lastBits;
  }

  leafAddressLo(pa: number, pgsize: number): number {
    // pa is pgsize-aligned, so adding the size bits sets them.
    return (pa + this.sizeBits(pgsize)) >>> 0;
  }

  leafAddressHi(pa: number, pgsize: number): number {
    return Math.floor((pa + this.sizeBits(pgsize)) / TWO32) >>> 0;
  }

  splitTemplate(): void {
    throw new Error("amd-v1 never splits a leaf: partial unmaps remove the whole page");
  }

  leafPerm(_lo: number, hi: number): number {
    let perm = 0;
    if (hi & AMDV1_HI_IR) perm |= IOMMU_READ;
    if (hi & AMDV1_HI_IW) perm |= IOMMU_WRITE;
    if (hi & AMDV1_HI_FC) perm |= IOMMU_CACHE;
    return perm;
  }

  walkFault(lo: number, hi: number, level: number): number {
    const nl = amdv1NextLevel(lo);
    if (nl === 0) return level >= this.options.noLeafLevel ? WalkFault.TRANSLATION : 0;
    if (nl === AMDV1_NL_SIZED) {
      // A sized leaf must be larger than one entry and fit in this level's table.
      const size = amdv1EncodedSize(lo, hi);
      const entry = 2 ** (12 + 9 * level);
      return size > entry && size < entry * 512 && level < this.options.noLeafLevel
        ? 0
        : WalkFault.TRANSLATION;
    }
    return level > 0 && nl === level ? 0 : WalkFault.TRANSLATION;
  }
}
