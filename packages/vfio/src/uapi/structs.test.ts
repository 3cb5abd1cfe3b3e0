import { describe, expect, it } from "vitest";
import {
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
} from "./constants.js";
import {
  decodeVfioDirtyBitmap,
  decodeVfioDmaMap,
  decodeVfioDmaUnmap,
  decodeVfioGroupStatus,
  encodeVfioDirtyBitmap,
  encodeVfioDmaMap,
  encodeVfioDmaUnmap,
  encodeVfioGroupStatus,
} from "./structs.js";

function le(bytes: Uint8Array, offset: number, width: 4 | 8): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i]!);
  return v;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe("vfio_group_status", () => {
  it("is 8 bytes: argsz@0 flags@4; argsz < 8 is EINVAL", () => {
    const b = encodeVfioGroupStatus({ argsz: 8, flags: 3 });
    expect([...b]).toEqual([8, 0, 0, 0, 3, 0, 0, 0]);
    expect(decodeVfioGroupStatus(b)).toEqual({ argsz: 8, flags: 3 });
    expect(codeOf(() => decodeVfioGroupStatus(encodeVfioGroupStatus({ argsz: 7, flags: 0 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioGroupStatus(new Uint8Array(4)))).toBe("EFAULT");
  });
});

describe("vfio_iommu_type1_dma_map", () => {
  const map = {
    argsz: 32,
    flags: 3,
    vaddr: 0x1122_3344_5566_7788n,
    iova: 0x99aa_bbcc_ddee_ff00n,
    size: 0x0102_0304_0506_0708n,
  };
  it("is 32 bytes: argsz@0 flags@4 vaddr@8 iova@16 size@24, little-endian", () => {
    const b = encodeVfioDmaMap(map);
    expect(b.length).toBe(32);
    expect(le(b, 0, 4)).toBe(32n);
    expect(le(b, 4, 4)).toBe(3n);
    expect(le(b, 8, 8)).toBe(map.vaddr);
    expect(le(b, 16, 8)).toBe(map.iova);
    expect(le(b, 24, 8)).toBe(map.size);
    expect(b[8]).toBe(0x88);
    expect(decodeVfioDmaMap(b)).toEqual(map);
  });
  it("refuses argsz < 32 and unknown flags with EINVAL, a short buffer with EFAULT", () => {
    expect(codeOf(() => decodeVfioDmaMap(encodeVfioDmaMap({ ...map, argsz: 31 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDmaMap(encodeVfioDmaMap({ ...map, argsz: 1 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDmaMap(encodeVfioDmaMap({ ...map, flags: 1 << 31 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDmaMap(encodeVfioDmaMap({ ...map, flags: 8 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDmaMap(new Uint8Array(31)))).toBe("EFAULT");
    const big = new Uint8Array(64);
    big.set(encodeVfioDmaMap({ ...map, argsz: 64 }));
    expect(decodeVfioDmaMap(big).argsz).toBe(64);
    const all = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
    expect(decodeVfioDmaMap(encodeVfioDmaMap({ ...map, flags: all })).flags).toBe(all);
  });
});

describe("vfio_iommu_type1_dma_unmap", () => {
  const base = { argsz: 24, flags: 0, iova: 0x1000n, size: 0x2000n };
  const bitmap = { pgsize: 4096n, size: 8n, data: 0x7000_0000n };
  it("is 24 bytes: argsz@0 flags@4 iova@8 size@16, vfio_bitmap at 24 (pgsize@24 size@32 data@40)", () => {
    const b = encodeVfioDmaUnmap(base);
    expect(b.length).toBe(24);
    expect(le(b, 8, 8)).toBe(0x1000n);
    expect(le(b, 16, 8)).toBe(0x2000n);
    const withBitmap = encodeVfioDmaUnmap({
      ...base,
      argsz: 48,
      flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
      bitmap,
    });
    expect(withBitmap.length).toBe(48);
    expect(le(withBitmap, 24, 8)).toBe(4096n);
    expect(le(withBitmap, 32, 8)).toBe(8n);
    expect(le(withBitmap, 40, 8)).toBe(0x7000_0000n);
    expect(decodeVfioDmaUnmap(withBitmap).bitmap).toEqual(bitmap);
    expect(decodeVfioDmaUnmap(b)).toEqual(base);
  });
  it("checks in the kernel's order, all EINVAL", () => {
    const dirty = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
    expect(codeOf(() => decodeVfioDmaUnmap(encodeVfioDmaUnmap({ ...base, argsz: 23 })))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDmaUnmap(encodeVfioDmaUnmap({ ...base, flags: 8 })))).toBe("EINVAL");
    for (const other of [VFIO_DMA_UNMAP_FLAG_ALL, VFIO_DMA_UNMAP_FLAG_VADDR]) {
      const b = encodeVfioDmaUnmap({ ...base, argsz: 48, flags: dirty | other, bitmap });
      expect(codeOf(() => decodeVfioDmaUnmap(b))).toBe("EINVAL");
    }
    const short = encodeVfioDmaUnmap({ ...base, argsz: 47, flags: dirty, bitmap });
    expect(codeOf(() => decodeVfioDmaUnmap(short))).toBe("EINVAL");
    const noRoom = encodeVfioDmaUnmap({ ...base, argsz: 48, flags: dirty });
    expect(codeOf(() => decodeVfioDmaUnmap(noRoom))).toBe("EFAULT");
    const allVaddr = encodeVfioDmaUnmap({
      ...base,
      flags: VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR,
    });
    expect(decodeVfioDmaUnmap(allVaddr).flags).toBe(VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR);
  });
});

describe("vfio_iommu_type1_dirty_bitmap", () => {
  const get = { iova: 0x10000n, size: 0x8000n, bitmap: { pgsize: 4096n, size: 8n, data: 0xabc000n } };
  it("is argsz@0 flags@4, then dirty_bitmap_get: iova@8 size@16 bitmap@24 (pgsize@24 size@32 data@40)", () => {
    const b = encodeVfioDirtyBitmap({ argsz: 48, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, get });
    expect(b.length).toBe(48);
    expect(le(b, 8, 8)).toBe(0x10000n);
    expect(le(b, 16, 8)).toBe(0x8000n);
    expect(le(b, 24, 8)).toBe(4096n);
    expect(le(b, 32, 8)).toBe(8n);
    expect(le(b, 40, 8)).toBe(0xabc000n);
    expect(decodeVfioDirtyBitmap(b).get).toEqual(get);
  });
  it("needs exactly one operation and a full GET_BITMAP payload (EINVAL)", () => {
    const enc = (flags: number, argsz = 8) => encodeVfioDirtyBitmap({ argsz, flags });
    expect(decodeVfioDirtyBitmap(enc(VFIO_IOMMU_DIRTY_PAGES_FLAG_START)).flags).toBe(1);
    expect(decodeVfioDirtyBitmap(enc(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)).flags).toBe(2);
    expect(codeOf(() => decodeVfioDirtyBitmap(enc(0)))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDirtyBitmap(enc(3)))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDirtyBitmap(enc(8)))).toBe("EINVAL");
    expect(codeOf(() => decodeVfioDirtyBitmap(enc(1, 7)))).toBe("EINVAL");
    const short = encodeVfioDirtyBitmap({ argsz: 47, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, get });
    expect(codeOf(() => decodeVfioDirtyBitmap(short))).toBe("EINVAL");
  });
});
