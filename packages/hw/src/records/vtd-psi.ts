/**
 * VT-d page-selective invalidation (PSI) address and mask: the smallest naturally aligned
 * power-of-two block of 4 KiB pages covering a range (hw-facts 4.2; Linux
 * `calculate_psi_aligned_address`).
 */
import { HwError } from "../errors.js";

/** A PSI request: flush `2^am` pages from `address` (aligned to `4 KiB << am`). */
export interface VtdPsi {
  address: bigint;
  am: number;
}

/** MAX_AGAW_PFN_WIDTH: the mask used when no aligned block smaller than the address space fits. */
const MAX_AGAW_PFN_WIDTH = 52;

function ffs64(x: bigint): number {
  let n = 0;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

/**
 * ADDR and AM for invalidating `[start, start + size)`: pages = the 4 KiB pages touched, rounded up
 * to a power of two; if the first page number is not aligned to that, the mask grows to the first
 * bit above it where the first and last page numbers agree (52 when none). The driver falls back to
 * a domain-selective invalidation when AM exceeds the unit's `cap_max_amask_val`. `EINVAL` for a
 * zero size.
 */
export function vtdPsiAddressMask(start: bigint | number, size: bigint | number): VtdPsi {
  const s = BigInt(start);
  const len = BigInt(size);
  if (s < 0n || len <= 0n) throw new HwError("EINVAL", `PSI range ${s}+${len} is empty or negative`);
  const pages = ((s & 0xfffn) + len + 0xfffn) >> 12n;
  let aligned = 1n;
  while (aligned < pages) aligned <<= 1n;
  let mask = ffs64(aligned);
  const bitmask = aligned - 1n;
  const pfn = s >> 12n;
  if ((pfn & bitmask) !== 0n) {
    const endPfn = pfn + pages - 1n;
    const shared = BigInt.asUintN(64, ~(pfn ^ endPfn) & ~bitmask);
    mask = shared !== 0n ? ffs64(shared) : MAX_AGAW_PFN_WIDTH;
  }
  const block = 0x1000n << BigInt(mask);
  return { address: BigInt.asUintN(64, s & ~(block - 1n)), am: mask };
}
