/**
 * Dirty-page tracking of the type1 IOMMU (`VFIO_IOMMU_DIRTY_PAGES`: vfio_iommu_type1_dirty_pages,
 * vfio_iova_dirty_bitmap, update_user_bitmap): one bitmap per mapping at the smallest page size,
 * START/STOP, GET_BITMAP into the user's buffer, and the report an UNMAP with GET_DIRTY_BITMAP makes.
 *
 * A mapping's bitmap is created when a bit is first set (or at START from its pinned pages), which
 * is the same as allocating a zeroed one for every mapping up front.
 */
import { IommuError } from "@iommu-sim/iommu";
import {
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
} from "../uapi/constants.js";
import { decodeVfioDirtyBitmap } from "../uapi/structs.js";
import { hex, toU64, U64_MAX, type U64Like } from "../util/u64.js";
import { type DmaList, type DmaUnmapDirty, type VfioDma, verifyBitmapSize } from "./dma-list.js";

/** Options of {@link createDirtyTracker}. */
export interface DirtyTrackerOptions<O = unknown> {
  /** The mappings tracked. */
  list: DmaList<O>;
  /**
   * Whether some IOMMU-backed group has not declared a pinned-page dirty scope
   * (`iommu->num_non_pinned_groups != 0`): its devices may write anywhere, so every page of an
   * IOMMU-mapped range is reported dirty. True for any ordinary vfio-pci device. Read at each report.
   * @default () => true
   */
  allPagesDirty?: () => boolean;
  /**
   * Pages of `dma` pinned through `vfio_pin_pages` (mdev-style external pins), as page indexes at the
   * smallest page size: dirty for as long as they stay pinned.
   * @default none
   */
  externalPins?: (dma: VfioDma<O>) => Iterable<number>;
}

/** The GET_BITMAP request: `struct vfio_iommu_type1_dirty_bitmap_get`. */
export interface DirtyBitmapRequest {
  iova: U64Like;
  size: U64Like;
  /** `pgsize` and `size` of the user's `vfio_bitmap` (its `data` pointer is the caller's business). */
  bitmap: { pgsize: U64Like; size: U64Like };
}

/** Dirty tracking of one container, from {@link createDirtyTracker}. */
export interface DirtyTracker<O = unknown> {
  /** `iommu->dirty_page_tracking`. */
  readonly tracking: boolean;
  /**
   * START: begins tracking, each mapping's bitmap seeded with its externally pinned pages.
   * Idempotent. `EACCES` on a TYPE1 (v1) container.
   */
  start(): void;
  /** STOP: ends tracking and drops the bitmaps. Idempotent. `EACCES` on a v1 container. */
  stop(): void;
  /**
   * Marks `[iova, iova + length)` dirty in the mappings it overlaps (a `vfio_dma_rw` write, or a
   * `vfio_pin_pages` pin). Ignored while not tracking, as the kernel only sets bits then.
   */
  markDirty(iova: U64Like, length: U64Like): void;
  /**
   * GET_BITMAP into `out`, the user's bitmap buffer (`bitmap.size` bytes, u64 words, bit n = the page
   * at `iova + n * pgsize`). Checks in order, all `EINVAL`: range wraps; `out` missing or shorter than
   * `bitmap.size` (not accessible); bitmap size (`verify_bitmap_size`); `bitmap.pgsize` not the
   * smallest page size; unaligned `iova`; zero or unaligned `size`; tracking off; a mapping bisected
   * at either end. Each mapping starting in the range is reported (see {@link report}) and its bitmap
   * reset to its pinned pages. `EACCES` on a v1 container.
   */
  getBitmap(request: DirtyBitmapRequest, out: Uint8Array | undefined): void;
  /**
   * Writes `dma`'s dirty pages into `out` as bits from `baseIova` (`update_user_bitmap`): all pages
   * when {@link DirtyTrackerOptions.allPagesDirty} holds and the mapping is IOMMU-mapped. The
   * mapping's bits are shifted to their position; the u64 word where they start is OR-ed with what
   * the user had there; the words they cover are overwritten. `EFAULT` if that runs past `out`.
   */
  report(dma: VfioDma<O>, baseIova: U64Like, out: Uint8Array): void;
  /**
   * The `dirty` part of an UNMAP request with GET_DIRTY_BITMAP, reporting each removed mapping into
   * `out` relative to `baseIova` (the unmap's iova).
   */
  forUnmap(bitmap: { pgsize: U64Like; size: U64Like }, baseIova: U64Like, out: Uint8Array): DmaUnmapDirty<O>;
  /**
   * The whole `VFIO_IOMMU_DIRTY_PAGES` ioctl over the caller's struct bytes: v1 container `EACCES`
   * first, then the struct checks of `decodeVfioDirtyBitmap`, then START, STOP or GET_BITMAP into
   * `out`.
   */
  ioctl(bytes: Uint8Array, out?: Uint8Array): void;
  /** The mapping's current bits as a copy (tests and debugging), one byte per 8 pages, LSB first. */
  bitsOf(dma: VfioDma<O>): Uint8Array;
}

