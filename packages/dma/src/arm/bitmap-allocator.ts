/**
 * The IOVA allocator of ARM32's `struct dma_iommu_mapping` (arch/arm/mm/dma-mapping.c,
 * CONFIG_ARM_DMA_USE_IOMMU): first-fit over page bitmaps of at most one page each, allocated on
 * demand up to `extensions` of them, with allocations aligned to their order (capped by
 * CONFIG_ARM_DMA_IOMMU_ALIGNMENT) and never spanning two bitmaps. Bitmaps are `Uint32Array`s, the
 * `unsigned long` words of a 32-bit kernel.
 */
import { IommuError } from "@iommu-sim/iommu";
import { DMA_MAPPING_ERROR } from "../direction.js";

/** Default of `CONFIG_ARM_DMA_IOMMU_ALIGNMENT` (Kconfig range 4..9): at most 2^8 pages of alignment. */
export const ARM_DMA_IOMMU_ALIGNMENT = 8;

/** Options of {@link createArmBitmapAllocator}: the arguments of `arm_iommu_create_mapping()`. */
export interface ArmBitmapAllocatorOptions {
  /** First IOVA of the mapping. */
  base: bigint;
  /** Bytes of IOVA space; at most 4 GiB. */
  size: bigint;
  /** `PAGE_SHIFT`. @default 12 */
  pageShift?: number;
  /** `CONFIG_ARM_DMA_IOMMU_ALIGNMENT`, in 4..9. @default ARM_DMA_IOMMU_ALIGNMENT (8) */
  alignmentOrder?: number;
}

/** A copy of the allocator's state, for before/after comparisons. */
export interface ArmBitmapSnapshot {
  readonly nrBitmaps: number;
  /** Words of each allocated bitmap. */
  readonly bitmaps: readonly (readonly number[])[];
}

/** The bitmap IOVA allocator of one ARM mapping, made by {@link createArmBitmapAllocator}. */
export interface ArmBitmapAllocator {
  /** `mapping->base`. */
  readonly base: bigint;
  /** `mapping->bits`: pages per bitmap, `8 * bitmapSize` (a whole number of words, even past `size`). */
  readonly bits: number;
  /** `mapping->bitmap_size`: bytes per bitmap, at most a page. */
  readonly bitmapSize: number;
  /** `mapping->extensions`: the most bitmaps the mapping may grow to. */
  readonly extensions: number;
  /** `mapping->nr_bitmaps`: bitmaps allocated so far (1 at creation). */
  readonly nrBitmaps: number;
  /** Bytes of IOVA space one bitmap covers, `bits << PAGE_SHIFT`. */
  readonly mappingSize: number;
  /** Pages currently allocated. */
  readonly usedPages: number;
  /**
   * `__alloc_iova(mapping, size)`: the lowest free run of `PAGE_ALIGN(size)` pages aligned to
   * `1 << min(get_order(size), alignmentOrder)` pages in the first bitmap that has one, else in a new
   * bitmap if `extensions` allows. Returns the IOVA, or `DMA_MAPPING_ERROR` when nothing fits.
   * @throws IommuError EINVAL if `size` is not a positive integer.
   */
  allocIova(size: number): bigint;
  /** {@link allocIova} returning the offset from `base` as a number, or -1 when nothing fits. */
  allocIovaOffset(size: number): number;
  /**
   * `__free_iova(mapping, addr, size)`: clears the pages of `[addr, addr + size)`. Size 0 does nothing.
   * @throws IommuError EINVAL where Linux BUGs (address below base or in a bitmap beyond the
   *   allocated ones, range reaching into the next bitmap) and for a range with pages not allocated
   *   (a double free, which Linux does not notice).
   */
  freeIova(addr: bigint, size: number): void;
  /** Copy of the state. */
  snapshot(): ArmBitmapSnapshot;
}

/** Index of the first zero bit at or after `start` below `size`, or `size`. */
function findNextZeroBit(map: Uint32Array, size: number, start: number): number {
  let i = start;
  while (i < size) {
    const w = i >>> 5;
    const inv = ~map[w]! & (0xffffffff << (i & 31));
    if (inv !== 0) {
      const bit = (w << 5) + (31 - Math.clz32(inv & -inv));
      return Math.min(bit, size);
    }
    i = (w + 1) << 5;
  }
  return size;
}

/** Index of the first set bit at or after `start` below `size`, or `size`. */
function findNextBit(map: Uint32Array, size: number, start: number): number {
  let i = start;
  while (i < size) {
    const w = i >>> 5;
    const v = map[w]! & (0xffffffff << (i & 31));
    if (v !== 0) {
      const bit = (w << 5) + (31 - Math.clz32(v & -v));
      return Math.min(bit, size);
    }
    i = (w + 1) << 5;
  }
  return size;
}

/** `bitmap_find_next_zero_area(map, size, 0, nr, alignMask)`: an index, or a value > size on failure. */
function findZeroArea(map: Uint32Array, size: number, nr: number, alignMask: number): number {
  let start = 0;
  for (;;) {
    let index = findNextZeroBit(map, size, start);
    index = (index + alignMask) & ~alignMask;
    const end = index + nr;
    if (end > size) return end;
    const i = findNextBit(map, end, index);
    if (i >= end) return index;
    start = i + 1;
  }
}

function setBits(map: Uint32Array, start: number, count: number, value: boolean): void {
  for (let i = start; i < start + count; i++) {
    if (value) map[i >>> 5] = map[i >>> 5]! | (1 << (i & 31));
    else map[i >>> 5] = map[i >>> 5]! & ~(1 << (i & 31));
  }
}

