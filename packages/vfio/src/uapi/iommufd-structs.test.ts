import { describe, expect, it } from "vitest";
import {
  decodeIommuDestroy,
  decodeIommuIoasAlloc,
  decodeIommuIoasAllowIovas,
  decodeIommuIoasCopy,
  decodeIommuIoasIovaRanges,
  decodeIommuIoasMap,
  decodeIommuIoasUnmap,
  decodeIommuIovaRanges,
  encodeIommuDestroy,
  encodeIommuIoasAlloc,
  encodeIommuIoasAllowIovas,
  encodeIommuIoasCopy,
  encodeIommuIoasIovaRanges,
  encodeIommuIoasMap,
  encodeIommuIoasUnmap,
  encodeIommuIovaRanges,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommufdResponse,
} from "./iommufd-structs.js";

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

function withSize(bytes: Uint8Array, size: number, extra = 0): Uint8Array {
  const out = new Uint8Array(Math.max(size, bytes.length));
  out.set(bytes.subarray(0, Math.min(bytes.length, out.length)));
  new DataView(out.buffer).setUint32(0, size, true);
  if (size > bytes.length) out[size - 1] = extra;
  return out;
}

const cases = [
  {
    name: "iommu_destroy",
    size: 8,
    bytes: encodeIommuDestroy({ size: 8, id: 7 }),
    decode: decodeIommuDestroy,
    offsets: [[4, 4, 7n]],
  },
  {
    name: "iommu_ioas_alloc",
    size: 12,
    bytes: encodeIommuIoasAlloc({ size: 12, flags: 0, outIoasId: 9 }),
    decode: decodeIommuIoasAlloc,
    offsets: [[8, 4, 9n]],
  },
  {
    name: "iommu_ioas_iova_ranges",
    size: 32,
    bytes: encodeIommuIoasIovaRanges({
      size: 32,
      ioasId: 2,
      numIovas: 3,
      allowedIovas: 0x7000n,
      outIovaAlignment: 0x1000n,
    }),
    decode: decodeIommuIoasIovaRanges,
    offsets: [
      [4, 4, 2n],
      [8, 4, 3n],
      [16, 8, 0x7000n],
      [24, 8, 0x1000n],
    ],
  },
  {
    name: "iommu_ioas_allow_iovas",
    size: 24,
    bytes: encodeIommuIoasAllowIovas({ size: 24, ioasId: 2, numIovas: 1, allowedIovas: 0x8000n }),
    decode: decodeIommuIoasAllowIovas,
    offsets: [
      [8, 4, 1n],
      [16, 8, 0x8000n],
    ],
  },
  {
    name: "iommu_ioas_map",
    size: 40,
    bytes: encodeIommuIoasMap({
      size: 40,
      flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE,
      ioasId: 5,
      userVa: 0x7f00_0000_0000n,
      length: 0x2000n,
      iova: 0x10_0000n,
    }),
    decode: decodeIommuIoasMap,
    offsets: [
      [4, 4, 5n],
      [8, 4, 5n],
      [16, 8, 0x7f00_0000_0000n],
      [24, 8, 0x2000n],
      [32, 8, 0x10_0000n],
    ],
  },
  {
    name: "iommu_ioas_copy",
    size: 40,
    bytes: encodeIommuIoasCopy({
      size: 40,
      flags: IOMMU_IOAS_MAP_WRITEABLE,
      dstIoasId: 3,
      srcIoasId: 4,
      length: 0x3000n,
      dstIova: 0x5000n,
      srcIova: 0x6000n,
    }),
    decode: decodeIommuIoasCopy,
    offsets: [
      [8, 4, 3n],
      [12, 4, 4n],
      [16, 8, 0x3000n],
      [24, 8, 0x5000n],
      [32, 8, 0x6000n],
    ],
  },
  {
    name: "iommu_ioas_unmap",
    size: 24,
    bytes: encodeIommuIoasUnmap({ size: 24, ioasId: 6, iova: 0x4000n, length: 0xffff_ffff_ffff_ffffn }),
    decode: decodeIommuIoasUnmap,
    offsets: [
      [4, 4, 6n],
      [8, 8, 0x4000n],
      [16, 8, 0xffff_ffff_ffff_ffffn],
    ],
  },
] as const;

