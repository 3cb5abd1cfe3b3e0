/**
 * Byte-exact encoders and decoders of the iommufd IOAS UAPI structs (include/uapi/linux/iommufd.h),
 * little-endian, with the generic size rules of `iommufd_fops_ioctl` and `copy_struct_from_user`:
 * every struct starts with `__u32 size`; a size below the command's minimum is `EINVAL`; a size
 * beyond what the kernel knows is accepted only if the extra bytes are zero (else `E2BIG`), and a
 * shorter struct reads its missing tail as zero. Flag and reserved-field checks of each command
 * (`EOPNOTSUPP`) are done too, as they come before any value check.
 *
 * All members are `__u32` or `__aligned_u64`, so offsets are the running sums below (hand-computed).
 */
import { IommuError } from "@iommu-sim/iommu";
import { needBytes, setU32, setU64, u32, u64, view } from "./bytes.js";

/** `IOMMU_IOAS_MAP_FIXED_IOVA`: map at `iova` rather than letting the kernel choose. */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
/** `IOMMU_IOAS_MAP_WRITEABLE`: the device may write. */
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
/** `IOMMU_IOAS_MAP_READABLE`: the device may read. */
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

// struct iommu_destroy { __u32 size; __u32 id; }  offsetof: size 0, id 4; sizeof 8 = min
/** `sizeof(struct iommu_destroy)`. */
export const IOMMU_DESTROY_SIZE = 8;
// struct iommu_ioas_alloc { __u32 size; __u32 flags; __u32 out_ioas_id; }  0, 4, 8; sizeof 12 = min
/** `sizeof(struct iommu_ioas_alloc)`. */
export const IOMMU_IOAS_ALLOC_SIZE = 12;
// struct iommu_iova_range { __aligned_u64 start; __aligned_u64 last; }  0, 8; sizeof 16
/** `sizeof(struct iommu_iova_range)`. */
export const IOMMU_IOVA_RANGE_SIZE = 16;
// struct iommu_ioas_iova_ranges { __u32 size; __u32 ioas_id; __u32 num_iovas; __u32 __reserved;
//                                 __aligned_u64 allowed_iovas; __aligned_u64 out_iova_alignment; }
//   0, 4, 8, 12, 16, 24; sizeof 32 = min (offsetofend(out_iova_alignment))
/** `sizeof(struct iommu_ioas_iova_ranges)`. */
export const IOMMU_IOAS_IOVA_RANGES_SIZE = 32;
// struct iommu_ioas_allow_iovas { __u32 size; __u32 ioas_id; __u32 num_iovas; __u32 __reserved;
//                                 __aligned_u64 allowed_iovas; }  0, 4, 8, 12, 16; sizeof 24 = min
/** `sizeof(struct iommu_ioas_allow_iovas)`. */
export const IOMMU_IOAS_ALLOW_IOVAS_SIZE = 24;
// struct iommu_ioas_map { __u32 size; __u32 flags; __u32 ioas_id; __u32 __reserved;
//                         __aligned_u64 user_va; __aligned_u64 length; __aligned_u64 iova; }
//   0, 4, 8, 12, 16, 24, 32; sizeof 40 = min
/** `sizeof(struct iommu_ioas_map)`. */
export const IOMMU_IOAS_MAP_SIZE = 40;
// struct iommu_ioas_copy { __u32 size; __u32 flags; __u32 dst_ioas_id; __u32 src_ioas_id;
//                          __aligned_u64 length; __aligned_u64 dst_iova; __aligned_u64 src_iova; }
//   0, 4, 8, 12, 16, 24, 32; sizeof 40 = min
/** `sizeof(struct iommu_ioas_copy)`. */
export const IOMMU_IOAS_COPY_SIZE = 40;
// struct iommu_ioas_unmap { __u32 size; __u32 ioas_id; __aligned_u64 iova; __aligned_u64 length; }
//   0, 4, 8, 16; sizeof 24 = min
/** `sizeof(struct iommu_ioas_unmap)`. */
export const IOMMU_IOAS_UNMAP_SIZE = 24;

/** `struct iommu_destroy`. */
export interface IommuDestroy {
  size: number;
  id: number;
}
/** `struct iommu_ioas_alloc`. */
export interface IommuIoasAlloc {
  size: number;
  flags: number;
  outIoasId: number;
}
/** `struct iommu_iova_range`: `[start, last]`, inclusive. */
export interface IommuIovaRange {
  start: bigint;
  last: bigint;
}
/** `struct iommu_ioas_iova_ranges`. */
export interface IommuIoasIovaRanges {
  size: number;
  ioasId: number;
  numIovas: number;
  /** User pointer to an array of `iommu_iova_range`. */
  allowedIovas: bigint;
  outIovaAlignment: bigint;
}
/** `struct iommu_ioas_allow_iovas`. */
export interface IommuIoasAllowIovas {
  size: number;
  ioasId: number;
  numIovas: number;
  /** User pointer to an array of `iommu_iova_range`. */
  allowedIovas: bigint;
}
/** `struct iommu_ioas_map`. */
export interface IommuIoasMap {
  size: number;
  /** `IOMMU_IOAS_MAP_*`. */
  flags: number;
  ioasId: number;
  userVa: bigint;
  length: bigint;
  /** Input with FIXED_IOVA, output otherwise. */
  iova: bigint;
}
/** `struct iommu_ioas_copy`. */
export interface IommuIoasCopy {
  size: number;
  /** `IOMMU_IOAS_MAP_*`. */
  flags: number;
  dstIoasId: number;
  srcIoasId: number;
  length: bigint;
  dstIova: bigint;
  srcIova: bigint;
}
/** `struct iommu_ioas_unmap`. */
export interface IommuIoasUnmap {
  size: number;
  ioasId: number;
  iova: bigint;
  /** Input length; output bytes unmapped. */
  length: bigint;
}

