/**
 * Byte-exact encoders and decoders of the VFIO type1 UAPI structs (include/uapi/linux/vfio.h),
 * little-endian. Each decoder does the checks the kernel's ioctl handler does before it looks at
 * the values: the buffer must hold `minsz` bytes (`copy_from_user`, else `EFAULT`), `argsz` must
 * cover `minsz` and no unknown flag may be set (`EINVAL`). Value checks (alignment, overlap) belong
 * to the type1 logic that consumes the decoded struct.
 *
 * Offsets were computed by hand from the C declarations with natural alignment (LP64: pointers and
 * `__u64` are 8-byte aligned) and are pinned by tests.
 */
import { IommuError } from "@iommu-sim/iommu";
import { needBytes, setU32, setU64, u32, u64, view } from "./bytes.js";
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

// struct vfio_group_status { __u32 argsz; __u32 flags; }
//   offsetof: argsz 0, flags 4; sizeof 8
/** `sizeof(struct vfio_group_status)`; also its `minsz` (`offsetofend(flags)`). */
export const VFIO_GROUP_STATUS_SIZE = 8;

// struct vfio_iommu_type1_dma_map { __u32 argsz; __u32 flags; __u64 vaddr; __u64 iova; __u64 size; }
//   offsetof: argsz 0, flags 4, vaddr 8, iova 16, size 24; sizeof 32 = minsz (offsetofend(size))
/** `sizeof(struct vfio_iommu_type1_dma_map)` and its `minsz`. */
export const VFIO_DMA_MAP_SIZE = 32;

// struct vfio_iommu_type1_dma_unmap { __u32 argsz; __u32 flags; __u64 iova; __u64 size; __u8 data[]; }
//   offsetof: argsz 0, flags 4, iova 8, size 16, data 24; sizeof 24 = minsz (offsetofend(size))
/** `sizeof(struct vfio_iommu_type1_dma_unmap)` and its `minsz`; a `vfio_bitmap` may follow at this offset. */
export const VFIO_DMA_UNMAP_SIZE = 24;

// struct vfio_bitmap { __u64 pgsize; __u64 size; __u64 __user *data; }
//   offsetof: pgsize 0, size 8, data 16; sizeof 24
/** `sizeof(struct vfio_bitmap)`. */
export const VFIO_BITMAP_SIZE = 24;

// struct vfio_iommu_type1_dirty_bitmap { __u32 argsz; __u32 flags; __u8 data[]; }
//   offsetof: argsz 0, flags 4, data 8; sizeof 8 = minsz
/** `sizeof(struct vfio_iommu_type1_dirty_bitmap)` and its `minsz`. */
export const VFIO_DIRTY_BITMAP_SIZE = 8;

// struct vfio_iommu_type1_dirty_bitmap_get { __u64 iova; __u64 size; struct vfio_bitmap bitmap; }
//   offsetof: iova 0, size 8, bitmap 16 (pgsize 16, size 24, data 32); sizeof 40
/** `sizeof(struct vfio_iommu_type1_dirty_bitmap_get)`, the GET_BITMAP payload after the 8-byte header. */
export const VFIO_DIRTY_BITMAP_GET_SIZE = 40;

const MAP_FLAGS = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
const UNMAP_FLAGS =
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
const DIRTY_FLAGS =
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;

/** `struct vfio_group_status`. */
export interface VfioGroupStatus {
  argsz: number;
  /** `VFIO_GROUP_FLAGS_*`. */
  flags: number;
}

/** `struct vfio_iommu_type1_dma_map` (`VFIO_IOMMU_MAP_DMA`). */
export interface VfioDmaMap {
  argsz: number;
  /** `VFIO_DMA_MAP_FLAG_*`. */
  flags: number;
  /** Process virtual address of the memory. */
  vaddr: bigint;
  /** IO virtual address to map it at. */
  iova: bigint;
  /** Bytes. */
  size: bigint;
}

/** `struct vfio_bitmap`: where `VFIO_IOMMU_DIRTY_PAGES` and UNMAP report dirty pages. */
export interface VfioBitmap {
  /** Page size each bit stands for. */
  pgsize: bigint;
  /** Bytes of the user's bitmap buffer. */
  size: bigint;
  /** User virtual address of the bitmap buffer. */
  data: bigint;
}

