/**
 * Page-size selection: which page size, and how many pages of it, the core asks a driver to map or
 * unmap next. Models Linux's `iommu_pgsize()` (drivers/iommu/iommu.c) exactly, on numbers.
 */

import { hex, highBit, lowBit } from "./address.js";
import { IommuError } from "./errors.js";

/** The result of {@link iommuPgsize}: a page size and how many pages of it to do in one call. */
export interface PgsizeChoice {
  /** Bytes per page, a size of the bitmap. */
  pgsize: number;
  /** Pages of `pgsize` to map or unmap in this step (at least 1). */
  count: number;
}

/**
 * The page sizes of a bitmap (bit n set = pages of 2^n bytes), smallest first. A bitmap is a
 * safe integer, so sizes up to 2^52 can be expressed.
 */
export function pgsizesOf(bitmap: number): number[] {
  if (!Number.isSafeInteger(bitmap) || bitmap < 0) {
    throw new IommuError("EINVAL", `page-size bitmap ${String(bitmap)} is not a non-negative safe integer`);
  }
  const sizes: number[] = [];
  let rest = bitmap;
  for (let size = 1; rest > 0; size *= 2) {
    if (rest % 2 === 1) sizes.push(size);
    rest = Math.floor(rest / 2);
  }
  return sizes;
}

/** Builds a page-size bitmap from sizes in bytes (each a power of two). */
export function pgsizeBitmap(...sizes: number[]): number {
  let bitmap = 0;
  for (const size of sizes) {
    if (lowBit(size) !== highBit(size) || size < 1)
      throw new IommuError("EINVAL", `page size ${size} is not a power of two`);
    if (pgsizesOf(bitmap).includes(size)) continue;
    bitmap += size;
  }
  return bitmap;
}

/**
 * Hot-path form of {@link iommuPgsize}: `sizes` is the bitmap's size list (smallest first, from
 * {@link pgsizesOf}); the choice is written into `out`, nothing is allocated. Returns `out`.
 */
export function pgsizeInto(
  sizes: readonly number[],
  iova: number,
  paddr: number,
  size: number,
  out: PgsizeChoice,
): PgsizeChoice {
  // Largest supported size that fits in `size` and to which both addresses are aligned: the bound
  // comes from bit positions once, so the scan below compares numbers (no modulo per size: a bitmap
  // like AMD's has ~40 sizes and this runs for every map and unmap call).
  // Address 0 is aligned to everything (the kernel skips the alignment mask when iova|paddr is 0).
  const alignBit = Math.min(iova === 0 ? 64 : lowBit(iova), paddr === 0 ? 64 : lowBit(paddr));
  const limit = 2 ** Math.min(highBit(size), alignBit);
  let idx = -1;
  for (let i = sizes.length - 1; i >= 0; i--) {
    if (sizes[i]! <= limit) {
      idx = i;
      break;
    }
  }
  if (idx < 0) {
    throw new IommuError(
      "EINVAL",
      `no page size fits iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)} (the kernel BUG()s here)`,
    );
  }
  const pgsize = sizes[idx]!;
  let span = size;
  const next = sizes[idx + 1];
  // Stop early at the next larger size's boundary when a page of it would fit after that boundary,
  // so the following step can use the larger page.
  if (next !== undefined && iova % next === paddr % next) {
    const offset = next - (iova % next);
    if (offset + next <= size) span = offset;
  }
  out.pgsize = pgsize;
  out.count = Math.floor(span / pgsize);
  return out;
}

/**
 * Chooses the page size and page count for the next map or unmap step of `size` bytes at `iova`
 * backed by `paddr` (unmap passes `paddr = iova`): the largest size of `bitmap` not above `size`
 * and to which both addresses are aligned; the count stops early at the boundary of the next larger
 * size when the addresses are co-aligned for it and a whole larger page would fit after it.
 * Models Linux's `iommu_pgsize()`. Throws `EINVAL` where the kernel would `BUG()`.
 */
export function iommuPgsize(bitmap: number, iova: number, paddr: number, size: number): PgsizeChoice {
  return pgsizeInto(pgsizesOf(bitmap), iova, paddr, size, { pgsize: 0, count: 0 });
}