describe("iommufd structs", () => {
  for (const c of cases) {
    describe(c.name, () => {
      it(`is ${c.size} bytes with fields at the hand-computed offsets`, () => {
        expect(c.bytes.length).toBe(c.size);
        for (const [offset, width, value] of c.offsets) expect(le(c.bytes, offset, width)).toBe(value);
        expect(c.decode(c.bytes)).toMatchObject({ size: c.size });
      });
      it("size = min - 1 is EINVAL", () => {
        expect(codeOf(() => c.decode(withSize(c.bytes, c.size - 1)))).toBe("EINVAL");
        expect(codeOf(() => c.decode(withSize(c.bytes, 0)))).toBe("EINVAL");
      });
      it("size = sizeof + 1 with a non-zero extra byte is E2BIG; with zero it decodes like sizeof", () => {
        expect(codeOf(() => c.decode(withSize(c.bytes, c.size + 1, 0xff)))).toBe("E2BIG");
        const zero = c.decode(withSize(c.bytes, c.size + 1, 0));
        expect({ ...zero, size: c.size }).toEqual(c.decode(c.bytes));
      });
      it("a buffer shorter than size is EFAULT", () => {
        expect(codeOf(() => c.decode(c.bytes.subarray(0, c.size - 1)))).toBe("EFAULT");
        expect(codeOf(() => c.decode(new Uint8Array(2)))).toBe("EFAULT");
      });
    });
  }

  it("IOAS_ALLOC with flags is EOPNOTSUPP", () => {
    expect(
      codeOf(() => decodeIommuIoasAlloc(encodeIommuIoasAlloc({ size: 12, flags: 1, outIoasId: 0 }))),
    ).toBe("EOPNOTSUPP");
  });

  it("IOAS_MAP and IOAS_COPY with an unknown flag, and MAP with __reserved set, are EOPNOTSUPP", () => {
    const map = { size: 40, flags: 1 << 3, ioasId: 1, userVa: 0n, length: 0n, iova: 0n };
    expect(codeOf(() => decodeIommuIoasMap(encodeIommuIoasMap(map)))).toBe("EOPNOTSUPP");
    const reserved = encodeIommuIoasMap({ ...map, flags: IOMMU_IOAS_MAP_READABLE });
    reserved[12] = 1;
    expect(codeOf(() => decodeIommuIoasMap(reserved))).toBe("EOPNOTSUPP");
    const copy = {
      size: 40,
      flags: 1 << 31,
      dstIoasId: 1,
      srcIoasId: 1,
      length: 0n,
      dstIova: 0n,
      srcIova: 0n,
    };
    expect(codeOf(() => decodeIommuIoasCopy(encodeIommuIoasCopy(copy)))).toBe("EOPNOTSUPP");
  });

  it("IOVA_RANGES and ALLOW_IOVAS with __reserved set are EOPNOTSUPP", () => {
    const r = encodeIommuIoasIovaRanges({
      size: 32,
      ioasId: 1,
      numIovas: 0,
      allowedIovas: 0n,
      outIovaAlignment: 0n,
    });
    r[12] = 1;
    expect(codeOf(() => decodeIommuIoasIovaRanges(r))).toBe("EOPNOTSUPP");
    const a = encodeIommuIoasAllowIovas({ size: 24, ioasId: 1, numIovas: 0, allowedIovas: 0n });
    a[15] = 1;
    expect(codeOf(() => decodeIommuIoasAllowIovas(a))).toBe("EOPNOTSUPP");
  });

  it("iommu_iova_range arrays are {start@0, last@8} x 16 bytes", () => {
    const ranges = [
      { start: 0n, last: 0xfffn },
      { start: 0x2000n, last: 0xffff_ffff_ffff_ffffn },
    ];
    const b = encodeIommuIovaRanges(ranges);
    expect(b.length).toBe(32);
    expect(le(b, 24, 8)).toBe(0xffff_ffff_ffff_ffffn);
    expect(decodeIommuIovaRanges(b, 2)).toEqual(ranges);
    expect(codeOf(() => decodeIommuIovaRanges(b, 3))).toBe("EFAULT");
  });

  it("responses never overrun a shorter caller struct", () => {
    const b = encodeIommuIoasMap({ size: 40, flags: 0, ioasId: 1, userVa: 0n, length: 0n, iova: 5n });
    expect(iommufdResponse(b, 36).length).toBe(36);
    expect(iommufdResponse(b, 64).length).toBe(40);
  });
});
