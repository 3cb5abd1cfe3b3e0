import { describe, expect, it } from "vitest";
import {
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
} from "./constants.js";
import {
  applyType1Info,
  buildType1Info,
  DIRTY_BITMAP_SIZE_MAX,
  decodeType1Info,
  type Type1InfoState,
} from "./type1-info.js";

const state: Type1InfoState = {
  pgsizeBitmap: 0x4020_1000n, // 4K | 2M | 1G
  dmaAvail: 65534,
  iovaRanges: [
    { start: 0n, end: 0xfedf_ffffn },
    { start: 0xfef0_0000n, end: 0xffff_ffff_ffffn },
  ],
};

// Hand-computed layout with 8-byte aligned capabilities (Linux >= 6.6):
//   info        0..24   cap_offset = 24
//   MIGRATION  24..56   32 bytes, next = 56
//   DMA_AVAIL  56..72   12 bytes padded to 16, next = 72
//   IOVA_RANGE 72..120  16 + 2 * 16 bytes, next = 0
const FULL = 120;

function le(bytes: Uint8Array, offset: number, width: 2 | 4 | 8): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i]!);
  return v;
}

describe("VFIO_IOMMU_GET_INFO (type1)", () => {
  it("writes struct and chain at the hand-computed offsets when argsz covers everything", () => {
    const b = buildType1Info(state, FULL);
    expect(b.length).toBe(FULL);
    expect(le(b, 0, 4)).toBe(BigInt(FULL));
    expect(le(b, 4, 4)).toBe(BigInt(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS));
    expect(le(b, 8, 8)).toBe(0x4020_1000n);
    expect(le(b, 16, 4)).toBe(24n);
    // MIGRATION
    expect(le(b, 24, 2)).toBe(BigInt(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION));
    expect(le(b, 26, 2)).toBe(1n);
    expect(le(b, 28, 4)).toBe(56n);
    expect(le(b, 32, 4)).toBe(0n); // flags
    expect(le(b, 40, 8)).toBe(4096n); // pgsize_bitmap: smallest page only
    expect(le(b, 48, 8)).toBe(BigInt(DIRTY_BITMAP_SIZE_MAX));
    expect(DIRTY_BITMAP_SIZE_MAX).toBe(256 * 1024 * 1024);
    // DMA_AVAIL
    expect(le(b, 56, 2)).toBe(BigInt(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL));
    expect(le(b, 60, 4)).toBe(72n);
    expect(le(b, 64, 4)).toBe(65534n);
    // IOVA_RANGE
    expect(le(b, 72, 2)).toBe(BigInt(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE));
    expect(le(b, 76, 4)).toBe(0n);
    expect(le(b, 80, 4)).toBe(2n);
    expect(le(b, 88, 8)).toBe(0n);
    expect(le(b, 96, 8)).toBe(0xfedf_ffffn);
    expect(le(b, 104, 8)).toBe(0xfef0_0000n);
    expect(le(b, 112, 8)).toBe(0xffff_ffff_ffffn);
    const info = decodeType1Info(b);
    expect(info.caps.map((c) => c.id)).toEqual([2, 3, 1]);
    expect(info.caps[2]).toMatchObject({
      ranges: [{ start: 0n, end: 0xfedf_ffffn }, { start: 0xfef0_0000n }],
    });
  });

  it("without cap alignment (before Linux 6.6) DMA_AVAIL takes 12 bytes and IOVA_RANGE follows at 68", () => {
    const b = buildType1Info({ ...state, alignCaps: false }, 200);
    expect(b.length).toBe(116);
    expect(le(b, 60, 4)).toBe(68n);
    expect(decodeType1Info(b).caps.map((c) => c.offset)).toEqual([24, 56, 68]);
  });

  it("omits IOVA_RANGE when the valid list is empty", () => {
    const b = buildType1Info({ ...state, iovaRanges: [] }, 200);
    expect(b.length).toBe(72);
    expect(decodeType1Info(b).caps.map((c) => c.id)).toEqual([2, 3]);
  });

  it("follows the argsz protocol at every argsz from 0 to beyond the full size", () => {
    for (let argsz = 0; argsz <= FULL + 16; argsz++) {
      if (argsz < 16) {
        expect(() => buildType1Info(state, argsz)).toThrow(expect.objectContaining({ code: "EINVAL" }));
        continue;
      }
      // A user buffer pre-filled with a canary: nothing past argsz may change.
      const buffer = new Uint8Array(FULL + 32).fill(0xa5);
      buffer.fill(0, 0, argsz);
      new DataView(buffer.buffer).setUint32(0, argsz, true);
      applyType1Info(buffer, state);
      for (let i = argsz; i < buffer.length; i++) expect(buffer[i]).toBe(0xa5);
      expect(le(buffer, 4, 4)).toBe(BigInt(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS));
      expect(le(buffer, 8, 8)).toBe(0x4020_1000n);
      if (argsz < FULL) {
        // Too small for the chain: argsz grows to what is needed, no capability, cap_offset 0.
        expect(le(buffer, 0, 4)).toBe(BigInt(FULL));
        if (argsz >= 20) expect(le(buffer, 16, 4)).toBe(0n);
        expect(buffer.subarray(24, argsz).every((x) => x === 0)).toBe(true);
      } else {
        expect(le(buffer, 0, 4)).toBe(BigInt(argsz));
        const info = decodeType1Info(buffer.subarray(0, argsz));
        expect(info.capOffset).toBe(24);
        expect(info.caps).toHaveLength(3);
      }
    }
  });

  it("decodeType1Info refuses a chain that points outside the buffer or backwards (EINVAL)", () => {
    const b = buildType1Info(state, FULL);
    const outside = b.slice();
    new DataView(outside.buffer).setUint32(28, 500, true);
    expect(() => decodeType1Info(outside)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const loop = b.slice();
    new DataView(loop.buffer).setUint32(60, 24, true);
    expect(() => decodeType1Info(loop)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const overlap = b.slice();
    new DataView(overlap.buffer).setUint32(28, 40, true);
    expect(() => decodeType1Info(overlap)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const tooMany = b.slice();
    new DataView(tooMany.buffer).setUint32(80, 3, true);
    expect(() => decodeType1Info(tooMany)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const badStart = b.slice();
    new DataView(badStart.buffer).setUint32(16, 8, true);
    expect(() => decodeType1Info(badStart)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});