/**
 * The generic part of every iommufd ioctl: reads `size`, applies the minimum-size and trailing-bytes
 * rules, and returns a view of `known` bytes (zero-extended when the caller's struct is shorter).
 */
export function readIommufd(bytes: Uint8Array, minSize: number, known: number, what: string): DataView {
  needBytes(bytes, 4, what);
  const size = u32(view(bytes), 0);
  if (size < minSize) throw new IommuError("EINVAL", `${what}: size ${size} < minimum ${minSize}`);
  needBytes(bytes, size, what);
  for (let i = known; i < size; i++) {
    if (bytes[i] !== 0)
      throw new IommuError("E2BIG", `${what}: non-zero byte at ${i} beyond the known ${known}`);
  }
  const copy = new Uint8Array(known);
  copy.set(bytes.subarray(0, Math.min(size, known)));
  return view(copy);
}

function checkMapFlags(flags: number, reserved: number, what: string): void {
  if ((flags & ~MAP_FLAGS) !== 0 || reserved !== 0) {
    throw new IommuError(
      "EOPNOTSUPP",
      `${what}: unknown flags 0x${flags.toString(16)} or reserved field set`,
    );
  }
}

/** Decodes `struct iommu_destroy` (generic size rules only). */
export function decodeIommuDestroy(bytes: Uint8Array): IommuDestroy {
  const dv = readIommufd(bytes, IOMMU_DESTROY_SIZE, IOMMU_DESTROY_SIZE, "iommu_destroy");
  return { size: u32(dv, 0), id: u32(dv, 4) };
}

/** Encodes `struct iommu_destroy`. */
export function encodeIommuDestroy(s: IommuDestroy): Uint8Array {
  const out = new Uint8Array(IOMMU_DESTROY_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.id);
  return out;
}

/** Decodes `struct iommu_ioas_alloc`; non-zero `flags` is `EOPNOTSUPP` (none is defined). */
export function decodeIommuIoasAlloc(bytes: Uint8Array): IommuIoasAlloc {
  const dv = readIommufd(bytes, IOMMU_IOAS_ALLOC_SIZE, IOMMU_IOAS_ALLOC_SIZE, "iommu_ioas_alloc");
  const flags = u32(dv, 4);
  if (flags !== 0) throw new IommuError("EOPNOTSUPP", `iommu_ioas_alloc: flags 0x${flags.toString(16)}`);
  return { size: u32(dv, 0), flags, outIoasId: u32(dv, 8) };
}

/** Encodes `struct iommu_ioas_alloc` (the kernel answers with `out_ioas_id` filled). */
export function encodeIommuIoasAlloc(s: IommuIoasAlloc): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_ALLOC_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.flags);
  setU32(dv, 8, s.outIoasId);
  return out;
}

/** Decodes `struct iommu_ioas_iova_ranges`; a non-zero `__reserved` is `EOPNOTSUPP`. */
export function decodeIommuIoasIovaRanges(bytes: Uint8Array): IommuIoasIovaRanges {
  const what = "iommu_ioas_iova_ranges";
  const dv = readIommufd(bytes, IOMMU_IOAS_IOVA_RANGES_SIZE, IOMMU_IOAS_IOVA_RANGES_SIZE, what);
  if (u32(dv, 12) !== 0) throw new IommuError("EOPNOTSUPP", `${what}: reserved field set`);
  return {
    size: u32(dv, 0),
    ioasId: u32(dv, 4),
    numIovas: u32(dv, 8),
    allowedIovas: u64(dv, 16),
    outIovaAlignment: u64(dv, 24),
  };
}

/** Encodes `struct iommu_ioas_iova_ranges`. */
export function encodeIommuIoasIovaRanges(s: IommuIoasIovaRanges): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_IOVA_RANGES_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.ioasId);
  setU32(dv, 8, s.numIovas);
  setU64(dv, 16, s.allowedIovas);
  setU64(dv, 24, s.outIovaAlignment);
  return out;
}

/** Decodes `struct iommu_ioas_allow_iovas`; a non-zero `__reserved` is `EOPNOTSUPP`. */
export function decodeIommuIoasAllowIovas(bytes: Uint8Array): IommuIoasAllowIovas {
  const what = "iommu_ioas_allow_iovas";
  const dv = readIommufd(bytes, IOMMU_IOAS_ALLOW_IOVAS_SIZE, IOMMU_IOAS_ALLOW_IOVAS_SIZE, what);
  if (u32(dv, 12) !== 0) throw new IommuError("EOPNOTSUPP", `${what}: reserved field set`);
  return { size: u32(dv, 0), ioasId: u32(dv, 4), numIovas: u32(dv, 8), allowedIovas: u64(dv, 16) };
}

