import { isIommuSimError } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DMA_MAPPING_ERROR } from "../direction.js";
import { createArmBitmapAllocator } from "./bitmap-allocator.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024n * 1024n * 1024n;

function expectErrno(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(isIommuSimError(error) && error.code).toBe(code);
    expect((error as Error).message).toMatch(text);
    return;
  }
  throw new Error("expected an error");
}

describe("arm_iommu_create_mapping sizing", () => {
  it("1 GiB: 262144 pages -> 32 KiB of bitmap -> 8 extensions of one 4 KiB page covering 128 MiB", () => {
    const a = createArmBitmapAllocator({ base: 0x8000_0000n, size: GiB });
    expect(a).toMatchObject({
      bitmapSize: 4096,
      extensions: 8,
      bits: 32768,
      mappingSize: 128 * MiB,
      nrBitmaps: 1,
    });
  });

  it("small and maximal sizes", () => {
    // 5 pages need one 32-bit word, and bits becomes 8 * 4 = 32: the mapping serves 32 pages.
    expect(createArmBitmapAllocator({ base: 0n, size: 20480n })).toMatchObject({ bits: 32, extensions: 1 });
    expect(createArmBitmapAllocator({ base: 0n, size: 4n * GiB })).toMatchObject({
      extensions: 32,
      bits: 32768,
    });
    // 192 MiB: 6 KiB of bitmap truncates to one extension of 128 MiB.
    expect(createArmBitmapAllocator({ base: 0n, size: 192n * 1024n * 1024n }).extensions).toBe(1);
  });

  it("rejects sizes over 4 GiB (ERANGE) and under a page (EINVAL), naming them", () => {
    expectErrno(() => createArmBitmapAllocator({ base: 0n, size: 4n * GiB + 1n }), "ERANGE", /4294967297/);
    expectErrno(() => createArmBitmapAllocator({ base: 0n, size: 4095n }), "EINVAL", /4095/);
    expectErrno(
      () => createArmBitmapAllocator({ base: 0n, size: GiB, alignmentOrder: 3 }),
      "EINVAL",
      /ALIGNMENT 3/,
    );
  });
});

describe("__alloc_iova / __free_iova", () => {
  it("first fit, aligned to get_order(size) capped at CONFIG_ARM_DMA_IOMMU_ALIGNMENT", () => {
    const base = 0x1000_0000n;
    const a = createArmBitmapAllocator({ base, size: GiB });
    expect(a.allocIova(4096)).toBe(base); // page 0
    expect(a.allocIova(8192)).toBe(base + 2n * 4096n); // order 1: pages 2-3
    expect(a.allocIova(100)).toBe(base + 4096n); // page 1, the first hole
    expect(a.allocIova(3 * 4096)).toBe(base + 4n * 4096n); // order 2: pages 4-6
    expect(a.allocIova(2 * MiB)).toBe(base + 256n * 4096n); // order 9 capped to 8: page 256
    expect(a.allocIova(4096)).toBe(base + 7n * 4096n);
    const b = createArmBitmapAllocator({ base, size: GiB, alignmentOrder: 4 });
    b.allocIova(4096);
    expect(b.allocIova(2 * MiB)).toBe(base + 16n * 4096n);
  });

  it("extends into a new bitmap when none fits, never spans two, and fails past the extensions", () => {
    const base = 0x4000_0000n;
    const a = createArmBitmapAllocator({ base, size: 256n * 1024n * 1024n });
    expect(a.extensions).toBe(2);
    expect(a.allocIova(128 * MiB)).toBe(base);
    expect(a.nrBitmaps).toBe(1);
    expect(a.allocIova(4096)).toBe(base + BigInt(128 * MiB));
    expect(a.nrBitmaps).toBe(2);
    expect(a.allocIova(128 * MiB)).toBe(DMA_MAPPING_ERROR);
    a.freeIova(base, 128 * MiB);
    expect(a.allocIova(64 * MiB)).toBe(base);
    // Bitmap 0 has only 64 MiB left; bitmap 1 takes it at the first 1 MiB-aligned hole (page 256).
    expect(a.allocIova(96 * MiB)).toBe(base + BigInt(129 * MiB));
    // Larger than one bitmap: never, whatever the extensions.
    expect(a.allocIova(129 * MiB)).toBe(DMA_MAPPING_ERROR);
    expect(a.usedPages).toBe(16384 + 1 + 24576);
  });

  it("free checks become EINVAL errors and leave the bitmaps unchanged", () => {
    const base = 0x4000_0000n;
    const a = createArmBitmapAllocator({ base, size: 256n * 1024n * 1024n });
    const iova = a.allocIova(8192);
    const before = a.snapshot();
    expectErrno(() => a.freeIova(base - 4096n, 4096), "EINVAL", /below the mapping base/);
    expectErrno(
      () => a.freeIova(base + BigInt(128 * MiB), 4096),
      "EINVAL",
      /bitmap 1, beyond the 1 allocated/,
    );
    expectErrno(() => a.freeIova(base + BigInt(128 * MiB - 4096), 8192), "EINVAL", /next bitmap/);
    expectErrno(() => a.freeIova(iova, 3 * 4096), "EINVAL", /not \(entirely\) allocated/);
    expectErrno(() => a.allocIova(0), "EINVAL", /size 0/);
    a.freeIova(iova, 0); // size 0: nothing
    expect(a.snapshot()).toEqual(before);
    a.freeIova(iova, 8192);
    expectErrno(() => a.freeIova(iova, 8192), "EINVAL", /not \(entirely\) allocated/);
  });

  it("matches a naive first-fit model and never overlaps", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 70 * 4096 }), fc.integer({ min: -40, max: -1 })), {
          maxLength: 150,
        }),
        (ops) => {
          // 128 KiB mapping: 32 pages -> bits 32, one bitmap; 2 MiB: 512 pages -> 64 bytes, one bitmap.
          const a = createArmBitmapAllocator({ base: 0n, size: 2n * 1024n * 1024n, alignmentOrder: 4 });
          const used = new Array<boolean>(a.bits).fill(false);
          const live: Array<[number, number]> = [];
          for (const op of ops) {
            if (op > 0) {
              const count = Math.ceil(op / 4096);
              const order = Math.min(Math.ceil(Math.log2(count)), 4);
              let expected = -1;
              for (let p = 0; p + count <= a.bits && expected < 0; p += 1 << order) {
                if (used.slice(p, p + count).every((u) => !u)) expected = p;
              }
              const off = a.allocIovaOffset(op);
              expect(off).toBe(expected < 0 ? -1 : expected * 4096);
              if (off >= 0) {
                for (let p = off / 4096; p < off / 4096 + count; p++) used[p] = true;
                live.push([off, count * 4096]);
              }
            } else if (live.length > 0) {
              const [off, bytes] = live.splice(-op % live.length, 1)[0]!;
              a.freeIova(BigInt(off), bytes);
              for (let p = off / 4096; p < (off + bytes) / 4096; p++) used[p] = false;
            }
          }
          expect(a.usedPages).toBe(used.filter(Boolean).length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