/** `struct vfio_iommu_type1_dma_unmap` (`VFIO_IOMMU_UNMAP_DMA`), with its trailing bitmap when requested. */
export interface VfioDmaUnmap {
  argsz: number;
  /** `VFIO_DMA_UNMAP_FLAG_*`. */
  flags: number;
  iova: bigint;
  /** Bytes to unmap; the kernel writes back the bytes actually unmapped. */
  size: bigint;
  /** Present (and required) with `VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP`. */
  bitmap?: VfioBitmap;
}

/** `struct vfio_iommu_type1_dirty_bitmap_get`. */
export interface VfioDirtyBitmapGet {
  iova: bigint;
  size: bigint;
  bitmap: VfioBitmap;
}

/** `struct vfio_iommu_type1_dirty_bitmap` (`VFIO_IOMMU_DIRTY_PAGES`), with its GET_BITMAP payload. */
export interface VfioDirtyBitmap {
  argsz: number;
  /** Exactly one `VFIO_IOMMU_DIRTY_PAGES_FLAG_*`. */
  flags: number;
  /** Present with `VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP`. */
  get?: VfioDirtyBitmapGet;
}

function readArgszFlags(bytes: Uint8Array, minsz: number, known: number, what: string): [number, number] {
  needBytes(bytes, minsz, what);
  const dv = view(bytes);
  const argsz = u32(dv, 0);
  const flags = u32(dv, 4);
  if (argsz < minsz) throw new IommuError("EINVAL", `${what}: argsz ${argsz} < minsz ${minsz}`);
  if ((flags & ~known) !== 0) {
    throw new IommuError("EINVAL", `${what}: unknown flags 0x${(flags & ~known).toString(16)}`);
  }
  return [argsz, flags];
}

function readBitmap(dv: DataView, offset: number): VfioBitmap {
  return { pgsize: u64(dv, offset), size: u64(dv, offset + 8), data: u64(dv, offset + 16) };
}

function writeBitmap(dv: DataView, offset: number, bitmap: VfioBitmap): void {
  setU64(dv, offset, bitmap.pgsize);
  setU64(dv, offset + 8, bitmap.size);
  setU64(dv, offset + 16, bitmap.data);
}

/** Encodes `struct vfio_group_status` (8 bytes). */
export function encodeVfioGroupStatus(status: VfioGroupStatus): Uint8Array {
  const out = new Uint8Array(VFIO_GROUP_STATUS_SIZE);
  const dv = view(out);
  setU32(dv, 0, status.argsz);
  setU32(dv, 4, status.flags);
  return out;
}

/**
 * Decodes `struct vfio_group_status` as `VFIO_GROUP_GET_STATUS` reads it: `argsz < 8` is `EINVAL`.
 * The flags are output-only, so none is refused.
 */
export function decodeVfioGroupStatus(bytes: Uint8Array): VfioGroupStatus {
  needBytes(bytes, VFIO_GROUP_STATUS_SIZE, "vfio_group_status");
  const dv = view(bytes);
  const argsz = u32(dv, 0);
  if (argsz < VFIO_GROUP_STATUS_SIZE) throw new IommuError("EINVAL", `vfio_group_status: argsz ${argsz} < 8`);
  return { argsz, flags: u32(dv, 4) };
}

/** Encodes `struct vfio_iommu_type1_dma_map` (32 bytes). */
export function encodeVfioDmaMap(map: VfioDmaMap): Uint8Array {
  const out = new Uint8Array(VFIO_DMA_MAP_SIZE);
  const dv = view(out);
  setU32(dv, 0, map.argsz);
  setU32(dv, 4, map.flags);
  setU64(dv, 8, map.vaddr);
  setU64(dv, 16, map.iova);
  setU64(dv, 24, map.size);
  return out;
}

/**
 * Decodes `struct vfio_iommu_type1_dma_map` as `vfio_iommu_type1_map_dma` does: `argsz < 32` or a
 * flag outside READ|WRITE|VADDR is `EINVAL`; fewer than 32 readable bytes is `EFAULT`.
 */
export function decodeVfioDmaMap(bytes: Uint8Array): VfioDmaMap {
  const [argsz, flags] = readArgszFlags(bytes, VFIO_DMA_MAP_SIZE, MAP_FLAGS, "vfio_iommu_type1_dma_map");
  const dv = view(bytes);
  return { argsz, flags, vaddr: u64(dv, 8), iova: u64(dv, 16), size: u64(dv, 24) };
}

