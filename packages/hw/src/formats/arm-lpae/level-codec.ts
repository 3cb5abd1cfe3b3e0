/**
 * The ARM LPAE descriptor knowledge the radix engine needs ({@link RadixCodec}), for both stages and
 * every granule. One class with per-table fields keeps the engine's call sites monomorphic.
 */
import type { DescriptorHalves, FastDescriptorTest, RadixCodec } from "../../page-table/radix-table.js";
import { WalkFault } from "../../page-table/types.js";
import {
  LPAE_AF,
  LPAE_ATTR_HI_MASK_HI,
  LPAE_ATTR_LO_MASK,
  LPAE_NSTABLE_HI,
  LPAE_TYPE_BLOCK,
  LPAE_TYPE_PAGE,
  LPAE_TYPE_TABLE,
  LPAE_XN_HI,
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

// The walk's hot methods below use these module-local copies (numeric literals): an imported
// binding costs V8 a load and a TDZ check at every use, even inside optimised code.
/** {@link LPAE_TYPE_TABLE} / {@link LPAE_TYPE_PAGE}. */
const TYPE_TABLE = 3;
/** {@link LPAE_TYPE_BLOCK}. */
const TYPE_BLOCK = 1;
/** {@link LPAE_AF}. */
const AF = 1 << 10;
/** {@link LPAE_XN_HI}. */
const XN_HI = 3 << 21;
/** `WalkFault.NONE`, `TRANSLATION`, `ADDRESS_SIZE`, `ACCESS_FLAG`. */
const F_NONE = 0;
const F_TRANSLATION = 1;
const F_ADDRESS_SIZE = 3;
const F_ACCESS_FLAG = 4;
if (
  TYPE_TABLE !== LPAE_TYPE_TABLE ||
  TYPE_TABLE !== LPAE_TYPE_PAGE ||
  TYPE_BLOCK !== LPAE_TYPE_BLOCK ||
  AF !== LPAE_AF ||
  XN_HI !== LPAE_XN_HI ||
  F_NONE !== WalkFault.NONE ||
  F_TRANSLATION !== WalkFault.TRANSLATION ||
  F_ADDRESS_SIZE !== WalkFault.ADDRESS_SIZE ||
  F_ACCESS_FLAG !== WalkFault.ACCESS_FLAG
) {
  throw new Error("arm-lpae level codec: local constants out of date");
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
  /** 2^(oas - 32): a descriptor's address is beyond oas iff its bits 51:32 reach this. */
  private readonly outputLimitHi: number;
  private readonly quirks: LpaeCodecQuirks;
  /**
   * `lpaeLeafPerm` for every value of the bits it reads (lo[7:2], and whether hi has an XN bit),
   * indexed by `((lo >>> 2) & 63) | (xn ? 64 : 0)`: one load on the walk's path instead of a dozen
   * branches.
   */
  private readonly permByAttr: Uint8Array;

  constructor(geometry: LpaeGeometry, quirks: LpaeCodecQuirks) {
    this.stage = geometry.stage;
    this.pack52 = geometry.granule === 65536;
    this.levelSize = Float64Array.from(geometry.levelShifts, (s) => 2 ** s);
    this.blockLevelMask = geometry.blockLevels.reduce((m, l) => m | (1 << l), 0);
    this.outputLimitHi = 2 ** (geometry.oas - 32);
    this.quirks = quirks;
    this.permByAttr = new Uint8Array(128);
    for (let i = 0; i < 128; i++) {
      const lo = (i & 63) << 2;
      const hi = i & 64 ? LPAE_XN_HI : 0;
      this.permByAttr[i] = lpaeLeafPerm(this.stage, lo, hi, quirks.armS2Fwb);
    }
  }

  isPresent(lo: number, _hi: number, _level: number): boolean {
    return (lo & 1) !== 0;
  }

  isTable(lo: number, _hi: number, level: number): boolean {
    return level < 3 && (lo & 3) === TYPE_TABLE;
  }

  tableAddress(lo: number, hi: number, _level: number): number {
    return lpaeDescriptorAddress(lo, hi, this.pack52);
  }

  tableWord(lo: number, hi: number, level: number): number {
    // Type 0b11 below level 3 with PA[63:32] zero (and PA[51:48] zero when packed): a table the
    // walker follows without a fault (oas is at least 32 bits, so no address-size fault).
    if (level < 3 && (lo & 3) === TYPE_TABLE && (hi & 0xffff) === 0 && (!this.pack52 || (lo & 0xf000) === 0))
      return (lo & 0xffff_f000) >>> 2;
    return -1;
  }

  fastTest(level: number, last: boolean): FastDescriptorTest {
    // Tables: type 0b11 with PA[47:32] zero (and PA[51:48] in bits 15:12 when packed): no fault,
    // below 4 GiB. Leaves: a page (last level) or a block where the granule has blocks, with AF,
    // and no address bit at or above oas (bits 15:12 zero when packed, as for tables).
    const packBits = this.pack52 ? 0xf000 : 0;
    const block = !last && ((this.blockLevelMask >> level) & 1) !== 0;
    const oasHiBits = Math.log2(this.outputLimitHi);
    return {
      tableLoMask: last ? 0 : 3 | packBits,
      tableLoValue: last ? 1 : TYPE_TABLE,
      tableHiMask: 0xffff,
      tableAddressMask: 0xffff_f000,
      leafLoMask: last || block ? 3 | AF | packBits : 0,
      leafLoValue: last ? TYPE_TABLE | AF : block ? TYPE_BLOCK | AF : 1,
      leafHiMask: oasHiBits >= 16 ? 0 : 0xffff & ~(2 ** oasHiBits - 1),
      outLoMask: 0xffff_f000,
      outHiMask: 0xffff,
    };
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
    return this.permByAttr[((lo >>> 2) & 63) | ((hi & XN_HI) !== 0 ? 64 : 0)]!;
  }

  walkFault(lo: number, hi: number, level: number, last: boolean): number {
    const type = lo & 3;
    if (last) {
      // Level 3 type 0b01 is reserved: a translation fault.
      if (type !== TYPE_TABLE) return F_TRANSLATION;
    } else if (type === TYPE_BLOCK && !((this.blockLevelMask >> level) & 1)) {
      // A block where the granule allows none (4K level 0, 16K level 1, 64K level 1 below 52 bits).
      return F_TRANSLATION;
    }
    // Address bits 51:32 (PA[51:48] from bits 15:12 when packed) against 2^(oas - 32): integer
    // only, the same answer as comparing the whole address with 2^oas (oas is at least 32).
    const addrHi = this.pack52 ? (((lo >>> 12) & 0xf) << 16) | (hi & 0xffff) : hi & 0xffff;
    if (addrHi >= this.outputLimitHi) return F_ADDRESS_SIZE;
    if ((type !== TYPE_TABLE || last) && !(lo & AF)) return F_ACCESS_FLAG;
    return F_NONE;
  }
}
