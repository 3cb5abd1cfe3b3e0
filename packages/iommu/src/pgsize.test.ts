import { describe, expect, it } from "vitest";
import { iommuPgsize, pgsizeBitmap, pgsizesOf } from "./pgsize.js";

const K4 = 0x1000;
const M2 = 0x20_0000;
const G1 = 0x4000_0000;
const X86 = pgsizeBitmap(K4, M2, G1);

/** Runs the core's map loop on iommuPgsize alone and returns the leaves it would ask for. */
function split(bitmap: number, iova: number, paddr: number, size: number): [number, number][] {
  const steps: [number, number][] = [];
  while (size > 0) {
    const { pgsize, count } = iommuPgsize(bitmap, iova, paddr, size);
    steps.push([pgsize, count]);
    const bytes = pgsize * count;
    iova += bytes;
    paddr += bytes;
    size -= bytes;
  }
  return steps;
}

describe("iommuPgsize (iommu_pgsize)", () => {
  it("sw-facts 1.9 worked example: 4K up to the 2M boundary, then 2M x2 (1G not co-aligned)", () => {
    expect(iommuPgsize(X86, 0x1ff000, 0x3ff000, 0x401000)).toEqual({ pgsize: K4, count: 1 });
    expect(iommuPgsize(X86, 0x200000, 0x400000, 0x400000)).toEqual({ pgsize: M2, count: 2 });
  });

  it("kunit test_mixed: iova = pa = 0x3FE400000..0x4C0600000 gives 20 leaves: 14x2M, 3x1G, 3x2M", () => {
    const start = 0x3_fe40_0000;
    const steps = split(X86, start, start, 0x4_c060_0000 - start);
    expect(steps).toEqual([
      [M2, 14],
      [G1, 3],
      [M2, 3],
    ]);
    expect(steps.reduce((n, [, c]) => n + c, 0)).toBe(20);
  });

  it("kunit test_pgsize_boundary: pa only 4K aligned forces 32 x 4K", () => {
    expect(split(X86, 0xfef8_0000, 0x20_8b95_d000, 0x2_0000)).toEqual([[K4, 32]]);
  });

  it("an unaligned start takes small pages up to the next boundary only", () => {
    expect(split(X86, 0x1000, 0x1000, 0x40_0000)).toEqual([
      [K4, 511],
      [M2, 1],
      [K4, 1],
    ]);
  });

  it("does not stop early when a larger page would not fit after the boundary", () => {
    // offset to 2M is 0x1000, but 0x1000 + 2M > size: map it all with 4K pages in one call.
    expect(iommuPgsize(X86, 0x1ff000, 0x1ff000, 0x200000)).toEqual({ pgsize: K4, count: 0x200 });
  });

  it("4K -> 2M -> 1G -> 2M -> 4K transitions", () => {
    const start = G1 - M2 - K4;
    const size = K4 + M2 + G1 + M2 + K4;
    expect(split(X86, start, start, size)).toEqual([
      [K4, 1],
      [M2, 1],
      [G1, 1],
      [M2, 1],
      [K4, 1],
    ]);
  });

  it("iova and pa aligned differently use the largest common alignment", () => {
    expect(iommuPgsize(X86, M2, M2 + K4 * 16, M2)).toEqual({ pgsize: K4, count: 512 });
  });

  it("supports odd page sizes (2 KiB) and sizes above 2^32", () => {
    const odd = pgsizeBitmap(0x800, 0x10000);
    expect(split(odd, 0x800, 0x800, 0x20000)).toEqual([
      [0x800, 31],
      [0x10000, 1],
      [0x800, 1],
    ]);
    const big = pgsizeBitmap(K4, 2 ** 39);
    expect(iommuPgsize(big, 2 ** 39, 2 ** 40, 2 ** 40)).toEqual({ pgsize: 2 ** 39, count: 2 });
  });

  it("throws EINVAL where the kernel would BUG (nothing fits)", () => {
    expect(() => iommuPgsize(X86, 0x800, 0, K4)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });

  it("pgsizesOf lists bitmap sizes smallest first, beyond 32 bits", () => {
    expect(pgsizesOf(X86)).toEqual([K4, M2, G1]);
    expect(pgsizesOf(2 ** 51 + 2 ** 12)).toEqual([2 ** 12, 2 ** 51]);
  });
});
