import { type AddressLike, hex, isPowerOfTwo, log2, toNumber } from "../address.js";
import { HwError } from "../errors.js";
import { PAGE_SIZE, type PhysMemory } from "./phys-memory.js";

/** Smallest block the allocator hands out; Linux aligns small page-table directories to 64 bytes. */
export const MIN_BLOCK = 64;

/**
 * log2 of `size / PAGE_SIZE` for a whole-frame block (a power of two times PAGE_SIZE). Integer
 * only for blocks below 8 TiB: `Math.log2` is a runtime call, paid on every table allocation.
 */
function orderOf(size: number): number {
  const pages = size / PAGE_SIZE;
  return pages < 0x8000_0000 ? 31 - Math.clz32(pages) : log2(pages);
}

/** Whether `bytes` (a safe integer) is a power of two, without `Math.log2` below 2^31. */
function powerOfTwo(bytes: number): boolean {
  return bytes > 0 && bytes < 0x8000_0000 ? (bytes & (bytes - 1)) === 0 : isPowerOfTwo(bytes);
}

/** Options for {@link createPageAllocator}. */
export interface PageAllocatorOptions {
  /** First physical address the allocator may hand out. @default the memory's dense window base */
  base?: AddressLike;
  /** Bytes of physical address space it manages. @default the rest of the dense window */
  size?: AddressLike;
  /** A name for messages. @default "page allocator" */
  name?: string;
}

/**
 * Hands out zeroed, naturally aligned blocks of physical memory (page-table pages and system RAM)
 * and counts what is in use. Blocks of a page or more are whole frames; smaller power-of-two blocks
 * (ARMv7 short-descriptor level-2 tables are 1 KiB) are carved from frames, which are returned when
 * their last block is freed. `failAfter(n)` makes the n-th allocation from now fail with `ENOMEM`,
 * the fault injection every layer above uses to prove it leaks nothing.
 */
export class PageAllocator {
  readonly name: string;
  readonly base: number;
  readonly end: number;
  private next: number;
  // Free whole-frame blocks by order (block = PAGE_SIZE << order).
  private readonly freeByOrder: number[][] = [];
  // Sub-page blocks: free addresses by size, and live blocks per carved frame.
  private readonly freeSmall = new Map<number, number[]>();
  private readonly smallLive = new Map<number, number>();
  private pages = 0;
  private peak = 0;
  private bytes = 0;
  private live = 0;
  private failCountdown = 0;

  constructor(
    readonly memory: PhysMemory,
    options: PageAllocatorOptions = {},
  ) {
    this.name = options.name ?? "page allocator";
    const base = toNumber(options.base ?? memory.denseBasePfn * PAGE_SIZE, "allocator base");
    const size = toNumber(options.size ?? memory.denseEndPfn * PAGE_SIZE - base, "allocator size");
    if (base % PAGE_SIZE || size % PAGE_SIZE || size === 0) {
      throw new HwError(
        "EINVAL",
        `${this.name}: region ${hex(base)}+${hex(size)} must be non-empty and 4 KiB aligned`,
      );
    }
    if (base + size > memory.limit)
      throw new HwError("ERANGE", `${this.name}: region ends beyond physical memory`);
    this.base = base;
    this.end = base + size;
    this.next = base;
  }

  /** Frames currently handed out (whole blocks plus frames carved into small blocks). */
  get pagesInUse(): number {
    return this.pages;
  }
  /** Highest value `pagesInUse` has reached. */
  get peakPagesInUse(): number {
    return this.peak;
  }
  /** Bytes currently handed out, counted at the requested block sizes. */
  get bytesInUse(): number {
    return this.bytes;
  }
  /** Blocks currently handed out. */
  get allocations(): number {
    return this.live;
  }

  /**
   * Makes the `n`-th allocation from now (1 = the next one) fail with `ENOMEM`; `0` disarms.
   * The failure fires once.
   */
  failAfter(n: number): void {
    if (!Number.isInteger(n) || n < 0)
      throw new HwError("EINVAL", `failAfter(${n}): n must be a non-negative integer`);
    this.failCountdown = n;
  }

