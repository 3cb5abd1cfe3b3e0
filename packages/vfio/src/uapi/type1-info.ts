/**
 * `VFIO_IOMMU_GET_INFO` for type1: `struct vfio_iommu_type1_info`, its capability chain, and the
 * argsz protocol (vfio_iommu_type1_get_info, vfio_info_cap_add, vfio_info_cap_shift).
 */
import { IommuError } from "@iommu-sim/iommu";
import { ffs64, hex, toU64, type U64Like } from "../util/u64.js";
import { needBytes, setU32, setU64, u32, u64, view } from "./bytes.js";
import {
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
} from "./constants.js";

// struct vfio_iommu_type1_info { __u32 argsz; __u32 flags; __u64 iova_pgsizes; __u32 cap_offset; __u32 pad; }
//   offsetof: argsz 0, flags 4, iova_pgsizes 8, cap_offset 16, pad 20; sizeof 24
//   minsz = offsetofend(iova_pgsizes) = 16 (the pre-capability ABI)
/** `sizeof(struct vfio_iommu_type1_info)`, where a capability chain starts. */
export const VFIO_IOMMU_TYPE1_INFO_SIZE = 24;
/** `offsetofend(struct vfio_iommu_type1_info, iova_pgsizes)`: the smallest argsz GET_INFO accepts. */
export const VFIO_IOMMU_TYPE1_INFO_MINSZ = 16;

// struct vfio_info_cap_header { __u16 id; __u16 version; __u32 next; }
//   offsetof: id 0, version 2, next 4; sizeof 8; `next` is an offset from the start of the info struct
/** `sizeof(struct vfio_info_cap_header)`. */
export const VFIO_INFO_CAP_HEADER_SIZE = 8;

// struct vfio_iommu_type1_info_cap_iova_range { header; __u32 nr_iovas; __u32 reserved;
//                                               struct vfio_iova_range { __u64 start; __u64 end; } iova_ranges[]; }
//   offsetof: header 0, nr_iovas 8, reserved 12, iova_ranges 16 (start +0, end +8, 16 each); sizeof 16
/** `sizeof(struct vfio_iommu_type1_info_cap_iova_range)` without its ranges. */
export const VFIO_CAP_IOVA_RANGE_SIZE = 16;
/** `sizeof(struct vfio_iova_range)`. */
export const VFIO_IOVA_RANGE_SIZE = 16;

// struct vfio_iommu_type1_info_cap_migration { header; __u32 flags; __u64 pgsize_bitmap; __u64 max_dirty_bitmap_size; }
//   offsetof: header 0, flags 8, (4 bytes padding to align the u64), pgsize_bitmap 16, max_dirty_bitmap_size 24; sizeof 32
/** `sizeof(struct vfio_iommu_type1_info_cap_migration)` (with its 4 padding bytes after `flags`). */
export const VFIO_CAP_MIGRATION_SIZE = 32;

// struct vfio_iommu_type1_info_dma_avail { header; __u32 avail; }
//   offsetof: header 0, avail 8; sizeof 12 (alignment 4: the header's widest member is a u32)
/** `sizeof(struct vfio_iommu_type1_info_dma_avail)`. */
export const VFIO_CAP_DMA_AVAIL_SIZE = 12;

/** `DIRTY_BITMAP_PAGES_MAX` of vfio_iommu_type1: `INT_MAX` pages per bitmap. */
export const DIRTY_BITMAP_PAGES_MAX = 0x7fff_ffff;
/** `DIRTY_BITMAP_SIZE_MAX`: bytes of a bitmap for `INT_MAX` pages, rounded to u64 words (256 MiB). */
export const DIRTY_BITMAP_SIZE_MAX = dirtyBitmapBytes(DIRTY_BITMAP_PAGES_MAX);

/** `DIRTY_BITMAP_BYTES(npages)`: bitmap bytes for `npages` bits, rounded up to whole u64 words. */
export function dirtyBitmapBytes(npages: number): number {
  return Math.ceil(npages / 64) * 8;
}

/** An IOVA range `[start, end]`, end inclusive (`struct vfio_iova_range`). */
export interface VfioIovaRange {
  start: bigint;
  end: bigint;
}

/** What type1 reports through GET_INFO. */
export interface Type1InfoState {
  /** `iommu->pgsize_bitmap`: the page sizes every domain supports (bit n = 2^n bytes). */
  pgsizeBitmap: U64Like;
  /** Mappings still allowed (`dma_avail`). */
  dmaAvail: number;
  /** Valid IOVA ranges (`iova_list`), ends inclusive; empty omits the IOVA_RANGE capability. */
  iovaRanges: readonly { start: U64Like; end: U64Like }[];
  /**
   * Pad each capability to 8 bytes so the next one is aligned (`vfio_info_cap_add` does since
   * Linux v6.6; before, DMA_AVAIL took 12 bytes and IOVA_RANGE followed unaligned).
   * @default true
   */
  alignCaps?: boolean;
}