/** Encodes `struct iommu_ioas_allow_iovas`. */
export function encodeIommuIoasAllowIovas(s: IommuIoasAllowIovas): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_ALLOW_IOVAS_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.ioasId);
  setU32(dv, 8, s.numIovas);
  setU64(dv, 16, s.allowedIovas);
  return out;
}

/** Decodes an array of `count` `struct iommu_iova_range` (the buffer behind `allowed_iovas`). */
export function decodeIommuIovaRanges(bytes: Uint8Array, count: number): IommuIovaRange[] {
  needBytes(bytes, count * IOMMU_IOVA_RANGE_SIZE, "iommu_iova_range[]");
  const dv = view(bytes);
  const out: IommuIovaRange[] = [];
  for (let i = 0; i < count; i++) out.push({ start: u64(dv, i * 16), last: u64(dv, i * 16 + 8) });
  return out;
}

/** Encodes an array of `struct iommu_iova_range`. */
export function encodeIommuIovaRanges(ranges: readonly IommuIovaRange[]): Uint8Array {
  const out = new Uint8Array(ranges.length * IOMMU_IOVA_RANGE_SIZE);
  const dv = view(out);
  ranges.forEach((r, i) => {
    setU64(dv, i * 16, r.start);
    setU64(dv, i * 16 + 8, r.last);
  });
  return out;
}

/** Decodes `struct iommu_ioas_map`; unknown flags or a non-zero `__reserved` is `EOPNOTSUPP`. */
export function decodeIommuIoasMap(bytes: Uint8Array): IommuIoasMap {
  const dv = readIommufd(bytes, IOMMU_IOAS_MAP_SIZE, IOMMU_IOAS_MAP_SIZE, "iommu_ioas_map");
  const flags = u32(dv, 4);
  checkMapFlags(flags, u32(dv, 12), "iommu_ioas_map");
  return {
    size: u32(dv, 0),
    flags,
    ioasId: u32(dv, 8),
    userVa: u64(dv, 16),
    length: u64(dv, 24),
    iova: u64(dv, 32),
  };
}

/** Encodes `struct iommu_ioas_map`. */
export function encodeIommuIoasMap(s: IommuIoasMap): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_MAP_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.flags);
  setU32(dv, 8, s.ioasId);
  setU64(dv, 16, s.userVa);
  setU64(dv, 24, s.length);
  setU64(dv, 32, s.iova);
  return out;
}

/** Decodes `struct iommu_ioas_copy`; flags follow the MAP rules (`EOPNOTSUPP` for unknown ones). */
export function decodeIommuIoasCopy(bytes: Uint8Array): IommuIoasCopy {
  const dv = readIommufd(bytes, IOMMU_IOAS_COPY_SIZE, IOMMU_IOAS_COPY_SIZE, "iommu_ioas_copy");
  const flags = u32(dv, 4);
  checkMapFlags(flags, 0, "iommu_ioas_copy");
  return {
    size: u32(dv, 0),
    flags,
    dstIoasId: u32(dv, 8),
    srcIoasId: u32(dv, 12),
    length: u64(dv, 16),
    dstIova: u64(dv, 24),
    srcIova: u64(dv, 32),
  };
}

/** Encodes `struct iommu_ioas_copy`. */
export function encodeIommuIoasCopy(s: IommuIoasCopy): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_COPY_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.flags);
  setU32(dv, 8, s.dstIoasId);
  setU32(dv, 12, s.srcIoasId);
  setU64(dv, 16, s.length);
  setU64(dv, 24, s.dstIova);
  setU64(dv, 32, s.srcIova);
  return out;
}

/** Decodes `struct iommu_ioas_unmap` (generic size rules only). */
export function decodeIommuIoasUnmap(bytes: Uint8Array): IommuIoasUnmap {
  const dv = readIommufd(bytes, IOMMU_IOAS_UNMAP_SIZE, IOMMU_IOAS_UNMAP_SIZE, "iommu_ioas_unmap");
  return { size: u32(dv, 0), ioasId: u32(dv, 4), iova: u64(dv, 8), length: u64(dv, 16) };
}

/** Encodes `struct iommu_ioas_unmap`. */
export function encodeIommuIoasUnmap(s: IommuIoasUnmap): Uint8Array {
  const out = new Uint8Array(IOMMU_IOAS_UNMAP_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.ioasId);
  setU64(dv, 8, s.iova);
  setU64(dv, 16, s.length);
  return out;
}

/**
 * The bytes an iommufd command writes back: the kernel copies `min(user size, sizeof)` of its
 * struct (`iommufd_ucmd_respond`), so an older, shorter caller struct is never overrun.
 */
export function iommufdResponse(encoded: Uint8Array, userSize: number): Uint8Array {
  return encoded.subarray(0, Math.min(userSize, encoded.length));
}
