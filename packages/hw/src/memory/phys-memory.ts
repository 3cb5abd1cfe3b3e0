import { type AddressLike, hex, toNumber } from "../address.js";
import { HwError } from "../errors.js";

/** Physical memory is stored and accounted in 4 KiB frames, whatever the page-table granule. */
export const PAGE_SHIFT = 12;
/** Bytes in one physical frame. */
export const PAGE_SIZE = 4096;
const WORDS_PER_PAGE = PAGE_SIZE / 4;
const FRAME = 2 ** PAGE_SHIFT;
const CHUNK_SHIFT = 10;
const CHUNK_FRAMES = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_FRAMES - 1;
/** First arena allocation: 512 frames. Small, so that a memory that holds a few tables stays cheap. */
const ARENA_INITIAL_BYTES = 2 ** 21;
/** Past this size the arena grows straight to its maximum. */
const ARENA_JUMP_BYTES = 2 ** 26;
const NO_WORDS = new Uint32Array(0);
const NO_FLAGS = new Uint8Array(0);

// Descriptors are read as two little-endian 32-bit halves through Uint32Array views, which use the
// host's byte order: refuse to run where that would silently byte-swap every descriptor.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("@iommu-sim/hw needs a little-endian host");
}

/** Options for {@link createPhysMemory}. */
export interface PhysMemoryOptions {
  /**
   * Width of the physical address space in bits; accesses at or above `2^addressBits` fail.
   * @default 52
   */
  addressBits?: number;
  /**
   * Physical address where the dense window starts. Frames inside the window are held in an array
   * indexed by frame number (the fast path page-table walkers use); frames outside it in a map.
   * Allocators (see `createPageAllocator`) default to this window.
   * @default 0x40000000
   */
  denseBase?: AddressLike;
  /**
   * Size of the dense window in bytes.
   * @default 64 GiB
   */
  denseSize?: AddressLike;
  /**
   * Most bytes at the start of the dense window kept in one flat, little-endian word array (the
   * arena, see {@link PhysMemory.arenaWords}) instead of per-frame arrays, so page-table walkers
   * read a descriptor with one indexed load. The arena starts at 2 MiB and grows (copying) as
   * frames further into it are first written: doubling up to 64 MiB, then straight to this size,
   * whose untouched pages the host commits lazily. If the host refuses a larger buffer it stops
   * growing and later frames use the per-frame arrays. 0 disables it. Capped at `denseSize` and
   * 2 GiB. A browser page that wants to bound its memory can pass a smaller value.
   * @default 1 GiB
   */
  arenaSize?: AddressLike;
}

/**
 * Sparse, little-endian physical memory. Untouched memory reads as zero; storage exists only for
 * frames that were written. Page tables are real bytes in it, read back by hardware walkers that
 * see nothing else.
 */
export class PhysMemory {
  /** Width of the physical address space in bits. */
  readonly addressBits: number;
  /** One past the highest valid physical address. */
  readonly limit: number;
  /** First frame number of the dense window. */
  readonly denseBasePfn: number;
  /** One past the last frame number of the dense window. */
  readonly denseEndPfn: number;
  // Frames of the dense window in two levels, indexed by `pfn - denseBasePfn`: chunks of
  // CHUNK_FRAMES frames, so a write far into the window costs one chunk, not an array that long.
  // Holes are never-written frames.
  private readonly dense: ((Uint32Array | undefined)[] | undefined)[] = [];
  private readonly sparse = new Map<number, Uint32Array>();
  private readonly zero = new Uint32Array(WORDS_PER_PAGE);
  private frames = 0;
  /**
   * The arena: words of the frames from {@link arenaBase} up to {@link arenaBytes}, little-endian,
   * word `(pa - arenaBase) >>> 2`. Hot paths read and write it directly (unwritten frames read as
   * zero); a writer must call {@link touchArena} for the frame first so that residency stays exact.
   * The array is replaced (contents copied, {@link generation} bumped) when the arena grows: read
   * it again after anything that can write a new frame. Read-only for callers, like the two below.
   */
  arenaWords: Uint32Array = NO_WORDS;
  /** Physical address of arena word 0 (the dense window's base). */
  readonly arenaBase: number;
  /** Bytes the arena covers now (`arenaWords.length * 4`); grows up to {@link arenaMaxBytes}. */
  arenaBytes = 0;
  /** Bytes the arena may grow to (smaller than asked if the host refused a buffer). */
  arenaMaxBytes: number;
  // Residency of arena frames (1 = written and not released), and lazily made per-frame views.
  private arenaResident: Uint8Array = NO_FLAGS;
  private arenaViews: (Uint32Array | undefined)[] = [];
  /**
   * Bumped whenever a frame gains or loses storage (first write, release). A caller that caches the
   * arrays {@link frameWords} returned (walkers do, per level) must drop them when this changes:
   * a cached zero array or a released frame's array would otherwise go stale. Read-only for callers.
   */
  generation = 0;
  /**
   * Bumped by every write through this object ({@link write}, {@link fill}, `writeU8/U32/U64`,
   * {@link frameWordsForWrite}) and by {@link releaseFrame}. A cache of memory contents compares it
   * to learn that someone else may have written; page-table engines' own stores into
   * {@link arenaWords} do not bump it (each engine tracks its own). Read-only for callers.
   */
  writes = 0;