/** Encodes `struct vfio_iommu_type1_dma_unmap` (24 bytes, 48 with a bitmap). */
export function encodeVfioDmaUnmap(unmap: VfioDmaUnmap): Uint8Array {
  const out = new Uint8Array(VFIO_DMA_UNMAP_SIZE + (unmap.bitmap ? VFIO_BITMAP_SIZE : 0));
  const dv = view(out);
  setU32(dv, 0, unmap.argsz);
  setU32(dv, 4, unmap.flags);
  setU64(dv, 8, unmap.iova);
  setU64(dv, 16, unmap.size);
  if (unmap.bitmap) writeBitmap(dv, VFIO_DMA_UNMAP_SIZE, unmap.bitmap);
  return out;
}

/**
 * Decodes `struct vfio_iommu_type1_dma_unmap` as `vfio_iommu_type1_unmap_dma` does, in its order:
 * `argsz < 24` or unknown flags `EINVAL`; GET_DIRTY_BITMAP with ALL or VADDR `EINVAL`; with
 * GET_DIRTY_BITMAP `argsz < 48` `EINVAL`, and the trailing `vfio_bitmap` is read. The bitmap size
 * check (`verify_bitmap_size`) is the type1 logic's, as it needs the page size.
 */
export function decodeVfioDmaUnmap(bytes: Uint8Array): VfioDmaUnmap {
  const what = "vfio_iommu_type1_dma_unmap";
  const [argsz, flags] = readArgszFlags(bytes, VFIO_DMA_UNMAP_SIZE, UNMAP_FLAGS, what);
  const dv = view(bytes);
  const unmap: VfioDmaUnmap = { argsz, flags, iova: u64(dv, 8), size: u64(dv, 16) };
  if ((flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) === 0) return unmap;
  if ((flags & (VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR)) !== 0) {
    throw new IommuError("EINVAL", `${what}: GET_DIRTY_BITMAP cannot be combined with ALL or VADDR`);
  }
  const full = VFIO_DMA_UNMAP_SIZE + VFIO_BITMAP_SIZE;
  if (argsz < full) throw new IommuError("EINVAL", `${what}: argsz ${argsz} leaves no room for vfio_bitmap`);
  needBytes(bytes, full, what);
  unmap.bitmap = readBitmap(dv, VFIO_DMA_UNMAP_SIZE);
  return unmap;
}

/** Encodes `struct vfio_iommu_type1_dirty_bitmap` (8 bytes, 48 with a GET_BITMAP payload). */
export function encodeVfioDirtyBitmap(dirty: VfioDirtyBitmap): Uint8Array {
  const out = new Uint8Array(VFIO_DIRTY_BITMAP_SIZE + (dirty.get ? VFIO_DIRTY_BITMAP_GET_SIZE : 0));
  const dv = view(out);
  setU32(dv, 0, dirty.argsz);
  setU32(dv, 4, dirty.flags);
  if (dirty.get) {
    setU64(dv, 8, dirty.get.iova);
    setU64(dv, 16, dirty.get.size);
    writeBitmap(dv, 24, dirty.get.bitmap);
  }
  return out;
}

/**
 * Decodes `struct vfio_iommu_type1_dirty_bitmap` as `vfio_iommu_type1_dirty_pages` does (after its
 * v1-container `EACCES` check, which needs the container): `argsz < 8` or unknown flags `EINVAL`;
 * not exactly one of START/STOP/GET_BITMAP `EINVAL`; GET_BITMAP with fewer than 40 bytes of payload
 * (`argsz - minsz < sizeof(vfio_iommu_type1_dirty_bitmap_get)`) `EINVAL`.
 */
export function decodeVfioDirtyBitmap(bytes: Uint8Array): VfioDirtyBitmap {
  const what = "vfio_iommu_type1_dirty_bitmap";
  const [argsz, flags] = readArgszFlags(bytes, VFIO_DIRTY_BITMAP_SIZE, DIRTY_FLAGS, what);
  if (flags === 0 || (flags & (flags - 1)) !== 0) {
    throw new IommuError("EINVAL", `${what}: flags 0x${flags.toString(16)} must be exactly one operation`);
  }
  if (flags !== VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP) return { argsz, flags };
  if (argsz - VFIO_DIRTY_BITMAP_SIZE < VFIO_DIRTY_BITMAP_GET_SIZE) {
    throw new IommuError("EINVAL", `${what}: argsz ${argsz} leaves no room for the GET_BITMAP range`);
  }
  needBytes(bytes, VFIO_DIRTY_BITMAP_SIZE + VFIO_DIRTY_BITMAP_GET_SIZE, what);
  const dv = view(bytes);
  return { argsz, flags, get: { iova: u64(dv, 8), size: u64(dv, 16), bitmap: readBitmap(dv, 24) } };
}
