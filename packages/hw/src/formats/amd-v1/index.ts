/**
 * AMD IOMMU v1 host page table (registry name `amd-v1`; generic_pt `fmt/amdv1.h`, formerly
 * `io_pgtable` AMD_IOMMU_V1). Levels in generic_pt numbering (0 = 4 KiB leaf table); DTE mode =
 * levels. Page sizes: every power of two from 4 KiB to 2^51 except 512 GiB (`AMD_IOMMU_PGSIZES`),
 * within the input range; sizes between natural ones are NextLevel=7 leaves replicated over
 * consecutive entries. Partial unmaps remove the whole large page (generic_pt).
 *
 * The top level is fixed from `ias` (the smallest mode covering it: 21/30/39/48/57/64 bits ->
 * modes 1..6). Linux instead starts at mode 3 and grows the top on demand (`PT_FEAT_DYNAMIC_TOP`,
 * `increase_address_space`); a table created with `ias` = the driver's maximum has the shape Linux
 * reaches after its largest mapping.
 *
 * @module
 */
import { toNumber } from "../../address.js";
import { HwError } from "../../errors.js";
import { type RadixTableSpec, radixFormatOps } from "../../page-table/radix-table.js";
import type {
  PageTableConfig,
  PageTableFormatDefinition,
  PageTableGeometry,
} from "../../page-table/types.js";
import { WalkFault } from "../../page-table/types.js";
import { genericPtLevels } from "../generic-pt-levels.js";
import { AmdV1Codec } from "./codec.js";
import { decodeAmdV1, decodeAmdV1Halves, encodeAmdV1 } from "./descriptor.js";

export { decodeAmdV1, encodeAmdV1 } from "./descriptor.js";

/** `AMD_IOMMU_PGSIZES`: GENMASK(51, 12) without 512 GiB (a hardware erratum). */
export const AMD_IOMMU_PGSIZES = 2 ** 52 - 2 ** 12 - 2 ** 39;

/** The AMD DTE mode (1..6) for an input size: the smallest number of levels that covers it. */
export function amdV1ModeForIas(ias: number): number {
  return Math.max(1, Math.ceil((ias - 12) / 9));
}

/** DTE `Mode` of a table of this geometry (`PAGE_MODE_n_LEVEL`, = generic_pt top level + 1). */
export function amdV1Mode(geometry: PageTableGeometry): number {
  return geometry.levels;
}

type Config = Omit<PageTableConfig, "memory" | "allocator">;

/**
 * Validated geometry: `ias` 13..64, `oas` 12..52; the bitmap keeps the requested sizes that a level
 * of this table can hold (level 5, the top of mode 6, holds none) and that are below 2^ias and 2^oas.
 */
export function amdV1Geometry(config: Config): PageTableGeometry {
  const { ias, oas } = config;
  if (!Number.isInteger(ias) || ias < 13 || ias > 64)
    throw new HwError("EINVAL", `amd-v1: ias ${ias} must be an integer from 13 to 64`);
  if (!Number.isInteger(oas) || oas < 13 || oas > 52)
    throw new HwError("EINVAL", `amd-v1: oas ${oas} must be an integer from 13 to 52`);
  const granule = config.granule === undefined ? 4096 : toNumber(config.granule, "granule");
  if (granule !== 4096) throw new HwError("EINVAL", `amd-v1: granule ${granule} is not 4096`);
  const levels = amdV1ModeForIas(ias);
  const top = levels - 1;
  const requested =
    config.pgsizeBitmap === undefined ? AMD_IOMMU_PGSIZES : toNumber(config.pgsizeBitmap, "pgsizeBitmap");
  let bitmap = 0;
  for (let bit = 12; bit <= 51; bit++) {
    const level = Math.floor((bit - 12) / 9);
    const size = 2 ** bit;
    if (level > top || level > 4 || bit >= ias || bit >= oas) continue;
    if (Math.floor(AMD_IOMMU_PGSIZES / size) % 2 === 1 && Math.floor(requested / size) % 2 === 1)
      bitmap += size;
  }
  if (bitmap === 0) throw new HwError("EINVAL", "amd-v1: no supported page size left in the bitmap");
  return {
    levels,
    startLevel: top,
    leafLevel: 0,
    topTableBytes: 4096,
    concatenatedTables: 1,
    pgsizeBitmap: BigInt(bitmap),
    pgsizeBitmapNumber: bitmap,
    granule: 4096,
    ias,
    oas,
  };
}

/** The radix-engine description of an AMD v1 table for `config`. */
export function amdV1Spec(config: Config): RadixTableSpec {
  const geometry = amdV1Geometry(config);
  return {
    format: "amd-v1",
    geometry,
    levels: genericPtLevels("amd-v1", geometry.levels, geometry.ias),
    codec: new AmdV1Codec({ forceCoherent: config.forceCoherent ?? true, noLeafLevel: 5 }),
    decode: decodeAmdV1Halves,
    partialUnmap: "whole",
    existsCode: "EADDRINUSE",
    leafOverTable: "replace-empty",
    requireAccess: true,
    replicatedLeaves: true,
    outOfRangeFault: WalkFault.ADDRESS_SIZE,
  };
}

/** The `amd-v1` registry entry. */
export const amdV1Format: PageTableFormatDefinition = {
  name: "amd-v1",
  description: "AMD IOMMU v1 host table (generic_pt amdv1): modes 1-6, any power-of-two page but 512G",
  descriptorBytes: 8,
  geometry: amdV1Geometry,
  ...radixFormatOps(amdV1Spec),
  decode: decodeAmdV1,
  encode: encodeAmdV1,
};