  constructor(options: PhysMemoryOptions = {}) {
    const bits = options.addressBits ?? 52;
    if (!Number.isInteger(bits) || bits < 32 || bits > 52) {
      throw new HwError("EINVAL", `addressBits ${bits} must be an integer from 32 to 52`);
    }
    this.addressBits = bits;
    this.limit = 2 ** bits;
    const base = toNumber(options.denseBase ?? 0x4000_0000, "denseBase");
    const size = toNumber(options.denseSize ?? 2 ** 36, "denseSize");
    if (base % FRAME || size % FRAME)
      throw new HwError("EINVAL", `dense window ${hex(base)}+${hex(size)} is not 4 KiB aligned`);
    if (base + size > this.limit)
      throw new HwError("ERANGE", `dense window ends at ${hex(base + size)}, beyond ${bits}-bit memory`);
    this.denseBasePfn = base / FRAME;
    this.denseEndPfn = (base + size) / FRAME;
    const arena = toNumber(options.arenaSize ?? 2 ** 30, "arenaSize");
    if (arena % FRAME) throw new HwError("EINVAL", `arena size ${hex(arena)} is not 4 KiB aligned`);
    // Word indexes stay below 2^31 so hot paths can use int arithmetic (`off >>> 2`).
    this.arenaMaxBytes = Math.min(arena, size, 2 ** 31);
    this.arenaBase = base;
  }

  /**
   * Marks the arena frame holding word `w` as written, before a hot path writes it through
   * {@link arenaWords} (`w < arenaBytes / 4`). Cheap when it already is.
   */
  touchArena(w: number): void {
    if (this.arenaResident[w >>> 10] === 0) this.gainArenaFrame(w >>> 10);
  }

  private gainArenaFrame(i: number): void {
    this.arenaResident[i] = 1;
    this.frames++;
    this.generation++;
  }

  /**
   * Grows the arena to cover arena frame `i` (`i * 4096 < arenaMaxBytes`). Returns false, and stops
   * the arena where it is, when the host cannot allocate the larger buffer.
   */
  private growArena(i: number): boolean {
    // Doubling keeps small memories small; past 64 MiB one jump to the maximum (its pages are only
    // committed when written) saves copying a large arena again and again.
    let bytes = Math.max(this.arenaBytes * 2, ARENA_INITIAL_BYTES);
    while (bytes <= i * FRAME) bytes *= 2;
    if (bytes > ARENA_JUMP_BYTES) bytes = this.arenaMaxBytes;
    bytes = Math.min(bytes, this.arenaMaxBytes);
    let words: Uint32Array;
    let resident: Uint8Array;
    try {
      words = new Uint32Array(bytes / 4);
      resident = new Uint8Array(bytes / FRAME);
    } catch {
      // Out of address space or a browser's buffer limit: frames beyond use per-frame arrays.
      this.arenaMaxBytes = this.arenaBytes;
      return false;
    }
    words.set(this.arenaWords);
    resident.set(this.arenaResident);
    this.arenaWords = words;
    this.arenaResident = resident;
    this.arenaBytes = bytes;
    // Views of the old buffer are stale now; so are arrays callers cached.
    this.arenaViews = [];
    this.generation++;
    return true;
  }

  /** A view of arena frame `i`, made once per frame (per arena buffer). */
  private arenaView(i: number): Uint32Array {
    let v = this.arenaViews[i];
    if (v === undefined) {
      while (this.arenaViews.length < i) this.arenaViews.push(undefined);
      v = this.arenaWords.subarray(i * WORDS_PER_PAGE, (i + 1) * WORDS_PER_PAGE);
      this.arenaViews[i] = v;
    }
    return v;
  }

  /** Frames that hold storage (were written and not released). */
  get framesResident(): number {
    return this.frames;
  }

  /** Bytes of storage held for written frames. */
  get bytesResident(): number {
    return this.frames * PAGE_SIZE;
  }

