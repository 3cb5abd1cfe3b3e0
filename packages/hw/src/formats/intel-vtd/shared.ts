/**
 * What the two VT-d formats share: config checks, the superpage mask and the radix-engine options
 * of generic_pt (whole-page partial unmap, `-EADDRINUSE` on overlap, empty tables replaced by
 * leaves, an address-size fault beyond the input range).
 *
 * @module
 */
import { toNumber } from "../../address.js";
import { HwError } from "../../errors.js";
import type { PartialUnmapPolicy } from "../../page-table/radix-table.js";
import type { PageTableConfig } from "../../page-table/types.js";
import { WalkFault } from "../../page-table/types.js";

/** 4K | 2M | 1G. */
export const X86_PGSIZES = 0x1000 + 0x20_0000 + 0x4000_0000;

/** Checks `oas` and the granule, and returns the page-size bitmap kept for this table. */
export function vtdBitmap(
  format: string,
  config: Omit<PageTableConfig, "memory" | "allocator">,
  ias: number,
): number {
  const { oas } = config;
  if (!Number.isInteger(oas) || oas < 13 || oas > 52)
    throw new HwError("EINVAL", `${format}: oas ${oas} must be an integer from 13 to 52`);
  const granule = config.granule === undefined ? 4096 : toNumber(config.granule, "granule");
  if (granule !== 4096) throw new HwError("EINVAL", `${format}: granule ${granule} is not 4096`);
  const requested =
    config.pgsizeBitmap === undefined ? X86_PGSIZES : toNumber(config.pgsizeBitmap, "pgsizeBitmap");
  let bitmap = 0;
  for (const bit of [12, 21, 30]) {
    const size = 2 ** bit;
    if (bit < ias && bit < oas && Math.floor(requested / size) % 2 === 1) bitmap += size;
  }
  if (!(bitmap & 0x1000)) throw new HwError("EINVAL", `${format}: the page-size bitmap must include 4 KiB`);
  return bitmap;
}

/** Levels (bit n = generic level n) that may hold PS leaves, from the bitmap. */
export function superpageLevels(bitmap: number): number {
  return (bitmap & 0x20_0000 ? 2 : 0) | (Math.floor(bitmap / 0x4000_0000) % 2 === 1 ? 4 : 0);
}

/** generic_pt behaviour the x86 formats ask of the radix engine. */
export const GENERIC_PT_OPTIONS = {
  partialUnmap: "whole" as PartialUnmapPolicy,
  existsCode: "EADDRINUSE" as const,
  leafOverTable: "replace-empty" as const,
  requireAccess: true,
  outOfRangeFault: WalkFault.ADDRESS_SIZE,
};
