/**
 * Intel VT-d second-stage page table (registry name `intel-vtd-ss`; generic_pt `fmt/vtdss.h`, the
 * legacy `dma_pte` tables). 3, 4 or 5 levels for 39/48/57-bit input (AGAW 1/2/3,
 * `agaw_to_level = agaw + 2`), page sizes 4K and, as the hardware's `cap_super_page_val` allows
 * (pass them in `pgsizeBitmap`), 2M/1G. Levels in generic_pt numbering (0 = SL-PTE table).
 *
 * @module
 */
import { HwError } from "../../errors.js";
import { type RadixTableSpec, radixFormatOps } from "../../page-table/radix-table.js";
import type {
  PageTableConfig,
  PageTableFormatDefinition,
  PageTableGeometry,
} from "../../page-table/types.js";
import { genericPtLevels } from "../generic-pt-levels.js";
import { decodeVtdSs, decodeVtdSsHalves, encodeVtdSs } from "./descriptors.js";
import { GENERIC_PT_OPTIONS, superpageLevels, vtdBitmap } from "./shared.js";
import { VtdSsCodec } from "./ss-codec.js";

type Config = Omit<PageTableConfig, "memory" | "allocator">;

/** The adjusted guest address width for an input size (`width_to_agaw`): 1, 2 or 3. */
export function vtdAgawForIas(ias: number): number {
  return Math.ceil((ias - 30) / 9);
}

/** The AGAW of a table (context-entry AW field = levels - 2 = generic_pt top level - 1). */
export function vtdSsAgaw(geometry: PageTableGeometry): number {
  return geometry.levels - 2;
}

/** Validated geometry: `ias` 31..57 (3 levels up to 39 bits, 4 up to 48, 5 up to 57), `oas` up to 52. */
export function vtdSsGeometry(config: Config): PageTableGeometry {
  const { ias } = config;
  if (!Number.isInteger(ias) || ias < 31 || ias > 57) {
    throw new HwError("EINVAL", `intel-vtd-ss: ias ${ias} must be an integer from 31 to 57`);
  }
  const levels = vtdAgawForIas(ias) + 2;
  const bitmap = vtdBitmap("intel-vtd-ss", config, ias);
  return {
    levels,
    startLevel: levels - 1,
    leafLevel: 0,
    topTableBytes: 4096,
    concatenatedTables: 1,
    pgsizeBitmap: BigInt(bitmap),
    pgsizeBitmapNumber: bitmap,
    granule: 4096,
    ias,
    oas: config.oas,
  };
}

/** The radix-engine description of a VT-d second-stage table for `config`. */
export function vtdSsSpec(config: Config): RadixTableSpec {
  const geometry = vtdSsGeometry(config);
  return {
    format: "intel-vtd-ss",
    geometry,
    levels: genericPtLevels("intel-vtd-ss", geometry.levels, geometry.ias),
    codec: new VtdSsCodec({
      forceSnoop: config.forceSnoop ?? false,
      superpageLevels: superpageLevels(geometry.pgsizeBitmapNumber),
    }),
    decode: decodeVtdSsHalves,
    ...GENERIC_PT_OPTIONS,
  };
}

/** The `intel-vtd-ss` registry entry. */
export const intelVtdSsFormat: PageTableFormatDefinition = {
  name: "intel-vtd-ss",
  description: "Intel VT-d second stage (generic_pt vtdss): 3/4/5 levels, 4K/2M/1G, no present bit",
  descriptorBytes: 8,
  geometry: vtdSsGeometry,
  ...radixFormatOps(vtdSsSpec),
  decode: decodeVtdSs,
  encode: encodeVtdSs,
};
