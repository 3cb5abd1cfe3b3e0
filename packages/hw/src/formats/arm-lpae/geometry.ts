/**
 * ARM LPAE (VMSAv8-64 long-descriptor) table geometry as io-pgtable-arm computes it:
 * `arm_lpae_restrict_pgsizes`, `arm_lpae_alloc_pgtable` and the stage-2 concatenation of
 * `arm_64_lpae_alloc_pgtable_s2` (hw-facts 1.4, 1.5).
 */
import { hex, toNumber } from "../../address.js";
import { HwError } from "../../errors.js";
import type { RadixLevelSpec } from "../../page-table/radix-table.js";
import type { PageTableConfig, PageTableGeometry } from "../../page-table/types.js";

/** io-pgtable numbers LPAE levels 0..3; level 3 holds only pages. */
export const LPAE_MAX_LEVELS = 4;
/** `ARM_LPAE_MAX_ADDR_BITS`. */
export const LPAE_MAX_ADDR_BITS = 52;
/** `ARM_LPAE_S2_MAX_CONCAT_PAGES`: at most 16 concatenated stage-2 top tables. */
export const LPAE_S2_MAX_CONCAT_PAGES = 16;
/** Output sizes the TCR.IPS / VTCR.PS fields can encode, with their encodings (hw-facts 1.5). */
export const LPAE_PS_ENCODING: Readonly<Record<number, number>> = {
  32: 0,
  36: 1,
  40: 2,
  42: 3,
  44: 4,
  48: 5,
  52: 6,
};

/** Which translation stage a table is for. */
export type LpaeStage = 1 | 2;

/** LPAE geometry: the generic {@link PageTableGeometry} plus io-pgtable-arm's own numbers. */
export interface LpaeGeometry extends PageTableGeometry {
  readonly stage: LpaeStage;
  /** log2 of the granule (`pg_shift`). */
  readonly granuleShift: number;
  /** Index bits per level (`bits_per_level` = pg_shift - 3). */
  readonly bitsPerLevel: number;
  /** Index bits of the top table after any concatenation (`pgd_bits`). */
  readonly pgdBits: number;
  /** Bytes allocated for the top table: `max(topTableBytes, 64)` as Linux aligns small pgds. */
  readonly topTableAllocBytes: number;
  /** `ARM_LPAE_LVL_SHIFT(level)` for levels 0..3 (log2 of the bytes one entry maps). */
  readonly levelShifts: readonly number[];
  /** Levels whose blocks the architecture allows for this granule and output size (walker check). */
  readonly blockLevels: readonly number[];
}

/** Page sizes a granule allows (`arm_lpae_restrict_pgsizes`); 64K adds the 4 TiB block when oas > 48. */
export function lpaePageSizes(granule: number, oas: number): bigint {
  switch (granule) {
    case 4096:
      return (1n << 12n) | (1n << 21n) | (1n << 30n);
    case 16384:
      return (1n << 14n) | (1n << 25n);
    case 65536:
      return (1n << 16n) | (1n << 29n) | (oas > 48 ? 1n << 42n : 0n);
    default:
      return 0n;
  }
}

/** Options read by {@link computeLpaeGeometry}. */
export type LpaeGeometryConfig = Pick<
  PageTableConfig,
  "granule" | "ias" | "oas" | "pgsizeBitmap" | "s2Concat"
>;

/**
 * Computes the geometry of an LPAE table of `stage` for `config`, refusing (EINVAL) what
 * `alloc_io_pgtable_ops` would refuse: an unknown granule, a page-size bitmap without the granule,
 * ias/oas beyond 52 bits, an oas the PS field cannot encode, a mandatory stage-2 concatenation of
 * more than 16 tables. ias and oas are clamped to 48 bits for 4K/16K granules as Linux does.
 */
