/**
 * The ARM LPAE descriptor knowledge the radix engine needs ({@link RadixCodec}), for both stages and
 * every granule. One class with per-table fields keeps the engine's call sites monomorphic.
 */
import type { DescriptorHalves, RadixCodec } from "../../page-table/radix-table.js";
import { WalkFault } from "../../page-table/types.js";
import {
  LPAE_AF,
  LPAE_ATTR_HI_MASK_HI,
  LPAE_ATTR_LO_MASK,
  LPAE_NSTABLE_HI,
  LPAE_TYPE_BLOCK,
  LPAE_TYPE_PAGE,
  LPAE_TYPE_TABLE,
  lpaeAddressHi,
  lpaeAddressLo,
  lpaeDescriptorAddress,
  lpaeLeafAttributes,
  lpaeLeafPerm,
} from "./descriptor.js";
import type { LpaeGeometry, LpaeStage } from "./geometry.js";

/** Quirks the LPAE codec reads. */
export interface LpaeCodecQuirks {
  readonly armNs: boolean;
  readonly armS2Fwb: boolean;
  readonly armHd: boolean;
}

/**
 * LPAE descriptors as the engine sees them: valid = bit 0, table = type 0b11 at levels 0..2, any
 * other valid entry a leaf (`iopte_leaf`); addresses through `paddr_to_iopte`/`iopte_to_paddr`.
 */
export class LpaeCodec implements RadixCodec {
  readonly stage: LpaeStage;
  private readonly pack52: boolean;
  private readonly levelSize: Float64Array;
  private readonly blockLevelMask: number;
  private readonly outputLimit: number;
  private readonly quirks: LpaeCodecQuirks;

  constructor(geometry: LpaeGeometry, quirks: LpaeCodecQuirks) {
    this.stage = geometry.stage;
    this.pack52 = geometry.granule === 65536;
    this.levelSize = Float64Array.from(geometry.levelShifts, (s) => 2 ** s);
    this.blockLevelMask = geometry.blockLevels.reduce((m, l) => m | (1 << l), 0);
    this.outputLimit = 2 ** geometry.oas;
    this.quirks = quirks;
  }

  isPresent(lo: number, _hi: number, _level: number): boolean {
    return (lo & 1) !== 0;
  }

  isTable(lo: number, _hi: number, level: number): boolean {
    return level < 3 && (lo & 3) === LPAE_TYPE_TABLE;
  }

  tableAddress(lo: number, hi: number, _level: number): number {
    return lpaeDescriptorAddress(lo, hi, this.pack52);
  }

  leafAddress(lo: number, hi: number, _level: number): number {
    return lpaeDescriptorAddress(lo, hi, this.pack52);
  }

  leafSize(_lo: number, _hi: number, level: number): number {
    return this.levelSize[level]!;
  }

  encodeTable(tablePa: number, _level: number, out: DescriptorHalves): void {
    out.lo = (lpaeAddressLo(tablePa, this.pack52) | LPAE_TYPE_TABLE) >>> 0;
    out.hi = (lpaeAddressHi(tablePa) | (this.quirks.armNs ? LPAE_NSTABLE_HI : 0)) >>> 0;
  }

  encodeLeafTemplate(prot: number, level: number, _pgsize: number, out: DescriptorHalves): void {
    lpaeLeafAttributes(this.stage, prot, level, this.quirks, out);
  }

  leafAddressLo(pa: number, _pgsize: number): number {
    return lpaeAddressLo(pa, this.pack52);
  }

  leafAddressHi(pa: number, _pgsize: number): number {
    return lpaeAddressHi(pa);
  }

  splitTemplate(lo: number, hi: number, _fromLevel: number, toLevel: number, out: DescriptorHalves): void {
    // Pre-6.14 `iopte_prot`: bits 11:2 and 54:53 of the block, then the new level's leaf type.
    out.lo = ((lo & LPAE_ATTR_LO_MASK) | (toLevel === 3 ? LPAE_TYPE_PAGE : LPAE_TYPE_BLOCK)) >>> 0;
    out.hi = (hi & LPAE_ATTR_HI_MASK_HI) >>> 0;
  }

  leafPerm(lo: number, hi: number, _level: number): number {
    return lpaeLeafPerm(this.stage, lo, hi, this.quirks.armS2Fwb);
  }

  walkFault(lo: number, hi: number, level: number, last: boolean): number {
    const type = lo & 3;
    if (last) {
      // Level 3 type 0b01 is reserved: a translation fault.
      if (type !== LPAE_TYPE_PAGE) return WalkFault.TRANSLATION;
    } else if (type === LPAE_TYPE_BLOCK && !((this.blockLevelMask >> level) & 1)) {
      // A block where the granule allows none (4K level 0, 16K level 1, 64K level 1 below 52 bits).
      return WalkFault.TRANSLATION;
    }
    if (lpaeDescriptorAddress(lo, hi, this.pack52) >= this.outputLimit) return WalkFault.ADDRESS_SIZE;
    if ((type !== LPAE_TYPE_TABLE || last) && !(lo & LPAE_AF)) return WalkFault.ACCESS_FLAG;
    return WalkFault.NONE;
  }
}
