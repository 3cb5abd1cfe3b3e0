import { IommuError } from "@iommu-sim/iommu";

/** IOVA bits covered by each DTE paging mode 1..6 (`PAGE_MODE_1_LEVEL`..`PAGE_MODE_6_LEVEL`). */
export const AMD_PAGE_MODE_BITS = [0, 21, 30, 39, 48, 57, 64] as const;

/**
 * The DTE paging mode (number of levels) that covers `iasBits` of IOVA: the smallest mode whose
 * range reaches it. Mode 0 (no translation) and 7 (reserved) are never returned.
 */
export function amdPageModeForIas(iasBits: number): number {
  if (!Number.isInteger(iasBits) || iasBits < 1 || iasBits > 64) {
    throw new IommuError("EINVAL", `input address size ${iasBits} bits is outside 1..64`);
  }
  return AMD_PAGE_MODE_BITS.findIndex((bits, mode) => mode > 0 && bits >= iasBits);
}

/** `PM_LEVEL_SHIFT(x)`: the address bit where level `x` of an AMD v1 table starts indexing. */
export function amdLevelShift(level: number): number {
  return 12 + 9 * level;
}