/** A capability of the GET_INFO chain as {@link decodeType1Info} returns it. */
export type Type1InfoCap =
  | {
      id: typeof VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
      version: number;
      offset: number;
      ranges: VfioIovaRange[];
    }
  | {
      id: typeof VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
      version: number;
      offset: number;
      flags: number;
      pgsizeBitmap: bigint;
      maxDirtyBitmapSize: bigint;
    }
  | { id: typeof VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL; version: number; offset: number; avail: number }
  | { id: number; version: number; offset: number };

/** `struct vfio_iommu_type1_info` with its parsed capability chain. */
export interface Type1Info {
  argsz: number;
  flags: number;
  iovaPgsizes: bigint;
  /** 0 when absent (not written, or the caller's buffer was too small). */
  capOffset: number;
  caps: Type1InfoCap[];
}

/**
 * Builds the capability chain type1 reports, in the kernel's order (MIGRATION, DMA_AVAIL, then
 * IOVA_RANGE if the list is not empty), with `next` offsets already relative to the info struct
 * (as after `vfio_info_cap_shift(caps, sizeof(info))`).
 */
function buildCaps(state: Type1InfoState, pgsizeBitmap: bigint): Uint8Array {
  const align = state.alignCaps ?? true;
  const ranges = state.iovaRanges.map((r) => ({
    start: toU64(r.start, "range start"),
    end: toU64(r.end, "range end"),
  }));
  const sizes = [VFIO_CAP_MIGRATION_SIZE, VFIO_CAP_DMA_AVAIL_SIZE];
  if (ranges.length > 0) sizes.push(VFIO_CAP_IOVA_RANGE_SIZE + ranges.length * VFIO_IOVA_RANGE_SIZE);
  const padded = sizes.map((size) => (align ? Math.ceil(size / 8) * 8 : size));
  const total = padded.reduce((a, b) => a + b, 0);
  const out = new Uint8Array(total);
  const dv = view(out);
  const ids = [
    VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
    VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
    VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  ];
  let at = 0;
  for (let i = 0; i < padded.length; i++) {
    const next = i + 1 < padded.length ? VFIO_IOMMU_TYPE1_INFO_SIZE + at + padded[i]! : 0;
    dv.setUint16(at, ids[i]!, true);
    dv.setUint16(at + 2, 1, true);
    setU32(dv, at + 4, next);
    if (i === 0) {
      // Dirty tracking reports at the smallest supported page size only.
      setU32(dv, at + 8, 0);
      setU64(dv, at + 16, 1n << BigInt(Math.max(ffs64(pgsizeBitmap), 0)));
      setU64(dv, at + 24, DIRTY_BITMAP_SIZE_MAX);
    } else if (i === 1) {
      setU32(dv, at + 8, state.dmaAvail);
    } else {
      setU32(dv, at + 8, ranges.length);
      ranges.forEach((r, k) => {
        setU64(dv, at + 16 + k * 16, r.start);
        setU64(dv, at + 24 + k * 16, r.end);
      });
    }
    at += padded[i]!;
  }
  return out;
}

/**
 * Answers `VFIO_IOMMU_GET_INFO` for a caller whose struct says `argsz`, returning exactly the bytes
 * the kernel writes at the start of the caller's buffer (never more than `argsz`). `argsz < 16` is
 * `EINVAL`. `flags` is PGSIZES|CAPS (type1 always has capabilities). When `argsz` covers the struct
 * and the whole chain, the chain follows the struct and `cap_offset` is 24; otherwise `argsz` is
 * raised to the size needed, `cap_offset` is 0 and no capability is written, so the caller retries.
 * `cap_offset` and `pad` are only written as far as `argsz` reaches (the pre-capability ABI).
 */