export function computeLpaeGeometry(stage: LpaeStage, config: LpaeGeometryConfig): LpaeGeometry {
  const granule = toNumber(config.granule ?? 4096, "granule");
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) {
    throw new HwError("EINVAL", `granule ${hex(granule)} is not 4 KiB, 16 KiB or 64 KiB`);
  }
  for (const [name, value] of [
    ["ias", config.ias],
    ["oas", config.oas],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > LPAE_MAX_ADDR_BITS) {
      throw new HwError(
        "EINVAL",
        `${name} ${String(value)} must be an integer number of bits up to ${LPAE_MAX_ADDR_BITS}`,
      );
    }
  }
  const maxBits = granule === 65536 ? 52 : 48;
  const ias = Math.min(config.ias, maxBits);
  const oas = Math.min(config.oas, maxBits);
  if (LPAE_PS_ENCODING[oas] === undefined) {
    throw new HwError("EINVAL", `oas ${oas} has no TCR.IPS/VTCR.PS encoding (32, 36, 40, 42, 44, 48 or 52)`);
  }
  const granuleShift = Math.log2(granule);
  if (ias <= granuleShift)
    throw new HwError("EINVAL", `ias ${ias} leaves no index bits with a ${hex(granule)} granule`);
  const allowed = lpaePageSizes(granule, oas);
  let bitmap = allowed;
  if (config.pgsizeBitmap !== undefined) {
    const requested = BigInt(toNumber(config.pgsizeBitmap, "pgsizeBitmap"));
    bitmap = requested & allowed;
    if ((bitmap & BigInt(granule)) === 0n) {
      throw new HwError(
        "EINVAL",
        `pgsizeBitmap ${hex(requested)} does not include the granule ${hex(granule)}`,
      );
    }
  }

  const bpl = granuleShift - 3;
  const vaBits = ias - granuleShift;
  let levels = Math.ceil(vaBits / bpl);
  let startLevel = LPAE_MAX_LEVELS - levels;
  let pgdBits = vaBits - bpl * (levels - 1);
  let concatenatedTables = 1;
  if (stage === 2 && concatenate(config.s2Concat ?? "mainline", granule, startLevel, ias, oas, pgdBits)) {
    if (2 ** pgdBits > LPAE_S2_MAX_CONCAT_PAGES) {
      throw new HwError(
        "EINVAL",
        `stage-2 ias ${ias}/oas ${oas} needs ${2 ** pgdBits} concatenated tables (at most ${LPAE_S2_MAX_CONCAT_PAGES})`,
      );
    }
    concatenatedTables = 2 ** pgdBits;
    pgdBits += bpl;
    startLevel++;
    levels--;
  }
  const levelShifts = [0, 1, 2, 3].map((l) => (LPAE_MAX_LEVELS - l) * bpl + 3);
  const topTableBytes = 8 * 2 ** pgdBits;
  const blockLevels: number[] = [];
  for (let l = 0; l < 3; l++) if ((allowed >> BigInt(levelShifts[l]!)) & 1n) blockLevels.push(l);
  return {
    stage,
    levels,
    startLevel,
    leafLevel: 3,
    topTableBytes,
    topTableAllocBytes: Math.max(topTableBytes, 64),
    concatenatedTables,
    pgsizeBitmap: bitmap,
    pgsizeBitmapNumber: Number(bitmap),
    granule,
    ias,
    oas,
    granuleShift,
    bitsPerLevel: bpl,
    pgdBits,
    levelShifts,
    blockLevels,
  };
}

/**
 * Whether a stage-2 table concatenates its top level: mainline `arm_lpae_concat_mandatory` (only
 * where Arm DDI0487 requires it) or the pre-2025 rule (whenever level 0 has at most 16 entries).
 */
function concatenate(
  rule: "mainline" | "legacy",
  granule: number,
  startLevel: number,
  ias: number,
  oas: number,
  pgdBits: number,
): boolean {
  if (rule === "legacy") return startLevel === 0 && 2 ** pgdBits <= LPAE_S2_MAX_CONCAT_PAGES;
  if (granule === 16384 && startLevel === 0) return oas === 48 || ias === 48;
  if (granule === 4096 && startLevel === 0) return oas === 40 || oas === 42;
  if (granule === 16384 && startLevel === 1) return oas === 40;
  return false;
}

/** The engine's level list for an LPAE geometry, top table first. */
export function lpaeLevelSpecs(g: LpaeGeometry): RadixLevelSpec[] {
  const specs: RadixLevelSpec[] = [];
  for (let level = g.startLevel; level < LPAE_MAX_LEVELS; level++) {
    const top = level === g.startLevel;
    specs.push({
      level,
      shift: g.levelShifts[level]!,
      indexBits: top ? g.pgdBits : g.bitsPerLevel,
      tableBytes: top ? g.topTableAllocBytes : g.granule,
    });
  }
  return specs;
}
