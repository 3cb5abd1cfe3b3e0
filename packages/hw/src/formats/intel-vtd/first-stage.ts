/**
 * Intel VT-d first-stage page table (registry name `intel-vtd-fs`): the x86-64 paging format of
 * generic_pt `fmt/x86_64.h`, also AMD v2. 4 levels for up to 48-bit input, 5 for up to 57
 * (`top level = (vasz - 31) / 9 + 2`); page sizes 4K|2M|1G (1G only with CAP `fl1gp`: pass the
 * bitmap). Levels in generic_pt numbering (0 = PTE table .. 4 = PML5).
 *
 * Addresses are sign-extended (`PT_FEAT_SIGN_EXTEND`); the model holds addresses as numbers below
 * 2^53, so it serves the lower canonical half only: `geometry.ias` is 47 (4 levels) or 56 (5 levels)
 * at most, and the top table's upper half (the negative addresses) is never used.
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
import { decodeVtdFs, decodeVtdFsHalves, encodeVtdFs } from "./descriptors.js";
import { X86FsCodec } from "./fs-codec.js";
import { GENERIC_PT_OPTIONS, superpageLevels, vtdBitmap } from "./shared.js";

type Config = Omit<PageTableConfig, "memory" | "allocator">;

/** Validated geometry: `ias` 40..57 (up to 48 -> 4 levels, else 5), lower canonical half only. */
export function vtdFsGeometry(config: Config): PageTableGeometry {
  const { ias: requested } = config;
  if (!Number.isInteger(requested) || requested < 40 || requested > 57) {
    throw new HwError("EINVAL", `intel-vtd-fs: ias ${requested} must be an integer from 40 to 57`);
  }
  const levels = requested > 48 ? 5 : 4;
  const ias = Math.min(requested, levels === 4 ? 47 : 56);
  const bitmap = vtdBitmap("intel-vtd-fs", config, ias);
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

/** The radix-engine description of a first-stage table for `config`. */
export function vtdFsSpec(config: Config): RadixTableSpec {
  const geometry = vtdFsGeometry(config);
  return {
    format: "intel-vtd-fs",
    geometry,
    levels: genericPtLevels("intel-vtd-fs", geometry.levels, geometry.ias),
    codec: new X86FsCodec({ superpageLevels: superpageLevels(geometry.pgsizeBitmapNumber) }),
    decode: decodeVtdFsHalves,
    ...GENERIC_PT_OPTIONS,
  };
}

/** The `intel-vtd-fs` registry entry. */
export const intelVtdFsFormat: PageTableFormatDefinition = {
  name: "intel-vtd-fs",
  description: "Intel VT-d first stage / x86-64 (generic_pt x86_64): 4/5 levels, 4K/2M/1G",
  descriptorBytes: 8,
  geometry: vtdFsGeometry,
  ...radixFormatOps(vtdFsSpec),
  decode: decodeVtdFs,
  encode: encodeVtdFs,
};
