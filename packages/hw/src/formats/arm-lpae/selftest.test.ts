/**
 * Linux's io-pgtable-arm selftests (hw-facts 1.9): 3 page-size sets x 21 (ias <= oas) pairs, for
 * stage 1 and stage 2, steps 2, 3, 5, 6; with partialUnmap "split" also the pre-6.14 steps 4.
 */
import { describe, expect, it } from "vitest";
import { createPhysMemory } from "../../memory/phys-memory.js";
import { UnmapGather } from "../../page-table/gather.js";
import { createPageTable } from "../../page-table/registry.js";
import type { FormatName } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";

const G = 2 ** 30;
const PGSIZES = [
  [4096, 0x1000 | 0x20_0000 | 0x4000_0000],
  [16384, 0x4000 | 0x200_0000],
  [65536, 0x1_0000 | 0x2000_0000],
] as const;
const ADDRESS_SIZES = [32, 36, 40, 42, 44, 48];

function sizesOf(bitmap: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 52; b++) if (Math.floor(bitmap / 2 ** b) % 2 === 1) out.push(2 ** b);
  return out;
}

function runTests(
  format: FormatName,
  granule: number,
  bitmap: number,
  ias: number,
  oas: number,
  split: boolean,
): void {
  const memory = createPhysMemory();
  const pt = createPageTable(format, {
    memory,
    granule,
    pgsizeBitmap: bitmap,
    ias,
    oas,
    coherentWalk: true,
    ...(split ? { partialUnmap: "split" as const } : {}),
  });
  const sizes = sizesOf(bitmap);
  expect(pt.geometry.pgsizeBitmapNumber).toBe(bitmap);
  // 2. empty table
  for (const a of [42, G + 42, 2 * G + 42]) expect(pt.iovaToPhys(a)).toBe(0n);
  // 3. map each size at iova = n GiB; overlapping map fails; translation checks
  let iova = 0;
  for (const size of sizes) {
    pt.mapPages(iova, iova, size, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_CACHE);
    expect(() => pt.mapPages(iova, iova + size, size, 1, IOMMU_READ | IOMMU_NOEXEC)).toThrow(
      expect.objectContaining({ code: "EEXIST" }),
    );
    expect(pt.iovaToPhys(iova + 42)).toBe(BigInt(iova + 42));
    iova += G;
  }
  const gather = new UnmapGather();
  // 4. (pre-6.14) partial unmap of the block at 1 GiB, then remap of the hole
  const small = sizes[0]!;
  if (split) {
    expect(pt.unmapPages(G + small, small, 1, gather)).toBe(small);
    expect(pt.iovaToPhys(G + small + 42)).toBe(0n);
    expect(pt.iovaToPhys(G + 2 * small + 42)).toBe(BigInt(G + 2 * small + 42));
    pt.mapPages(G + small, small, small, 1, IOMMU_READ);
    expect(pt.iovaToPhys(G + small + 42)).toBe(BigInt(small + 42));
  } else {
    expect(pt.unmapPages(G + small, small, 1, gather)).toBe(0);
    expect(pt.iovaToPhys(G + small + 42)).toBe(BigInt(G + small + 42));
  }
  // 5. full unmap and remap write-only
  iova = 0;
  for (const size of sizes) {
    gather.reset();
    expect(pt.unmapPages(iova, size, 1, gather)).toBe(size);
    // The dummy TLB ops WARN on a flush size outside the bitmap.
    expect(sizes).toContain(gather.pgsize || size);
    expect(pt.iovaToPhys(iova + 42)).toBe(0n);
    pt.mapPages(iova, iova, size, 1, IOMMU_WRITE);
    expect(pt.iovaToPhys(iova + 42)).toBe(BigInt(iova + 42));
    iova += G;
  }
  // 6. the last largest page of the input range
  const largest = sizes.at(-1)!;
  const last = 2 ** ias - largest;
  pt.mapPages(last, last, largest, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_CACHE);
  expect(pt.iovaToPhys(last + 42)).toBe(BigInt(last + 42));
  expect(pt.walk(last + largest - 1).outputAddress).toBe(BigInt(last + largest - 1));
  expect(pt.unmapPages(last, largest, 1)).toBe(largest);
  expect(pt.iovaToPhys(last + 42)).toBe(0n);
  // 7. free
  pt.free();
  expect(pt.allocator.pagesInUse).toBe(0);
  expect(memory.framesResident).toBe(0);
}

const configs: [number, number, number, number][] = [];
for (const [granule, bitmap] of PGSIZES) {
  for (let j = 0; j < ADDRESS_SIZES.length; j++) {
    for (let k = 0; k <= j; k++) configs.push([granule, bitmap, ADDRESS_SIZES[k]!, ADDRESS_SIZES[j]!]);
  }
}

describe("io-pgtable-arm selftests", () => {
  it("has 63 configurations", () => expect(configs.length).toBe(63));
  for (const split of [false, true]) {
    describe(split ? "pre-6.14 (split on partial unmap)" : "mainline", () => {
      for (const [granule, bitmap, ias, oas] of configs) {
        it(`pgsize_bitmap 0x${bitmap.toString(16).padStart(8, "0")}, IAS ${ias} OAS ${oas}`, () => {
          runTests("arm-lpae-s1", granule, bitmap, ias, oas, split);
          runTests("arm-lpae-s2", granule, bitmap, ias, oas, split);
        });
      }
    });
  }
});