  /**
   * The 1024 little-endian words of frame `pfn` for reading. A never-written frame returns a shared
   * all-zero array that callers must not write. Hot path: no allocation, no bigint.
   */
  frameWords(pfn: number): Uint32Array {
    if (pfn >= this.denseBasePfn && pfn < this.denseEndPfn) {
      const i = pfn - this.denseBasePfn;
      if (i * FRAME < this.arenaMaxBytes) {
        return this.arenaResident[i] === 1 ? this.arenaView(i) : this.zero;
      }
      const chunk = this.dense[i >>> CHUNK_SHIFT];
      return (chunk === undefined ? undefined : chunk[i & CHUNK_MASK]) ?? this.zero;
    }
    return this.sparse.get(pfn) ?? this.zero;
  }

  /** The words of frame `pfn` for writing, allocating its storage on first write. */
  frameWordsForWrite(pfn: number): Uint32Array {
    this.writes++;
    if (pfn >= this.denseBasePfn && pfn < this.denseEndPfn) {
      const i = pfn - this.denseBasePfn;
      if (i * FRAME < this.arenaMaxBytes && (i * FRAME < this.arenaBytes || this.growArena(i))) {
        if (this.arenaResident[i] === 0) this.gainArenaFrame(i);
        return this.arenaView(i);
      }
      const c = i >>> CHUNK_SHIFT;
      let chunk = this.dense[c];
      if (chunk === undefined) {
        // Grow both levels densely (holes pushed, never assigned past the end) so V8 keeps them
        // in fast elements mode; the top level has at most window / 4 MiB entries.
        while (this.dense.length < c) this.dense.push(undefined);
        chunk = [];
        for (let k = 0; k < CHUNK_FRAMES; k++) chunk.push(undefined);
        this.dense[c] = chunk;
      }
      let words = chunk[i & CHUNK_MASK];
      if (words === undefined) {
        words = new Uint32Array(WORDS_PER_PAGE);
        chunk[i & CHUNK_MASK] = words;
        this.frames++;
        this.generation++;
      }
      return words;
    }
    let words = this.sparse.get(pfn);
    if (words === undefined) {
      if (pfn * FRAME >= this.limit)
        throw new HwError(
          "ERANGE",
          `physical address ${hex(pfn * FRAME)} is beyond ${this.addressBits}-bit memory`,
        );
      words = new Uint32Array(WORDS_PER_PAGE);
      this.sparse.set(pfn, words);
      this.frames++;
      this.generation++;
    }
    return words;
  }

  /** Drops the storage of frame `pfn`: it reads as zero again. Used when table pages are freed. */
  releaseFrame(pfn: number): void {
    this.writes++;
    if (pfn >= this.denseBasePfn && pfn < this.denseEndPfn) {
      const i = pfn - this.denseBasePfn;
      if (i * FRAME < this.arenaMaxBytes) {
        if (this.arenaResident[i] === 1) {
          // The arena keeps the frame's storage: zero it so that it reads as never written.
          this.arenaWords.fill(0, i * WORDS_PER_PAGE, (i + 1) * WORDS_PER_PAGE);
          this.arenaResident[i] = 0;
          this.frames--;
          this.generation++;
        }
        return;
      }
      const chunk = this.dense[i >>> CHUNK_SHIFT];
      if (chunk !== undefined && chunk[i & CHUNK_MASK] !== undefined) {
        chunk[i & CHUNK_MASK] = undefined;
        this.frames--;
        this.generation++;
      }
    } else if (this.sparse.delete(pfn)) {
      this.frames--;
      this.generation++;
    }
  }

  /** Reads the 64-bit little-endian value at `pa` (8-byte aligned) as two halves into `out`. */
  readU64Parts(pa: number, out: { lo: number; hi: number }): void {
    const words = this.frameWords(Math.floor(pa / FRAME));
    const w = (pa % FRAME) >>> 2;
    out.lo = words[w]!;
    out.hi = words[w + 1]!;
  }

  private check(pa: number, length: number, what: string): void {
    if (pa + length > this.limit) {
      throw new HwError(
        "ERANGE",
        `${what} at ${hex(pa)}+${length} is beyond ${this.addressBits}-bit physical memory`,
      );
    }
  }

