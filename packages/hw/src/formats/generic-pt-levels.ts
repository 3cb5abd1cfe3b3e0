/**
 * The table shape shared by the x86 formats of generic_pt (AMD v1, VT-d second stage, x86-64):
 * 4 KiB tables of 512 eight-byte entries, level `L` entries mapping `2^(12 + 9L)` bytes, level 0 the
 * 4 KiB leaf table (generic_pt numbering, `PT_GRANULE_LG2SZ` 12, `PT_TABLEMEM_LG2SZ` 12).
 *
 * @module
 */
import { HwError } from "../errors.js";
import type { RadixLevelSpec } from "../page-table/radix-table.js";

/** log2 of the bytes a level-`level` entry maps. */
export function genericPtShift(level: number): number {
  return 12 + 9 * level;
}

/**
 * Level specs, top first, for a table of `levels` levels translating `ias` input bits. The top table
 * is always a full 4 KiB page; only its low `ias - shift` index bits are reachable.
 */
export function genericPtLevels(format: string, levels: number, ias: number): RadixLevelSpec[] {
  const top = levels - 1;
  const topShift = genericPtShift(top);
  if (ias <= topShift || ias > topShift + 9) {
    throw new HwError("EINVAL", `${format}: ${ias}-bit input does not fit a ${levels}-level table`);
  }
  const out: RadixLevelSpec[] = [];
  for (let level = top; level >= 0; level--) {
    const shift = genericPtShift(level);
    out.push({ level, shift, indexBits: level === top ? ias - shift : 9, tableBytes: 4096 });
  }
  return out;
}

/** Every page size a generic_pt level can hold as a single entry: bit n set for each `12 + 9L`. */
export function naturalSizesBelow(ias: number, maxLevel: number): number {
  let bitmap = 0;
  for (let level = 0; level <= maxLevel; level++) {
    const shift = genericPtShift(level);
    if (shift < ias) bitmap += 2 ** shift;
  }
  return bitmap;
}