/**
 * Creates the allocator of a new mapping, as `arm_iommu_create_mapping()` sizes it:
 * `bits = size >> PAGE_SHIFT`, `bitmap_size = BITS_TO_LONGS(bits) * 4`; above a page the bitmap is
 * split into `bitmap_size / PAGE_SIZE` extensions of one page each; `bits` becomes `8 * bitmap_size`.
 * Only the first bitmap exists at first.
 * @throws IommuError ERANGE if `size` exceeds 4 GiB; EINVAL if it is under a page (no bitmap) or an
 *   option is out of range.
 */
export function createArmBitmapAllocator(options: ArmBitmapAllocatorOptions): ArmBitmapAllocator {
  const { base, size } = options;
  const pageShift = options.pageShift ?? 12;
  const alignmentOrder = options.alignmentOrder ?? ARM_DMA_IOMMU_ALIGNMENT;
  if (!Number.isInteger(pageShift) || pageShift < 10 || pageShift > 20) {
    throw new IommuError("EINVAL", `page shift ${String(pageShift)} is not an integer in 10..20`);
  }
  if (!Number.isInteger(alignmentOrder) || alignmentOrder < 4 || alignmentOrder > 9) {
    throw new IommuError("EINVAL", `CONFIG_ARM_DMA_IOMMU_ALIGNMENT ${String(alignmentOrder)} is not in 4..9`);
  }
  if (base < 0n) throw new IommuError("EINVAL", `mapping base ${base} is negative`);
  if (size > 1n << 32n) {
    throw new IommuError("ERANGE", `mapping size ${size} exceeds the 32-bit DMA address space (4 GiB)`);
  }
  const pageSize = 1 << pageShift;
  const initialBits = size <= 0n ? 0 : Number(size >> BigInt(pageShift));
  let bitmapSize = Math.ceil(initialBits / 32) * 4;
  if (bitmapSize === 0) {
    throw new IommuError("EINVAL", `mapping size ${size} is smaller than a page (${pageSize} bytes)`);
  }
  let extensions = 1;
  if (bitmapSize > pageSize) {
    extensions = Math.floor(bitmapSize / pageSize);
    bitmapSize = pageSize;
  }
  const bits = 8 * bitmapSize;
  const mappingSize = bits * pageSize;
  const words = bitmapSize / 4;
  const bitmaps: Uint32Array[] = [new Uint32Array(words)];
  let usedPages = 0;

  const allocOffset = (bytes: number): number => {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new IommuError("EINVAL", `IOVA allocation size ${String(bytes)} is not a positive integer`);
    }
    // get_order(size): pages of the size rounded up to a power of two, as an order.
    let order = 32 - Math.clz32(Math.floor((bytes - 1) / pageSize));
    if (order > alignmentOrder) order = alignmentOrder;
    const count = Math.ceil(bytes / pageSize);
    const alignMask = (1 << order) - 1;
    let i = 0;
    let start = 0;
    for (; i < bitmaps.length; i++) {
      start = findZeroArea(bitmaps[i]!, bits, count, alignMask);
      if (start <= bits) break;
    }
    if (i === bitmaps.length) {
      // `extend_iommu_mapping()`, then one try in the new bitmap only.
      if (bitmaps.length >= extensions) return -1;
      bitmaps.push(new Uint32Array(words));
      start = findZeroArea(bitmaps[i]!, bits, count, alignMask);
      if (start > bits) return -1;
    }
    setBits(bitmaps[i]!, start, count, true);
    usedPages += count;
    return i * mappingSize + start * pageSize;
  };

  return {
    base,
    bits,
    bitmapSize,
    extensions,
    mappingSize,
    get nrBitmaps() {
      return bitmaps.length;
    },
    get usedPages() {
      return usedPages;
    },
    allocIovaOffset: allocOffset,
    allocIova(bytes) {
      const offset = allocOffset(bytes);
      return offset < 0 ? DMA_MAPPING_ERROR : base + BigInt(offset);
    },
    freeIova(addr, bytes) {
      if (!Number.isSafeInteger(bytes) || bytes < 0) {
        throw new IommuError("EINVAL", `IOVA free size ${String(bytes)} is not a non-negative integer`);
      }
      if (bytes === 0) return;
      if (addr < base) throw new IommuError("EINVAL", `IOVA ${addr} is below the mapping base ${base}`);
      const offset = Number(addr - base);
      const index = Math.floor(offset / mappingSize);
      if (index >= bitmaps.length) {
        throw new IommuError(
          "EINVAL",
          `IOVA ${addr} is in bitmap ${index}, beyond the ${bitmaps.length} allocated (of ${extensions})`,
        );
      }
      const bitmapBase = index * mappingSize;
      if (offset + bytes > bitmapBase + mappingSize) {
        throw new IommuError("EINVAL", `IOVA range ${addr} + ${bytes} reaches into the next bitmap`);
      }
      const start = Math.floor((offset - bitmapBase) / pageSize);
      const count = Math.floor(bytes / pageSize);
      const map = bitmaps[index]!;
      if (findNextZeroBit(map, start + count, start) < start + count) {
        throw new IommuError("EINVAL", `IOVA range ${addr} + ${bytes} is not (entirely) allocated`);
      }
      setBits(map, start, count, false);
      usedPages -= count;
    },
    snapshot() {
      return { nrBitmaps: bitmaps.length, bitmaps: bitmaps.map((m) => Array.from(m)) };
    },
  };
}