  /** Reads `length` bytes starting at `pa` (any alignment, may cross frames). */
  read(pa: AddressLike, length: number): Uint8Array {
    const start = toNumber(pa, "physical address");
    if (!Number.isSafeInteger(length) || length < 0)
      throw new HwError("EINVAL", `read length ${length} is invalid`);
    this.check(start, length, "read");
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const addr = start + done;
      const off = addr % FRAME;
      const n = Math.min(length - done, FRAME - off);
      const words = this.frameWords(Math.floor(addr / FRAME));
      if (words !== this.zero) out.set(new Uint8Array(words.buffer, words.byteOffset + off, n), done);
      done += n;
    }
    return out;
  }

  /** Writes `bytes` starting at `pa` (any alignment, may cross frames). */
  write(pa: AddressLike, bytes: Uint8Array): void {
    const start = toNumber(pa, "physical address");
    this.check(start, bytes.length, "write");
    let done = 0;
    while (done < bytes.length) {
      const addr = start + done;
      const off = addr % FRAME;
      const n = Math.min(bytes.length - done, FRAME - off);
      const words = this.frameWordsForWrite(Math.floor(addr / FRAME));
      new Uint8Array(words.buffer, words.byteOffset + off, n).set(bytes.subarray(done, done + n));
      done += n;
    }
  }

  /** Fills `length` bytes at `pa` with `value` (0..255). Filling with zero does not allocate. */
  fill(pa: AddressLike, length: number, value = 0): void {
    const start = toNumber(pa, "physical address");
    this.check(start, length, "fill");
    let done = 0;
    while (done < length) {
      const addr = start + done;
      const off = addr % FRAME;
      const n = Math.min(length - done, FRAME - off);
      const pfn = Math.floor(addr / FRAME);
      const existing = this.frameWords(pfn);
      if (value !== 0 || existing !== this.zero) {
        const words = this.frameWordsForWrite(pfn);
        new Uint8Array(words.buffer, words.byteOffset + off, n).fill(value);
      }
      done += n;
    }
  }

  /** Reads one byte. */
  readU8(pa: AddressLike): number {
    const a = toNumber(pa, "physical address");
    this.check(a, 1, "readU8");
    const words = this.frameWords(Math.floor(a / FRAME));
    return (words[(a % FRAME) >>> 2]! >>> ((a & 3) * 8)) & 0xff;
  }

  /** Writes one byte. */
  writeU8(pa: AddressLike, value: number): void {
    const a = toNumber(pa, "physical address");
    this.check(a, 1, "writeU8");
    const words = this.frameWordsForWrite(Math.floor(a / FRAME));
    new Uint8Array(words.buffer, words.byteOffset)[a % FRAME] = value & 0xff;
  }

  /** Reads a little-endian u32; `pa` need not be aligned. */
  readU32(pa: AddressLike): number {
    const a = toNumber(pa, "physical address");
    if (a % 4 === 0) {
      this.check(a, 4, "readU32");
      return this.frameWords(Math.floor(a / FRAME))[(a % FRAME) >>> 2]!;
    }
    const b = this.read(a, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  /** Writes a little-endian u32; `pa` need not be aligned. */
  writeU32(pa: AddressLike, value: number): void {
    const a = toNumber(pa, "physical address");
    if (a % 4 === 0) {
      this.check(a, 4, "writeU32");
      this.frameWordsForWrite(Math.floor(a / FRAME))[(a % FRAME) >>> 2] = value >>> 0;
      return;
    }
    this.write(
      a,
      new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]),
    );
  }

  /** Reads a little-endian u64 as a bigint; `pa` need not be aligned. */
  readU64(pa: AddressLike): bigint {
    const a = toNumber(pa, "physical address");
    const lo = this.readU32(a);
    const hi = this.readU32(a + 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Writes a little-endian u64 given as a bigint (or a safe-integer number). */
  writeU64(pa: AddressLike, value: bigint | number): void {
    const a = toNumber(pa, "physical address");
    const v = BigInt.asUintN(64, BigInt(value));
    this.writeU32(a, Number(v & 0xffff_ffffn));
    this.writeU32(a + 4, Number(v >> 32n));
  }

  /**
   * A 32-bit FNV-1a hash of every resident frame (address and contents), in address order. Two
   * memories with equal contents hash equal whatever frames were allocated and released: all-zero
   * frames are skipped. Tests use it to prove a failed operation left memory unchanged.
   */
  contentHash(): number {
    const pfns: number[] = [];
    const resident = this.arenaResident;
    for (let i = 0; i < resident.length; i++) if (resident[i] === 1) pfns.push(this.denseBasePfn + i);
    for (let c = 0; c < this.dense.length; c++) {
      const chunk = this.dense[c];
      if (chunk === undefined) continue;
      for (let k = 0; k < CHUNK_FRAMES; k++)
        if (chunk[k]) pfns.push(this.denseBasePfn + c * CHUNK_FRAMES + k);
    }
    for (const pfn of this.sparse.keys()) pfns.push(pfn);
    pfns.sort((a, b) => a - b);
    let h = 0x811c9dc5;
    const mix = (x: number) => {
      h ^= x >>> 0;
      h = Math.imul(h, 0x01000193) >>> 0;
    };
    for (const pfn of pfns) {
      const words = this.frameWords(pfn);
      if (words.every((w) => w === 0)) continue;
      mix(pfn);
      mix(Math.floor(pfn / 2 ** 32));
      for (let i = 0; i < words.length; i++) mix(words[i]!);
    }
    return h;
  }
}

/** Creates an empty physical memory. */
export function createPhysMemory(options?: PhysMemoryOptions): PhysMemory {
  return new PhysMemory(options);
}