export function buildType1Info(state: Type1InfoState, argsz: number): Uint8Array {
  if (!Number.isInteger(argsz) || argsz < VFIO_IOMMU_TYPE1_INFO_MINSZ) {
    throw new IommuError("EINVAL", `vfio_iommu_type1_info: argsz ${argsz} < ${VFIO_IOMMU_TYPE1_INFO_MINSZ}`);
  }
  const pgsizeBitmap = toU64(state.pgsizeBitmap, "pgsize bitmap");
  const caps = buildCaps(state, pgsizeBitmap);
  const needed = VFIO_IOMMU_TYPE1_INFO_SIZE + caps.length;
  const fits = argsz >= needed;
  const out = new Uint8Array(fits ? needed : Math.min(argsz, VFIO_IOMMU_TYPE1_INFO_SIZE));
  const header = new Uint8Array(VFIO_IOMMU_TYPE1_INFO_SIZE);
  const dv = view(header);
  setU32(dv, 0, fits ? argsz : needed);
  setU32(dv, 4, VFIO_IOMMU_INFO_PGSIZES | (caps.length > 0 ? VFIO_IOMMU_INFO_CAPS : 0));
  setU64(dv, 8, pgsizeBitmap);
  setU32(dv, 16, fits ? VFIO_IOMMU_TYPE1_INFO_SIZE : 0);
  out.set(header.subarray(0, Math.min(out.length, VFIO_IOMMU_TYPE1_INFO_SIZE)));
  if (fits) out.set(caps, VFIO_IOMMU_TYPE1_INFO_SIZE);
  return out;
}

/**
 * Applies {@link buildType1Info} to a caller's buffer in place, reading `argsz` from it (fewer than
 * 16 readable bytes is `EFAULT`); bytes past what the kernel writes are left untouched.
 */
export function applyType1Info(buffer: Uint8Array, state: Type1InfoState): void {
  needBytes(buffer, VFIO_IOMMU_TYPE1_INFO_MINSZ, "vfio_iommu_type1_info");
  const written = buildType1Info(state, u32(view(buffer), 0));
  needBytes(buffer, written.length, "vfio_iommu_type1_info");
  buffer.set(written);
}

/**
 * Parses a GET_INFO answer as user space does, walking the chain from `cap_offset`. A chain that
 * points outside the buffer, backwards (a loop), or at a capability that does not fit is `EINVAL`.
 */
export function decodeType1Info(bytes: Uint8Array): Type1Info {
  needBytes(bytes, VFIO_IOMMU_TYPE1_INFO_MINSZ, "vfio_iommu_type1_info");
  const dv = view(bytes);
  const info: Type1Info = {
    argsz: u32(dv, 0),
    flags: u32(dv, 4),
    iovaPgsizes: u64(dv, 8),
    capOffset: bytes.length >= VFIO_IOMMU_TYPE1_INFO_SIZE ? u32(dv, 16) : 0,
    caps: [],
  };
  if ((info.flags & VFIO_IOMMU_INFO_CAPS) === 0 || info.capOffset === 0) return info;
  const limit = Math.min(bytes.length, info.argsz);
  let at = info.capOffset;
  let floor = VFIO_IOMMU_TYPE1_INFO_SIZE;
  while (at !== 0) {
    if (at < floor || at + VFIO_INFO_CAP_HEADER_SIZE > limit) {
      throw new IommuError(
        "EINVAL",
        `type1 info: capability offset ${hex(at)} outside [${hex(floor)}, ${hex(limit)})`,
      );
    }
    const id = dv.getUint16(at, true);
    const version = dv.getUint16(at + 2, true);
    const next = u32(dv, at + 4);
    const fit = (size: number): void => {
      if (at + size > limit || (next !== 0 && next < at + size)) {
        throw new IommuError("EINVAL", `type1 info: capability ${id} at ${hex(at)} overruns (${size} bytes)`);
      }
    };
    if (id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
      fit(VFIO_CAP_IOVA_RANGE_SIZE);
      const n = u32(dv, at + 8);
      fit(VFIO_CAP_IOVA_RANGE_SIZE + n * VFIO_IOVA_RANGE_SIZE);
      const ranges: VfioIovaRange[] = [];
      for (let k = 0; k < n; k++)
        ranges.push({ start: u64(dv, at + 16 + 16 * k), end: u64(dv, at + 24 + 16 * k) });
      info.caps.push({ id, version, offset: at, ranges });
    } else if (id === VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION) {
      fit(VFIO_CAP_MIGRATION_SIZE);
      info.caps.push({
        id,
        version,
        offset: at,
        flags: u32(dv, at + 8),
        pgsizeBitmap: u64(dv, at + 16),
        maxDirtyBitmapSize: u64(dv, at + 24),
      });
    } else if (id === VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
      fit(VFIO_CAP_DMA_AVAIL_SIZE);
      info.caps.push({ id, version, offset: at, avail: u32(dv, at + 8) });
    } else {
      fit(VFIO_INFO_CAP_HEADER_SIZE);
      info.caps.push({ id, version, offset: at });
    }
    floor = at + VFIO_INFO_CAP_HEADER_SIZE;
    at = next;
  }
  return info;
}
