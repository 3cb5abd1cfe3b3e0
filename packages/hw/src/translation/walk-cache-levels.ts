/**
 * Walk-cache geometry for a page-table format. The translation unit uses a walk-cache level for a
 * walk depth only when the level number and the span (shift) both match the walker's
 * ({@link HwWalker.walkLevels}), so a cache configured for one format never answers another's walk
 * with a table of the wrong span. gem5's defaults are ARM LPAE's; this gives the same sizes to the
 * other formats' levels by their role (distance from the leaf tables).
 *
 * @module
 */
import { HwError } from "../errors.js";
import { V7S_WALK_LEVELS } from "../formats/arm-v7s/walker.js";
import { genericPtShift } from "../formats/generic-pt-levels.js";
import {
  gem5WalkCacheLevels,
  WalkCache,
  type WalkCacheLevelConfig,
  type WalkCacheOptions,
  type WalkStage,
} from "../iotlb/walk-cache.js";
import type { FormatName, HwWalker, WalkLevel } from "../page-table/types.js";

// Deepest generic_pt table level a walk cache holds: level 4 entries span 2^48 (5-level tables).
const GENERIC_PT_TOP_TABLE_LEVEL = 4;

/**
 * Walk-cache levels for tables of `format` at `stage`, gem5-sized: a level whose descriptors point
 * to leaf tables gets gem5's L2 size (348 stage 1, 92 stage 2), the one above L1's (28), the one
 * above that L0's (4), any higher 4; 4-way. ARM LPAE: {@link gem5WalkCacheLevels} for `granule`.
 * generic_pt formats (AMD v1, VT-d first and second stage): levels 1..4 (2 MiB .. 256 TiB spans).
 * ARM v7s: level 1 (1 MiB). `EINVAL` for a granule LPAE does not have.
 */
export function walkCacheLevelsFor(
  format: FormatName,
  stage: WalkStage,
  granule = 4096,
): WalkCacheLevelConfig[] {
  const gem5 = gem5WalkCacheLevels(stage, 4096);
  // gem5's entries by distance from the leaf tables: 1 -> its L2, 2 -> L1, 3 -> L0.
  const entriesAt = (distance: number): number => gem5[3 - distance]?.entries ?? 4;
  switch (format) {
    case "arm-lpae-s1":
    case "arm-lpae-s2":
      return gem5WalkCacheLevels(stage, granule);
    case "amd-v1":
    case "intel-vtd-ss":
    case "intel-vtd-fs": {
      const out: WalkCacheLevelConfig[] = [];
      for (let level = 1; level <= GENERIC_PT_TOP_TABLE_LEVEL; level++)
        out.push({ level, shift: genericPtShift(level), entries: entriesAt(level), ways: 4 });
      return out;
    }
    case "arm-v7s":
      return tableLevels(V7S_WALK_LEVELS).map((l, i, all) => ({
        ...l,
        entries: entriesAt(all.length - i),
        ways: 4,
      }));
    default:
      throw new HwError("EINVAL", `no walk-cache geometry for format ${String(format)}`);
  }
}

/**
 * A backend's `walkCache` option made ready for its translation unit: options without `stage1` /
 * `stage2` get {@link walkCacheLevelsFor}`(format, stage, granule)` for them; an instance, `false`
 * and `undefined` (none) pass through as the unit takes them.
 */
export function walkCacheOptionFor(
  option: WalkCache | WalkCacheOptions | false | undefined,
  format: FormatName,
  granule = 4096,
): WalkCache | WalkCacheOptions | false {
  if (option === undefined || option === false || option instanceof WalkCache) return option ?? false;
  return {
    ...option,
    stage1: option.stage1 ?? walkCacheLevelsFor(format, 1, granule),
    stage2: option.stage2 ?? walkCacheLevelsFor(format, 2, granule),
  };
}

/** The depths of `levels` whose entries can point to a table (all but the last). */
function tableLevels(levels: readonly WalkLevel[]): WalkLevel[] {
  return levels.slice(0, -1).map((l) => ({ level: l.level, shift: l.shift }));
}

/**
 * For each table depth of `walker` (all but the last), the walk-cache level that caches its
 * descriptors at `stage`, or -1: the level must have the depth's level number and span.
 */
export function walkCacheDepthLevels(
  walker: Pick<HwWalker, "walkLevels">,
  stage: WalkStage,
  geometry: readonly { stage: WalkStage; level: number; shift: number }[],
): Int32Array {
  const levels = tableLevels(walker.walkLevels);
  const out = new Int32Array(levels.length).fill(-1);
  levels.forEach((l, d) => {
    if (geometry.some((g) => g.stage === stage && g.level === l.level && g.shift === l.shift))
      out[d] = l.level;
  });
  return out;
}