  /**
   * Allocates a zeroed block of `bytes` (a power of two, at least 64), aligned to its size.
   * Returns its physical address as a number.
   */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || !powerOfTwo(bytes)) {
      throw new HwError("EINVAL", `${this.name}: block size ${bytes} is not a power of two`);
    }
    if (this.failCountdown > 0 && --this.failCountdown === 0) {
      throw new HwError("ENOMEM", `${this.name}: injected allocation failure`);
    }
    const size = Math.max(bytes, MIN_BLOCK);
    const pa = size >= PAGE_SIZE ? this.allocFrames(size) : this.allocSmall(size);
    this.bytes += size;
    this.live++;
    return pa;
  }

  /** Returns a block obtained from {@link alloc} with the same `bytes`. Its memory reads as zero again. */
  free(pa: number, bytes: number): void {
    const size = Math.max(bytes, MIN_BLOCK);
    if (pa < this.base || pa + size > this.end || pa % size !== 0) {
      throw new HwError(
        "EINVAL",
        `${this.name}: free of ${hex(pa)}+${size} is not a block of this allocator`,
      );
    }
    if (size >= PAGE_SIZE) this.freeFrames(pa, size);
    else this.freeSmallBlock(pa, size);
    this.bytes -= size;
    this.live--;
  }

  private allocFrames(size: number): number {
    const order = orderOf(size);
    const list = this.freeByOrder[order];
    let pa = list?.pop();
    if (pa === undefined) {
      const aligned = Math.ceil(this.next / size) * size;
      if (aligned + size > this.end) {
        throw new HwError(
          "ENOMEM",
          `${this.name}: out of memory allocating ${size} bytes (${this.pages} pages in use)`,
        );
      }
      this.recycleGap(this.next, aligned);
      pa = aligned;
      this.next = aligned + size;
    }
    this.pages += size / PAGE_SIZE;
    if (this.pages > this.peak) this.peak = this.pages;
    return pa;
  }

  // Alignment padding becomes free blocks of the largest aligned sizes that fit.
  private recycleGap(from: number, to: number): void {
    while (from < to) {
      let size = PAGE_SIZE;
      while (from % (size * 2) === 0 && from + size * 2 <= to) size *= 2;
      this.pushFree(from, size);
      from += size;
    }
  }

  private pushFree(pa: number, size: number): void {
    const order = orderOf(size);
    let list = this.freeByOrder[order];
    if (!list) {
      while (this.freeByOrder.length <= order) this.freeByOrder.push([]);
      list = this.freeByOrder[order]!;
    }
    list.push(pa);
  }

  private freeFrames(pa: number, size: number): void {
    const first = pa / PAGE_SIZE;
    for (let i = 0; i < size / PAGE_SIZE; i++) this.memory.releaseFrame(first + i);
    this.pushFree(pa, size);
    this.pages -= size / PAGE_SIZE;
  }

  private allocSmall(size: number): number {
    let list = this.freeSmall.get(size);
    if (!list || list.length === 0) {
      const frame = this.allocFrames(PAGE_SIZE);
      this.smallLive.set(frame, 0);
      list = [];
      for (let off = PAGE_SIZE - size; off >= 0; off -= size) list.push(frame + off);
      this.freeSmall.set(size, list);
    }
    const pa = list.pop()!;
    const frame = pa - (pa % PAGE_SIZE);
    this.smallLive.set(frame, (this.smallLive.get(frame) ?? 0) + 1);
    return pa;
  }

  private freeSmallBlock(pa: number, size: number): void {
    const frame = pa - (pa % PAGE_SIZE);
    const liveInFrame = this.smallLive.get(frame);
    if (liveInFrame === undefined)
      throw new HwError("EINVAL", `${this.name}: free of ${hex(pa)} (${size} bytes) was never allocated`);
    this.memory.fill(pa, size, 0);
    const list = this.freeSmall.get(size)!;
    if (liveInFrame === 1) {
      // Last block of the frame: give the whole frame back.
      this.smallLive.delete(frame);
      this.freeSmall.set(
        size,
        list.filter((a) => a < frame || a >= frame + PAGE_SIZE),
      );
      this.freeFrames(frame, PAGE_SIZE);
    } else {
      this.smallLive.set(frame, liveInFrame - 1);
      list.push(pa);
    }
  }
}

/** Creates an allocator over `memory` (by default over its whole dense window). */
export function createPageAllocator(memory: PhysMemory, options?: PageAllocatorOptions): PageAllocator {
  return new PageAllocator(memory, options);
}

const defaults = new WeakMap<PhysMemory, PageAllocator>();

/**
 * The allocator page tables use when their config names none: one per memory, over its dense window,
 * created on first use.
 */
export function defaultAllocator(memory: PhysMemory): PageAllocator {
  let allocator = defaults.get(memory);
  if (!allocator) {
    allocator = new PageAllocator(memory, { name: "table allocator" });
    defaults.set(memory, allocator);
  }
  return allocator;
}