/**
 * Creates the dirty tracker of a type1 container over its mapping list. Tracking starts off.
 */
export function createDirtyTracker<O = unknown>(options: DirtyTrackerOptions<O>): DirtyTracker<O> {
  const { list } = options;
  const allPagesDirty = options.allPagesDirty ?? (() => true);
  const externalPins = options.externalPins;
  let tracking = false;
  // Only mappings with a set bit have an entry; removed mappings drop out with their objects.
  let bitmaps = new WeakMap<VfioDma<O>, Uint8Array>();

  const pagesOf = (dma: VfioDma<O>): number => dma.size / list.minPageSize;

  const requireV2 = (): void => {
    if (!list.v2) throw new IommuError("EACCES", "DIRTY_PAGES: dirty tracking needs a TYPE1v2 container");
  };

  /** Creates the mapping's bitmap holding just its externally pinned pages (`vfio_dma_populate_bitmap`). */
  const populate = (dma: VfioDma<O>): void => {
    bitmaps.delete(dma);
    if (!externalPins) return;
    let bits: Uint8Array | undefined;
    for (const page of externalPins(dma)) {
      bits ??= new Uint8Array(Math.ceil(pagesOf(dma) / 8));
      bits[page >>> 3]! |= 1 << (page & 7);
    }
    if (bits) bitmaps.set(dma, bits);
  };

  const report = (dma: VfioDma<O>, baseIova: U64Like, out: Uint8Array): void => {
    const pgsize = list.minPageSize;
    const nbits = pagesOf(dma);
    const bitOffset = (dma.iova - Number(toU64(baseIova, "bitmap base"))) / pgsize;
    if (bitOffset < 0)
      throw new IommuError("EINVAL", `dirty bitmap: mapping ${hex(dma.iova)} below the base`);
    const firstWord = Math.floor(bitOffset / 64);
    const shift = bitOffset % 64;
    const words = Math.ceil((nbits + shift) / 64);
    const at = firstWord * 8;
    if (at + words * 8 > out.length) {
      throw new IommuError(
        "EFAULT",
        `dirty bitmap: ${words} words at byte ${at} run past ${out.length} bytes`,
      );
    }
    const staged = new Uint8Array(words * 8);
    const everything = dma.iommuMapped && allPagesDirty();
    const source = everything ? undefined : bitmaps.get(dma);
    if (everything || source) {
      // Copy the mapping's bits to bit position `shift`, byte by byte.
      const byteShift = shift >>> 3;
      const bitShift = shift & 7;
      const bytes = Math.ceil(nbits / 8);
      for (let k = 0; k < bytes; k++) {
        let b = everything ? 0xff : source![k]!;
        if (k === bytes - 1 && nbits % 8 !== 0) b &= (1 << (nbits % 8)) - 1;
        if (b === 0) continue;
        const to = byteShift + k;
        staged[to]! |= (b << bitShift) & 0xff;
        if (bitShift !== 0) staged[to + 1]! |= b >>> (8 - bitShift);
      }
    }
    // The user's first word is merged only when the bits do not start on a word boundary; a
    // whole-word OR, as the kernel's bitmap_or on the word does.
    if (shift !== 0) for (let i = 0; i < 8; i++) staged[i]! |= out[at + i]!;
    out.set(staged, at);
  };

  const self: DirtyTracker<O> = {
    get tracking() {
      return tracking;
    },

    start() {
      requireV2();
      if (tracking) return;
      bitmaps = new WeakMap();
      for (const dma of list.mappings()) populate(dma);
      tracking = true;
    },

    stop() {
      requireV2();
      if (!tracking) return;
      tracking = false;
      bitmaps = new WeakMap();
    },

    markDirty(iova, length) {
      if (!tracking) return;
      const start = Number(toU64(iova, "iova"));
      const end = start + Number(toU64(length, "length"));
      const pgsize = list.minPageSize;
      for (const dma of list.overlapping(start, end)) {
        let bits = bitmaps.get(dma);
        if (!bits) {
          bits = new Uint8Array(Math.ceil(pagesOf(dma) / 8));
          bitmaps.set(dma, bits);
        }
        const first = Math.floor((Math.max(start, dma.iova) - dma.iova) / pgsize);
        const last = Math.ceil((Math.min(end, dma.iova + dma.size) - dma.iova) / pgsize);
        for (let page = first; page < last; page++) bits[page >>> 3]! |= 1 << (page & 7);
      }
    },

    getBitmap(request, out) {
      requireV2();
      const iova = toU64(request.iova, "GET_BITMAP iova");
      const size = toU64(request.size, "GET_BITMAP size");
      const bitmapPgsize = toU64(request.bitmap.pgsize, "bitmap pgsize");
      const bitmapSize = toU64(request.bitmap.size, "bitmap size");
      if (iova + size > U64_MAX)
        throw new IommuError("EINVAL", `GET_BITMAP: ${hex(iova)}+${hex(size)} wraps`);
      if (!out || BigInt(out.length) < bitmapSize) {
        throw new IommuError("EINVAL", `GET_BITMAP: bitmap of ${bitmapSize} bytes is not accessible`);
      }
      verifyBitmapSize(size, bitmapPgsize, bitmapSize);
      const pgsize = BigInt(list.minPageSize);
      if (bitmapPgsize !== pgsize) {
        throw new IommuError("EINVAL", `GET_BITMAP: pgsize ${hex(bitmapPgsize)} is not ${hex(pgsize)}`);
      }
      if (iova % pgsize !== 0n) throw new IommuError("EINVAL", `GET_BITMAP: iova ${hex(iova)} unaligned`);
      if (size === 0n || size % pgsize !== 0n)
        throw new IommuError("EINVAL", `GET_BITMAP: size ${hex(size)}`);
      if (!tracking) throw new IommuError("EINVAL", "GET_BITMAP: dirty tracking is not started");
      const head = list.find(iova, 0);
      if (head && BigInt(head.iova) !== iova) {
        throw new IommuError("EINVAL", `GET_BITMAP: ${hex(iova)} bisects the mapping at ${hex(head.iova)}`);
      }
      const last = iova + size - 1n;
      const tail = list.find(last, 0);
      if (tail && BigInt(tail.iova + tail.size) !== iova + size) {
        throw new IommuError("EINVAL", `GET_BITMAP: ${hex(last)} bisects the mapping at ${hex(tail.iova)}`);
      }
      const start = Number(iova);
      const end = Number(iova + size);
      for (const dma of list.overlapping(start, end)) {
        if (dma.iova < start) continue;
        report(dma, iova, out);
        // What stays dirty after reporting: the pages still pinned.
        populate(dma);
      }
    },

    report,

    forUnmap(bitmap, baseIova, out) {
      return {
        tracking,
        pgsize: bitmap.pgsize,
        bitmapSize: bitmap.size,
        report: (dma) => report(dma, baseIova, out),
      };
    },

    ioctl(bytes, out) {
      requireV2();
      const request = decodeVfioDirtyBitmap(bytes);
      if (request.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_START) self.start();
      else if (request.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) self.stop();
      else if (request.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP) self.getBitmap(request.get!, out);
    },

    bitsOf(dma) {
      const bits = bitmaps.get(dma);
      return bits ? bits.slice() : new Uint8Array(Math.ceil(pagesOf(dma) / 8));
    },
  };
  return self;
}
