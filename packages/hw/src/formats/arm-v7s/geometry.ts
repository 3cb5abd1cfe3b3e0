/**
 * Config validation and table shape of the ARMv7 short-descriptor format (`arm_v7s_alloc_pgtable`).
 *
 * @module
 */
import { toNumber } from "../../address.js";
import { HwError } from "../../errors.js";
import type { PageTableConfig, PageTableGeometry } from "../../page-table/types.js";
import { V7S_PGSIZES } from "./bits.js";

/** What the v7s code needs from a validated config, as plain numbers. */
export interface V7sParams {
  readonly geometry: PageTableGeometry;
  /** Entries in the level-1 table: `2^(ias - 20)`. */
  readonly l1Entries: number;
  /** Bytes allocated for the level-1 table: a whole page at least, as `__get_free_pages` gives. */
  readonly l1AllocBytes: number;
  readonly noPerms: boolean;
  readonly armNs: boolean;
  readonly mtkExt: boolean;
  /** `"refuse"` (mainline since v6.14) or `"split"` (the removed `arm_v7s_split_blk_unmap`). */
  readonly partialUnmap: "refuse" | "split";
}

/**
 * Validates `config` as Linux does before allocating anything: `ias` up to 32 bits (34 with the
 * MediaTek extension), `oas` up to 32 (35 with MTK), MTK only together with NO_PERMS. The page-size
 * bitmap is restricted to 4K | 64K | 1M | 16M (default: all four). Level numbering is the
 * architecture's: 1 (top, 1 MiB entries) and 2 (4 KiB entries).
 */
export function v7sParams(config: Omit<PageTableConfig, "memory" | "allocator">): V7sParams {
  const quirks = config.quirks ?? {};
  const mtkExt = quirks.armMtkExt === true;
  const noPerms = quirks.noPerms === true;
  const maxIas = mtkExt ? 34 : 32;
  const maxOas = mtkExt ? 35 : 32;
  const { ias, oas } = config;
  if (!Number.isInteger(ias) || ias < 21 || ias > maxIas) {
    throw new HwError("EINVAL", `arm-v7s: ias ${ias} must be an integer from 21 to ${maxIas}`);
  }
  if (!Number.isInteger(oas) || oas < 21 || oas > maxOas) {
    throw new HwError("EINVAL", `arm-v7s: oas ${oas} must be an integer from 21 to ${maxOas}`);
  }
  if (mtkExt && !noPerms)
    throw new HwError("EINVAL", "arm-v7s: the MediaTek extension needs the noPerms quirk");
  const granule = config.granule === undefined ? 4096 : toNumber(config.granule, "granule");
  if (granule !== 4096) throw new HwError("EINVAL", `arm-v7s: granule ${granule} is not 4096`);
  const requested =
    config.pgsizeBitmap === undefined ? V7S_PGSIZES : toNumber(config.pgsizeBitmap, "pgsizeBitmap");
  // The bitmap fits in 32 bits, so a bitwise AND is exact.
  const bitmap = ((requested % 0x1_0000_0000) & V7S_PGSIZES) >>> 0;
  if (bitmap === 0)
    throw new HwError(
      "EINVAL",
      `arm-v7s: page-size bitmap 0x${requested.toString(16)} has no supported size`,
    );
  const l1Entries = 2 ** (ias - 20);
  const geometry: PageTableGeometry = {
    levels: 2,
    startLevel: 1,
    leafLevel: 2,
    topTableBytes: l1Entries * 4,
    concatenatedTables: 1,
    pgsizeBitmap: BigInt(bitmap),
    pgsizeBitmapNumber: bitmap,
    granule: 4096,
    ias,
    oas,
  };
  return {
    geometry,
    l1Entries,
    l1AllocBytes: Math.max(4096, l1Entries * 4),
    noPerms,
    armNs: quirks.armNs === true,
    mtkExt,
    partialUnmap: config.partialUnmap ?? "refuse",
  };
}
