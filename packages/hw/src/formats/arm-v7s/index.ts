/**
 * ARMv7 short-descriptor format (`io-pgtable-arm-v7s`, registry name `arm-v7s`): 32-bit
 * descriptors, two levels (1: 4096 x 1 MiB entries, 2: 256 x 4 KiB entries), page sizes
 * 4K | 64K | 1M | 16M, 32-bit input and output addresses (34/35 with the MediaTek extension).
 *
 * @module
 */
import type { PageTableFormatDefinition } from "../../page-table/types.js";
import { decodeV7s, encodeV7s } from "./descriptor.js";
import { v7sParams } from "./geometry.js";
import { createV7sPageTable } from "./table.js";
import { createV7sWalker } from "./walker.js";

export { V7S_PGSIZES, v7sProtToPte, v7sPteToProt } from "./bits.js";
export { decodeV7s, encodeV7s } from "./descriptor.js";
export { createV7sPageTable } from "./table.js";
export { createV7sWalker } from "./walker.js";

/** The `arm-v7s` registry entry. */
export const armV7sFormat: PageTableFormatDefinition = {
  name: "arm-v7s",
  description: "ARMv7 short descriptor (io-pgtable-arm-v7s): 2 levels, 4K/64K/1M/16M, 32-bit",
  descriptorBytes: 4,
  geometry: (config) => v7sParams(config).geometry,
  create: createV7sPageTable,
  createWalker: createV7sWalker,
  decode: decodeV7s,
  encode: encodeV7s,
};
