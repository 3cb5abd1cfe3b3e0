/**
 * A format-neutral engine for radix page tables of 64-bit descriptors kept in {@link PhysMemory}
 * (ARM LPAE, AMD v1, Intel VT-d, x86-64 all fit it). A format describes its table shape as a list of
 * {@link RadixLevelSpec} (top table first) and its descriptor bits through a {@link RadixCodec}; the
 * engine does the rest: `map_pages` with full rollback, `unmap_pages` with a choice of partial-unmap
 * policy, `iova_to_phys`, freeing, and the hardware walker that reads only memory.
 *
 * Descriptors are handled as two unsigned 32-bit halves (`lo` = bits 31:0, `hi` = bits 63:32) read
 * from `memory.frameWords(pa / 4096)` at word `(pa % 4096) >> 2`. Addresses are numbers below 2^53.
 * The hot paths (`mapPages`, `unmapPages`, `translate`) do no bigint arithmetic and allocate nothing
 * per page; they call the codec through one object whose class should be the same for every table of
 * a format family so the call sites stay monomorphic.
 */
import { type AddressLike, hex, joinU64, toNumber } from "../address.js";
import { type Errno, HwError } from "../errors.js";
import { defaultAllocator, type PageAllocator } from "../memory/page-allocator.js";
import type { PhysMemory } from "../memory/phys-memory.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { UnmapGather } from "./gather.js";
import { checkManyArrays } from "./translate-many.js";
import {
  type DecodedDescriptor,
  type FormatName,
  type HwWalker,
  type PageTable,
  type PageTableConfig,
  type PageTableFormatDefinition,
  type PageTableGeometry,
  type TableFetchTranslator,
  WALK_FAULT_NAMES,
  WalkFault,
  type WalkLevel,
  type WalkOut,
  type WalkStep,
  type WalkTrace,
} from "./types.js";

const FRAME = 4096;
const INV_FRAME = 1 / 4096;
/** `WalkFault.NONE`, local: an imported binding costs a load and a TDZ check at each use. */
const FAULT_NONE = 0;
const TWO32 = 0x1_0000_0000;

/** A descriptor as two unsigned 32-bit halves; codecs write into a caller-owned one. */
export interface DescriptorHalves {
  /** Bits 31:0. */
  lo: number;
  /** Bits 63:32. */
  hi: number;
}

/**
 * A level's descriptor tests as masks over the halves, for walks that cannot afford calls:
 * - a table the walker follows without a fault, at `(lo & tableAddressMask) >>> 0` (below 2^32):
 *   `(lo & tableLoMask) === tableLoValue && (hi & tableHiMask) === 0`;
 * - a fault-free leaf of exactly the level's entry size, at output address
 *   `(hi & outHiMask) * 2^32 + ((lo & outLoMask) >>> 0)`:
 *   `(lo & leafLoMask) === leafLoValue && (hi & leafHiMask) === 0`.
 * A mask of 0 with a value of 1 never matches (no tables at the last level, no blocks where the
 * granule has none).
 */
export interface FastDescriptorTest {
  readonly tableLoMask: number;
  readonly tableLoValue: number;
  readonly tableHiMask: number;
  readonly tableAddressMask: number;
  readonly leafLoMask: number;
  readonly leafLoValue: number;
  readonly leafHiMask: number;
  readonly outLoMask: number;
  readonly outHiMask: number;
}

/** One level of a radix table, in walk order (index 0 = the top table). */
export interface RadixLevelSpec {
  /** The level's number in the format's own numbering (ARM: 0..3 with 3 the leaf level). */
  readonly level: number;
  /** log2 of the bytes one entry of this level maps (ARM 4K: 39, 30, 21, 12). */
  readonly shift: number;
  /** log2 of the number of entries in a table of this level (the top table may differ). */
  readonly indexBits: number;
  /** Bytes to allocate for one table of this level (at least `8 << indexBits`). */
  readonly tableBytes: number;
}

/**
 * What happens when an unmap covers only part of a larger leaf:
 * - `"refuse"`: unmap nothing and return 0 (io-pgtable-arm / v7s since v6.14, `WARN_ONCE`);
 * - `"split"`: replace the block by a next-level table of leaves minus the unmapped part
 *   (`arm_lpae_split_blk_unmap`, Linux before v6.14);
 * - `"whole"`: unmap the whole large leaf and return its size (AMD v1, VT-d, generic_pt); an unmap
 *   that starts inside a large leaf (not at its base) unmaps nothing, as generic_pt returns -EINVAL.
 */
export type PartialUnmapPolicy = "refuse" | "split" | "whole";

/**
 * The descriptor knowledge a format gives the engine. Every method receives the halves of one
 * descriptor and the format's level number. Implement it as one class per format family (fields
 * for the variants), so V8 sees a single receiver shape on the hot paths.
 */
export interface RadixCodec {
  /** The entry is valid (ARM: bit 0; VT-d SS: R|W). */
  isPresent(lo: number, hi: number, level: number): boolean;
  /** A present entry points to a next-level table (never true at the last level). */
  isTable(lo: number, hi: number, level: number): boolean;
  /** Physical address of the next-level table of a table entry. */
  tableAddress(lo: number, hi: number, level: number): number;
  /** Output base address of a leaf (the base of the whole page, also for replicated entries). */
  leafAddress(lo: number, hi: number, level: number): number;
  /** Bytes a leaf maps: the level's entry size, or more for replicated leaves (AMD NextLevel=7). */
  leafSize(lo: number, hi: number, level: number): number;
  /** Writes the table descriptor for a table at `tablePa` installed in a level-`level` entry. */
  encodeTable(tablePa: number, level: number, out: DescriptorHalves): void;
  /**
   * Writes the attribute and type bits of a leaf of `pgsize` bytes at `level` for Linux `prot`, with
   * the address bits zero (the engine ORs {@link leafAddressLo}/`Hi` in). Must depend only on its
   * arguments and the codec's configuration: the engine reuses the last result.
   */
  encodeLeafTemplate(prot: number, level: number, pgsize: number, out: DescriptorHalves): void;
  /** Low-half address bits of a leaf mapping `pa` (with any size encoding that lives in them). */
  leafAddressLo(pa: number, pgsize: number): number;
  /** High-half address bits of a leaf mapping `pa`. */
  leafAddressHi(pa: number, pgsize: number): number;
  /**
   * For the `"split"` policy: the template (address bits zero) for the level-`toLevel` leaves that
   * replace the level-`fromLevel` block `lo`/`hi`. Formats without split may throw.
   */
  splitTemplate(lo: number, hi: number, fromLevel: number, toLevel: number, out: DescriptorHalves): void;
  /** Hardware view: Linux prot bits a leaf grants (see `WalkOut.perm`). */
  leafPerm(lo: number, hi: number, level: number): number;
  /**
   * Optional fast path for walks through the memory's arena. When `lo`/`hi` at `level` (not the
   * last level) is a present table descriptor the walker would follow without a fault, and the
   * table's address is below 2^32, returns that address divided by 4 (an integer below 2^30);
   * otherwise -1, and the engine runs the full checks. Integer-only, so a walk's chain of
   * dependent loads is not lengthened by float conversions.
   */
  tableWord?(lo: number, hi: number, level: number): number;
  /**
   * Optional: the descriptor tests of `level` as plain masks (see {@link FastDescriptorTest}), for
   * `translateMany`'s unrolled loop. They must be sound: a descriptor they accept must be exactly
   * what the methods above say (tested per format against them); what they reject takes the full
   * checks, so they may reject more than they must.
   */
  fastTest?(level: number, last: boolean): FastDescriptorTest;
  /**
   * Hardware view: a {@link WalkFault} code for a present entry the walker is about to use, or 0.
   * `last` is true at the last level. Checks reserved encodings, address size, access flag.
   */
  walkFault(lo: number, hi: number, level: number, last: boolean): number;
}

/** Everything the engine needs to know about one table shape; built by a format from its config. */
export interface RadixTableSpec {
  readonly format: FormatName;
  readonly geometry: PageTableGeometry;
  /** Levels in walk order; `levels.length === geometry.levels`. */
  readonly levels: readonly RadixLevelSpec[];
  readonly codec: RadixCodec;
  /** Verbose decoding of one descriptor for traces. */
  decode(lo: number, hi: number, level: number): DecodedDescriptor;
  /** Partial-unmap rule. */
  readonly partialUnmap: PartialUnmapPolicy;
  /** Errno when a map meets an existing leaf. @default "EEXIST" (io-pgtable); generic_pt: "EADDRINUSE" */
  readonly existsCode?: Errno;
  /**
   * A leaf mapped where a table entry is: `"replace"` frees the old subtree and installs the leaf
   * (`arm_lpae_init_pte`); `"refuse"` fails like an existing leaf; `"replace-empty"` replaces only a
   * subtree without leaves and otherwise fails (generic_pt `clear_contig`). @default "replace"
   */
  readonly leafOverTable?: "replace" | "refuse" | "replace-empty";
  /** Refuse prot without IOMMU_READ or IOMMU_WRITE with EINVAL (mainline io-pgtable-arm). @default true */
  readonly requireAccess?: boolean;
  /**
   * Page sizes between two levels' entry sizes are leaves replicated over consecutive entries of the
   * lower level (AMD v1 NextLevel=7). When false a page size must equal some level's entry size.
   * @default false
   */
  readonly replicatedLeaves?: boolean;
  /**
   * {@link WalkFault} code the walker reports for an input address at or beyond 2^ias.
   * @default WalkFault.TRANSLATION (ARM: the TxSZ range check); x86 formats use ADDRESS_SIZE
   */
  readonly outOfRangeFault?: number;
}

/** Per-table services outside the table's own memory. */
export interface RadixTableOptions {
  readonly memory: PhysMemory;
  /** @default `defaultAllocator(memory)` */
  readonly allocator?: PageAllocator;
  /**
   * Called synchronously when a table page is freed by map (leaf over table) or unmap, as io-pgtable
   * calls `tlb->tlb_flush_walk(iova, size, granule)`; unmaps also record it in the gather.
   */
  readonly tlbFlushWalk?: (iova: number, size: number, granule: number) => void;
}

/** Precomputed per-depth arrays shared by the walker and the page table. */
class Shape {
  readonly depthCount: number;
  readonly levelOf: Int32Array;
  readonly entrySize: Float64Array;
  /** 2^-shift per depth, to index by multiplication. */
  readonly invEntrySize: Float64Array;
  readonly mask: Int32Array;
  readonly tableBytes: Float64Array;
  /** 2^-(bytes a whole table of each depth maps), to number the tables of a depth by multiplication. */
  readonly invTableSpan: Float64Array;
  /**
   * Placement depth of a leaf of 2^bit bytes; -1 when the bitmap lacks it, -2 when the bitmap has it
   * but this geometry has no level for it (a block larger than the input range).
   */
  readonly depthOfBit = new Int32Array(64).fill(-1);
  /** Entries one leaf of 2^bit bytes occupies at its placement depth. */
  readonly spanOfBit = new Float64Array(64);
  readonly inputLimit: number;
  readonly outputLimit: number;

  constructor(spec: RadixTableSpec) {
    const n = spec.levels.length;
    if (n === 0 || n !== spec.geometry.levels) {
      throw new HwError(
        "EINVAL",
        `${spec.format}: ${n} level specs for a ${spec.geometry.levels}-level geometry`,
      );
    }
    this.depthCount = n;
    this.levelOf = new Int32Array(n);
    this.entrySize = new Float64Array(n);
    this.invEntrySize = new Float64Array(n);
    this.mask = new Int32Array(n);
    this.tableBytes = new Float64Array(n);
    this.invTableSpan = new Float64Array(n);
    spec.levels.forEach((l, d) => {
      this.levelOf[d] = l.level;
      this.entrySize[d] = 2 ** l.shift;
      this.invEntrySize[d] = 2 ** -l.shift;
      this.mask[d] = 2 ** l.indexBits - 1;
      this.tableBytes[d] = l.tableBytes;
      this.invTableSpan[d] = 2 ** -(l.shift + l.indexBits);
      if (l.tableBytes < 8 * 2 ** l.indexBits)
        throw new HwError("EINVAL", `${spec.format}: level ${l.level} table too small`);
    });
    const bitmap = spec.geometry.pgsizeBitmap;
    for (let bit = 0; bit < 64; bit++) {
      if (((bitmap >> BigInt(bit)) & 1n) === 0n) continue;
      // The deepest level whose entries are not larger than the page: replicated when smaller.
      let depth = -1;
      for (let d = 0; d < n; d++) {
        const shift = spec.levels[d]!.shift;
        // The first level (from the top) whose entries are not larger than the page: a replicated
        // leaf must fit in one table of its level (AMD v1 places 4M as 2 x 2M-level entries).
        if (depth < 0 && (shift === bit || (spec.replicatedLeaves && shift < bit))) depth = d;
      }
      const top = spec.levels[0]!;
      if (depth < 0 || (depth === 0 && bit > top.shift + top.indexBits)) {
        this.depthOfBit[bit] = -2;
        continue;
      }
      this.depthOfBit[bit] = depth;
      this.spanOfBit[bit] = 2 ** (bit - spec.levels[depth]!.shift);
    }
    this.inputLimit = 2 ** spec.geometry.ias;
    this.outputLimit = 2 ** spec.geometry.oas;
  }
}

/** log2 of a power of two below 2^53, or -1 when `size` is not one. */
function sizeBit(size: number): number {
  if (size >= 1 && size < TWO32) {
    const s = size >>> 0;
    return s === size && (s & (s - 1)) === 0 ? 31 - Math.clz32(s) : -1;
  }
  if (size >= TWO32 && size <= 2 ** 52) {
    const h = size / TWO32;
    return Number.isInteger(h) && (h & (h - 1)) === 0 ? 63 - Math.clz32(h) : -1;
  }
  return -1;
}

/** `value mod 2^bit` for a non-negative integer below 2^53 (exact; no float modulo on the hot path). */
function lowBits(value: number, size: number): number {
  return size <= 0x8000_0000 ? value & (size - 1) : value - Math.floor(value / size) * size;
}

/**
 * Output address of a leaf that passed a {@link FastDescriptorTest}: its address bits (masks `ol`,
 * `oh`) plus the offset of `iova` in an entry of `size` bytes (`inv` = 1 / size, exact).
 */
function leafOutput(
  lo: number,
  hi: number,
  ol: number,
  oh: number,
  iova: number,
  inv: number,
  size: number,
): number {
  return ((hi & oh) >>> 0) * TWO32 + ((lo & ol) >>> 0) + (iova - Math.floor(iova * inv) * size);
}

/** 2^-b for every bit position b: exact, so `x * INV_POW2[b]` is `x / 2^b` without a division. */
const INV_POW2 = Float64Array.from({ length: 64 }, (_, b) => 2 ** -b);

/** Numbers per depth in {@link fastTests}'s array (the fields of {@link FastDescriptorTest}). */
const FAST_STRIDE = 9;

/**
 * Packs the codec's fast tests of every depth; null when the output-address masks differ between
 * depths (`translateMany` reads depth 0's).
 */
function fastTests(codec: RadixCodec, shape: Shape): Int32Array | null {
  if (codec.fastTest === undefined) return null;
  const n = shape.depthCount;
  const f = new Int32Array(n * FAST_STRIDE);
  for (let d = 0; d < n; d++) {
    const k = d * FAST_STRIDE;
    const last = d === n - 1;
    const t = codec.fastTest(shape.levelOf[d]!, last);
    f.set(
      [
        t.tableLoMask,
        t.tableLoValue,
        t.tableHiMask,
        t.tableAddressMask,
        t.leafLoMask,
        t.leafLoValue,
        t.leafHiMask,
        t.outLoMask,
        t.outHiMask,
      ].map((v) => v | 0),
      k,
    );
    if (last) {
      f[k] = 0; // no table at the last depth, whatever the codec says
      f[k + 1] = 1;
    }
    if (f[k + 7] !== f[7] || f[k + 8] !== f[8]) return null;
  }
  return f;
}

/** `memory.arenaBase / 4` when `codec` offers `tableWord` and the arena starts below 4 GiB, else -1. */
function arenaBaseWord(codec: RadixCodec, memory: PhysMemory): number {
  return typeof codec.tableWord === "function" && memory.arenaBase < TWO32 ? memory.arenaBase / 4 : -1;
}

/**
 * One cached frame per walk depth: consecutive walks mostly revisit the same upper tables, and a
 * cache hit skips `frameWords` and breaks the load chain descriptor -> frame -> words. Valid while
 * `memory.generation` is unchanged; {@link sync} drops it otherwise. Reads only: the arrays may be
 * the shared zero array of a never-written frame.
 */
class FrameCache {
  private gen = -1;
  private readonly pfns: Float64Array;
  private readonly words: Uint32Array[] = [];

  constructor(
    private readonly memory: PhysMemory,
    depths: number,
  ) {
    this.pfns = new Float64Array(depths).fill(-1);
    for (let d = 0; d < depths; d++) this.words.push(new Uint32Array(0));
  }

  /** Call before a walk: forgets everything if memory gained or lost a frame since. */
  sync(): void {
    const gen = this.memory.generation;
    if (gen !== this.gen) {
      this.pfns.fill(-1);
      this.gen = gen;
    }
  }

  /** The words of frame `pfn`, read at walk depth `d`. */
  read(d: number, pfn: number): Uint32Array {
    if (this.pfns[d] === pfn) return this.words[d]!;
    const words = this.memory.frameWords(pfn);
    this.pfns[d] = pfn;
    this.words[d] = words;
    return words;
  }
}

/** One depth of {@link RadixWalker.translate}'s fast path: its shape and the codec's mask tests. */
class WalkStepTest {
  /** The next depth's step (null at the last depth, whose table test never matches). */
  next: WalkStepTest | null = null;
  readonly depth: number;
  readonly level: number;
  readonly inv: number;
  readonly size: number;
  readonly mask: number;
  readonly tableMask: number;
  readonly tableValue: number;
  readonly tableHiMask: number;
  readonly tableAddressMask: number;
  readonly leafMask: number;
  readonly leafValue: number;
  readonly leafHiMask: number;
  readonly outLoMask: number;
  readonly outHiMask: number;

  constructor(fast: Int32Array, shape: Shape, d: number) {
    const k = d * FAST_STRIDE;
    this.depth = d;
    this.level = shape.levelOf[d]!;
    this.inv = shape.invEntrySize[d]!;
    this.size = shape.entrySize[d]!;
    this.mask = shape.mask[d]!;
    this.tableMask = fast[k]!;
    this.tableValue = fast[k + 1]!;
    this.tableHiMask = fast[k + 2]!;
    this.tableAddressMask = fast[k + 3]!;
    this.leafMask = fast[k + 4]!;
    this.leafValue = fast[k + 5]!;
    this.leafHiMask = fast[k + 6]!;
    this.outLoMask = fast[k + 7]!;
    this.outHiMask = fast[k + 8]!;
  }
}

/**
 * The hardware walker of a radix format: reads descriptors only from memory, starting at any root.
 * Models a table walk of the architecture the codec describes (`translate` fast, `trace` verbose).
 */
export class RadixWalker implements HwWalker {
  readonly format: FormatName;
  readonly geometry: PageTableGeometry;
  readonly walkLevels: readonly WalkLevel[];
  private readonly shape: Shape;
  private readonly codec: RadixCodec;
  private readonly memory: PhysMemory;
  private readonly spec: RadixTableSpec;
  private readonly frames: FrameCache;
  /** `arenaBase / 4` when the codec has `tableWord` and the arena starts below 4 GiB, else -1. */
  private readonly baseWord: number;
  /** `translate`'s view of each depth (shape and mask tests); null without the codec's masks. */
  private readonly steps: WalkStepTest[] | null;
  private readonly inputLimit: number;
  /**
   * The codec's {@link FastDescriptorTest}s of every depth ({@link fastTests}), for `translateMany`
   * (read from this array into locals: measured faster than from `steps`); null when the codec has
   * none or tables are not walked through the arena. `steps` holds the same numbers per depth.
   */
  private readonly fast: Int32Array | null;
  /** Scratch result of {@link translateMany}'s uncommon addresses. */
  private readonly manyOut: WalkOut = {
    fault: 0,
    level: 0,
    outputAddress: Number.NaN,
    pageSize: Number.NaN,
    perm: 0,
    descriptorLo: Number.NaN,
    descriptorHi: Number.NaN,
    descriptorAddress: Number.NaN,
  };

  constructor(spec: RadixTableSpec, memory: PhysMemory) {
    this.spec = spec;
    this.format = spec.format;
    this.geometry = spec.geometry;
    this.walkLevels = spec.levels.map((l) => ({ level: l.level, shift: l.shift }));
    this.shape = new Shape(spec);
    this.codec = spec.codec;
    this.memory = memory;
    this.frames = new FrameCache(memory, this.shape.depthCount);
    this.baseWord = arenaBaseWord(spec.codec, memory);
    const shape = this.shape;
    this.inputLimit = shape.inputLimit;
    const fast = this.baseWord >= 0 && shape.depthCount >= 2 ? fastTests(spec.codec, shape) : null;
    this.fast = fast;
    this.steps =
      fast === null
        ? null
        : Array.from({ length: shape.depthCount }, (_, d) => new WalkStepTest(fast, shape, d));
    this.steps?.forEach((step, d, all) => {
      step.next = all[d + 1] ?? null;
    });
  }

  translateMany(root: number, iovas: Float64Array, outputs: Float64Array, perms?: Uint8Array): number {
    checkManyArrays(iovas, outputs, perms);
    const memory = this.memory;
    const roff = root - memory.arenaBase;
    const rootInArena =
      this.baseWord >= 0 && roff >= 0 && roff + this.shape.tableBytes[0]! <= memory.arenaBytes;
    if (rootInArena && this.steps !== null) return this.manyFast(roff >>> 2, root, iovas, outputs, perms);
    return this.manyLooped(rootInArena ? roff >>> 2 : -1, root, iovas, outputs, perms);
  }

  /**
   * {@link translateMany} for formats with {@link RadixCodec.fastTest}. Nothing writes memory during
   * the call, so every address of one region (the span of an entry one level above the leaf
   * tables' parent) reads the same descriptors down to that parent table: the parent table is
   * found once per region ({@link descendTo}) and each address reads two descriptors, tested with
   * plain masks in locals (no call, no typed-array load besides the descriptors).
   */
  private manyFast(
    rootWord: number,
    root: number,
    iovas: Float64Array,
    outputs: Float64Array,
    perms: Uint8Array | undefined,
  ): number {
    const f = this.fast!;
    const shape = this.shape;
    const arena = this.memory.arenaWords;
    const limit = arena.length - 1;
    const baseWord = this.baseWord;
    const inputLimit = shape.inputLimit;
    const last = shape.depthCount - 1;
    // Depth m holds the leaf tables' parent table; an entry there is a table or a block.
    const m = last - 1;
    const invRegion = m > 0 ? shape.invEntrySize[m - 1]! : 0;
    const invM = shape.invEntrySize[m]!;
    const ixM = shape.mask[m]!;
    const esM = shape.entrySize[m]!;
    const levelM = shape.levelOf[m]!;
    const invL = shape.invEntrySize[last]!;
    const ixL = shape.mask[last]!;
    const esL = shape.entrySize[last]!;
    const levelL = shape.levelOf[last]!;
    const km = m * FAST_STRIDE;
    const tm = f[km]!;
    const tv = f[km + 1]!;
    const th = f[km + 2]!;
    const ta = f[km + 3]!;
    const bm = f[km + 4]!;
    const bv = f[km + 5]!;
    const bh = f[km + 6]!;
    const kl = last * FAST_STRIDE;
    const lm = f[kl + 4]!;
    const lv = f[kl + 5]!;
    const lh = f[kl + 6]!;
    const ol = f[7]!;
    const oh = f[8]!;
    const codec = this.codec;
    const out = this.manyOut;
    let region = Number.NaN;
    let parent = -1;
    let faults = 0;
    for (let i = 0; i < iovas.length; i++) {
      const iova = iovas[i]!;
      if (iova >= 0 && iova < inputLimit) {
        const r = Math.floor(iova * invRegion);
        if (r !== region) {
          region = r;
          parent = this.descendTo(rootWord, m, iova);
        }
        if (parent >= 0) {
          let w = parent + (Math.floor(iova * invM) & ixM) * 2;
          let lo = arena[w]!;
          let hi = arena[w + 1]!;
          if ((lo & tm) === tv && (hi & th) === 0) {
            w = ((lo & ta) >>> 2) - baseWord + (Math.floor(iova * invL) & ixL) * 2;
            if (w >= 0 && w < limit) {
              lo = arena[w]!;
              hi = arena[w + 1]!;
              if ((lo & lm) === lv && (hi & lh) === 0) {
                outputs[i] = leafOutput(lo, hi, ol, oh, iova, invL, esL);
                if (perms !== undefined) perms[i] = codec.leafPerm(lo, hi, levelL);
                continue;
              }
            }
          } else if ((lo & bm) === bv && (hi & bh) === 0) {
            outputs[i] = leafOutput(lo, hi, ol, oh, iova, invM, esM);
            if (perms !== undefined) perms[i] = codec.leafPerm(lo, hi, levelM);
            continue;
          }
        }
      }
      faults += this.manyFull(root, iova, i, outputs, perms, out);
    }
    return faults;
  }

  /**
   * Arena word index of the table at depth `m` on `iova`'s walk from the root (at `rootWord`),
   * when every descriptor above it is a table the walker follows and the table lies wholly in the
   * arena; else -1 (the full walk then decides).
   */
  private descendTo(rootWord: number, m: number, iova: number): number {
    const shape = this.shape;
    const codec = this.codec;
    const arena = this.memory.arenaWords;
    const baseWord = this.baseWord;
    let tw = rootWord;
    for (let d = 0; d < m; d++) {
      const w = tw + (Math.floor(iova * shape.invEntrySize[d]!) & shape.mask[d]!) * 2;
      const next = codec.tableWord!(arena[w]!, arena[w + 1]!, shape.levelOf[d]!) - baseWord;
      if (!(next >= 0 && next + (shape.mask[d + 1]! + 1) * 2 <= arena.length)) return -1;
      tw = next;
    }
    return tw;
  }

  /** {@link translateMany} for every other format: {@link translate}'s fast path as a loop. */
  private manyLooped(
    rootWord: number,
    root: number,
    iovas: Float64Array,
    outputs: Float64Array,
    perms: Uint8Array | undefined,
  ): number {
    const shape = this.shape;
    const codec = this.codec;
    const baseWord = this.baseWord;
    const arena = this.memory.arenaWords;
    const limit = arena.length - 1;
    const inputLimit = shape.inputLimit;
    const inv = shape.invEntrySize;
    const mask = shape.mask;
    const levelOf = shape.levelOf;
    const last = shape.depthCount - 1;
    const out = this.manyOut;
    let faults = 0;
    for (let i = 0; i < iovas.length; i++) {
      const iova = iovas[i]!;
      if (rootWord >= 0 && iova >= 0 && iova < inputLimit) {
        let d = 0;
        let w = rootWord + (Math.floor(iova * inv[0]!) & mask[0]!) * 2;
        while (d < last && w < limit) {
          const next = codec.tableWord!(arena[w]!, arena[w + 1]!, levelOf[d]!) - baseWord;
          if (!(next >= 0)) break;
          d++;
          w = next + (Math.floor(iova * inv[d]!) & mask[d]!) * 2;
        }
        if (w < limit) {
          const lo = arena[w]!;
          const hi = arena[w + 1]!;
          const level = levelOf[d]!;
          if (
            codec.isPresent(lo, hi, level) &&
            codec.walkFault(lo, hi, level, d === last) === 0 &&
            (d === last || !codec.isTable(lo, hi, level))
          ) {
            outputs[i] = codec.leafAddress(lo, hi, level) + lowBits(iova, codec.leafSize(lo, hi, level));
            if (perms !== undefined) perms[i] = codec.leafPerm(lo, hi, level);
            continue;
          }
        }
      }
      faults += this.manyFull(root, iova, i, outputs, perms, out);
    }
    return faults;
  }

  /** One address of {@link translateMany} through the full walk; returns 1 on a fault, else 0. */
  private manyFull(
    root: number,
    iova: number,
    i: number,
    outputs: Float64Array,
    perms: Uint8Array | undefined,
    out: WalkOut,
  ): number {
    this.translateFull(root, iova, out, undefined);
    const ok = out.fault === FAULT_NONE;
    outputs[i] = ok ? out.outputAddress : -1;
    if (perms !== undefined) perms[i] = ok ? out.perm : 0;
    return ok ? 0 : 1;
  }

  translate(root: number, iova: number, out: WalkOut, fetch?: TableFetchTranslator): void {
    // The common case: a walk through tables in the arena to a good leaf, each descriptor tested
    // with the codec's masks (`fastTest`) from this depth's step, integer word indexes, and no call
    // into the codec but for the leaf's permissions (so it stays fast when several formats share
    // a process and the codec's call sites see several classes). Everything else (faults, nested
    // fetches, tables outside the arena or above 4 GiB) walks again on the full path.
    const steps = this.steps;
    if (steps !== null && fetch === undefined) {
      const memory = this.memory;
      const roff = root - memory.arenaBase;
      if (iova >= 0 && iova < this.inputLimit && roff >= 0 && roff < memory.arenaBytes) {
        const arena = memory.arenaWords;
        const limit = arena.length - 1;
        const baseWord = this.baseWord;
        let s = steps[0]!;
        let w = (roff >>> 2) + (Math.floor(iova * s.inv) & s.mask) * 2;
        while (w < limit) {
          const lo = arena[w]!;
          const hi = arena[w + 1]!;
          if ((lo & s.tableMask) === s.tableValue && (hi & s.tableHiMask) === 0) {
            const next = s.next!;
            w = ((lo & s.tableAddressMask) >>> 2) - baseWord + (Math.floor(iova * next.inv) & next.mask) * 2;
            s = next;
            if (w < 0) break;
            continue;
          }
          if ((lo & s.leafMask) === s.leafValue && (hi & s.leafHiMask) === 0) {
            out.fault = FAULT_NONE;
            out.level = s.level;
            out.pageSize = s.size;
            out.outputAddress = leafOutput(lo, hi, s.outLoMask, s.outHiMask, iova, s.inv, s.size);
            out.perm = this.codec.leafPerm(lo, hi, s.level);
            out.descriptorLo = lo;
            out.descriptorHi = hi;
            out.descriptorAddress = memory.arenaBase + w * 4;
            return;
          }
          break;
        }
      }
    }
    this.translateFull(root, iova, out, fetch);
  }

  translateFrom(
    depth: number,
    table: number,
    iova: number,
    out: WalkOut,
    fetch?: TableFetchTranslator,
  ): void {
    // Walk-cache hits land here: the full path, whose loop starts at any depth.
    const depths = this.shape.depthCount;
    if (!(Number.isInteger(depth) && depth >= 0 && depth < depths)) {
      throw new HwError("EINVAL", `${this.format}: walk depth ${depth} is not in 0..${depths - 1}`);
    }
    this.walkFrom(depth, table, iova, out, fetch);
  }

  /** Every case of {@link translate}: reads through the arena or the per-depth frame cache. */
  private translateFull(
    root: number,
    iova: number,
    out: WalkOut,
    fetch: TableFetchTranslator | undefined,
  ): void {
    this.walkFrom(0, root, iova, out, fetch);
  }

  /** The full walk from the table `root` read at depth `start` (0: the top table). */
  private walkFrom(
    start: number,
    root: number,
    iova: number,
    out: WalkOut,
    fetch: TableFetchTranslator | undefined,
  ): void {
    const shape = this.shape;
    const codec = this.codec;
    if (!(iova >= 0 && iova < shape.inputLimit)) {
      // Input beyond the configured size: a translation fault at the start level (TxSZ check).
      out.fault = this.spec.outOfRangeFault ?? WalkFault.TRANSLATION;
      out.level = shape.levelOf[0]!;
      out.outputAddress = 0;
      out.pageSize = 0;
      out.perm = 0;
      out.descriptorLo = 0;
      out.descriptorHi = 0;
      out.descriptorAddress = 0;
      return;
    }
    // Tables in the memory's arena are read with one indexed load per descriptor (no frame lookup);
    // others through the per-depth frame cache. `out` is written once, at the end.
    const memory = this.memory;
    const arena = memory.arenaWords;
    const abase = memory.arenaBase;
    const abytes = memory.arenaBytes;
    const last = shape.depthCount - 1;
    const inv = shape.invEntrySize;
    const mask = shape.mask;
    let synced = false;
    let table = root;
    let d = start;
    let fault: number = WalkFault.TRANSLATION;
    let level = 0;
    let lo = 0;
    let hi = 0;
    let ea = 0;
    for (; d <= last; d++) {
      level = shape.levelOf[d]!;
      if (fetch !== undefined) {
        table = fetch(table, level);
        // A failed fetch reports the last descriptor this stage read (if any) at this level.
        if (table < 0) break;
      }
      // Multiplying by 2^-shift is exact and much cheaper than dividing.
      ea = table + (Math.floor(iova * inv[d]!) & mask[d]!) * 8;
      const off = ea - abase;
      if (off >= 0 && off < abytes) {
        const w = off >>> 2;
        lo = arena[w]!;
        hi = arena[w + 1]!;
      } else {
        if (!synced) {
          this.frames.sync();
          synced = true;
        }
        const words = this.frames.read(d, Math.floor(ea * INV_FRAME));
        const w = (ea & 4095) >> 2;
        lo = words[w]!;
        hi = words[w + 1]!;
      }
      if (!codec.isPresent(lo, hi, level)) break;
      fault = codec.walkFault(lo, hi, level, d === last);
      if (fault !== 0) break;
      if (d < last && codec.isTable(lo, hi, level)) {
        table = codec.tableAddress(lo, hi, level);
        fault = WalkFault.TRANSLATION;
        continue;
      }
      const size = codec.leafSize(lo, hi, level);
      out.fault = WalkFault.NONE;
      out.level = level;
      out.pageSize = size;
      out.outputAddress = codec.leafAddress(lo, hi, level) + lowBits(iova, size);
      out.perm = codec.leafPerm(lo, hi, level);
      out.descriptorLo = lo;
      out.descriptorHi = hi;
      out.descriptorAddress = ea;
      return;
    }
    out.fault = fault;
    out.level = level;
    out.outputAddress = 0;
    out.pageSize = 0;
    out.perm = 0;
    out.descriptorLo = lo;
    out.descriptorHi = hi;
    out.descriptorAddress = ea;
  }

  trace(root: number, iova: number): WalkTrace {
    const shape = this.shape;
    const codec = this.codec;
    const last = shape.depthCount - 1;
    const steps: WalkStep[] = [];
    const done = (fault: number, level: number, extra: Partial<WalkTrace> = {}): WalkTrace => ({
      iova: BigInt(iova),
      steps,
      level,
      ...(fault !== 0 ? { fault: WALK_FAULT_NAMES[fault] } : {}),
      ...extra,
    });
    if (!(iova >= 0 && iova < shape.inputLimit)) {
      return done(this.spec.outOfRangeFault ?? WalkFault.TRANSLATION, shape.levelOf[0]!);
    }
    let table = root;
    for (let d = 0; d <= last; d++) {
      const level = shape.levelOf[d]!;
      const index = Math.floor(iova / shape.entrySize[d]!) & shape.mask[d]!;
      const ea = table + index * 8;
      const words = this.memory.frameWords(Math.floor(ea / FRAME));
      const w = (ea & 4095) >> 2;
      const lo = words[w]!;
      const hi = words[w + 1]!;
      steps.push({
        level,
        tableAddress: BigInt(table),
        index,
        descriptorAddress: BigInt(ea),
        descriptor: joinU64(lo, hi),
        decoded: this.spec.decode(lo, hi, level),
      });
      if (!codec.isPresent(lo, hi, level)) return done(WalkFault.TRANSLATION, level);
      const fault = codec.walkFault(lo, hi, level, d === last);
      if (fault !== 0) return done(fault, level);
      if (d < last && codec.isTable(lo, hi, level)) {
        table = codec.tableAddress(lo, hi, level);
        continue;
      }
      const size = codec.leafSize(lo, hi, level);
      return done(0, level, {
        outputAddress: BigInt(codec.leafAddress(lo, hi, level) + lowBits(iova, size)),
        pageSize: BigInt(size),
        prot: codec.leafPerm(lo, hi, level),
      });
    }
    return done(WalkFault.TRANSLATION, shape.levelOf[last]!);
  }
}

/**
 * A driver-side radix page table (Linux's `io_pgtable_ops` for the format the spec describes).
 * Create it with {@link createRadixPageTable}.
 */
export class RadixPageTable implements PageTable {
  readonly format: FormatName;
  readonly geometry: PageTableGeometry;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  readonly root: bigint;
  readonly rootAddress: number;
  readonly walker: HwWalker;

  private readonly shape: Shape;
  private readonly codec: RadixCodec;
  private readonly spec: RadixTableSpec;
  private readonly policy: PartialUnmapPolicy;
  private readonly existsCode: Errno;
  private readonly replaceTables: boolean;
  private readonly replaceOnlyEmpty: boolean;
  private readonly requireAccess: boolean;
  private readonly bitmapLow: number;
  private readonly tlbFlushWalk: ((iova: number, size: number, granule: number) => void) | undefined;
  private freed = false;
  // Scratch state reused by every call: map's undo log and template, unmap's cursor.
  private readonly tpl: DescriptorHalves = { lo: 0, hi: 0 };
  private readonly scratch: DescriptorHalves = { lo: 0, hi: 0 };
  /** Tables allocated by the running map: [tablePa, parentEntryPa, depth] triples. */
  private readonly newTables: number[] = [];
  /** Numbers used in `newTables` (a count, not its length: truncating an array is a runtime call). */
  private nNew = 0;
  /** Table entries the running map overwrote with leaves: [entryPa, lo, hi, depth, iova] records. */
  private readonly replaced: number[] = [];
  private stepNext = Number.NaN;
  // The last leaf template per depth: encodeLeafTemplate(tplProt[d], level, tplSize[d]) gave
  // tplLo[d]/tplHi[d] (see RadixCodec); map-range style callers alternate page sizes.
  private readonly tplProt: Int32Array;
  private readonly tplSize: Float64Array;
  private readonly tplLo: Uint32Array;
  private readonly tplHi: Uint32Array;
  // Leaf-table cache: the table at depth `cacheDepth` that maps the iovas `i` with
  // `floor(i / span) === cacheKey` is at `cacheTable`. Consecutive maps and unmaps mostly land in
  // the same table, and this skips their walk from the root. Dropped whenever this table frees a
  // table; trusted while nobody else wrote memory (`cacheWrites`), else only after a walk from the
  // root still reaches it (`pathUnchanged`: any descriptor on the way may have been rewritten).
  private cacheDepth = -1;
  // The fast paths of mapPages / unmapPages: the size (NaN: none yet), prot and placement depth
  // last validated by the full path.
  //
  // Fields that can hold numbers beyond V8's small integers (2^30: addresses, sizes, descriptor
  // halves) start as NaN, a heap number: the field then has a double representation from the
  // start. Starting as a small integer, the first large value would change the object's hidden
  // class and deoptimise every function that uses a table (seen as map-range runs 10x slower).
  private mapFastSize = Number.NaN;
  private mapFastProt = 0;
  private mapFastDepth = 0;
  private mapFastLo = Number.NaN;
  private mapFastHi = Number.NaN;
  private unmapFastSize = Number.NaN;
  private unmapFastDepth = 0;
  /**
   * The page size a one-page fast unmap applies to now: `unmapFastSize` when the cached table is
   * at its depth and wholly in the arena, else -1 (one compare on the fast path instead of three).
   */
  private unmapFastPgsize = -1;
  private cacheKey = Number.NaN;
  private cacheTable = Number.NaN;
  /** `memory.writes` when the table was cached (or last found unchanged). */
  private cacheWrites = -1;
  /** Arena word index of `cacheTable` when the whole table is in the arena, else -1. */
  private cacheTableW = -1;
  // The shape of depth `cacheDepth` (Shape's per-depth values), in fields: the fast paths read
  // them without typed-array bounds checks.
  private cacheInvSpan = Number.NaN;
  private cacheInvEntry = Number.NaN;
  private cacheMask = 0;
  private cacheLevel = 0;
  /** Entries of a table at `cacheDepth`, and the index (at that depth) of the cached table's first. */
  private cacheEntries = 0;
  private cacheFirst = Number.NaN;
  // The highest iova (and paddr) a one-page fast map / unmap of the fast size may start at.
  private mapFastIovaMax = Number.NaN;
  private mapFastPaMax = Number.NaN;
  /** `arenaBase / 4` when the codec has `tableWord` (see {@link arenaBaseWord}), else -1. */
  private readonly baseWord: number;
  /**
   * The codec's fast tests per depth ({@link fastTests}), or null; the cached depth's leaf test
   * (mask, value, high mask) is copied below for the one-page unmap fast path (never matching
   * without them).
   */
  private readonly fastTests: Int32Array | null;
  private cacheLeafMask = 0;
  private cacheLeafValue = 1;
  private cacheLeafHiMask = 0;
  /**
   * The tables of map descents since the last invalidation: per depth d, the region key (`iova /
   * span of a table at d`, floored) and the table's address, at `[2d, 2d + 1]` (NaN: none). A
   * descent that finds `memory.writes` changed since `pathWrites` clears them first (someone else
   * wrote); forgetTable clears them when this table frees or replaces a table.
   */
  private readonly pathTables: Float64Array;
  private pathWrites = -1;

  constructor(spec: RadixTableSpec, options: RadixTableOptions) {
    this.spec = spec;
    this.format = spec.format;
    this.geometry = spec.geometry;
    this.memory = options.memory;
    this.allocator = options.allocator ?? defaultAllocator(options.memory);
    this.shape = new Shape(spec);
    this.codec = spec.codec;
    this.policy = spec.partialUnmap;
    this.existsCode = spec.existsCode ?? "EEXIST";
    this.replaceTables = (spec.leafOverTable ?? "replace") !== "refuse";
    this.replaceOnlyEmpty = spec.leafOverTable === "replace-empty";
    this.requireAccess = spec.requireAccess ?? true;
    this.bitmapLow = Number(spec.geometry.pgsizeBitmap & 0xffff_ffffn);
    this.tlbFlushWalk = options.tlbFlushWalk;
    const depths = this.shape.depthCount;
    this.tplProt = new Int32Array(depths).fill(-1);
    this.tplSize = new Float64Array(depths);
    this.tplLo = new Uint32Array(depths);
    this.tplHi = new Uint32Array(depths);
    this.rootAddress = this.allocator.alloc(this.shape.tableBytes[0]!);
    this.root = BigInt(this.rootAddress);
    this.walker = new RadixWalker(spec, this.memory);
    this.baseWord = arenaBaseWord(spec.codec, this.memory);
    this.pathTables = new Float64Array(depths * 2).fill(Number.NaN);
    this.fastTests = fastTests(spec.codec, this.shape);
  }

  // ---- map -------------------------------------------------------------------------------------

  map(iova: AddressLike, paddr: AddressLike, pgsize: AddressLike, pgcount: number, prot: number): void {
    this.mapPages(
      toNumber(iova, "iova"),
      toNumber(paddr, "paddr"),
      toNumber(pgsize, "pgsize"),
      pgcount,
      prot,
    );
  }

  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): void {
    // One page of the size and prot of the previous successful map, into the cached leaf table in
    // the arena, over an empty entry: the IOMMU core's common call, done here without the calls
    // (which box the double arguments) of the full path. The checks are checkMap's, with the size
    // and prot ones already done for this size and prot. Anything else takes the full path.
    // (Kept under V8's 460-byte bytecode limit for inlining: mind what is added here.)
    if (
      pgsize === this.mapFastSize &&
      prot === this.mapFastProt &&
      pgcount === 1 &&
      this.mapFastDepth === this.cacheDepth &&
      Number.isSafeInteger(iova) &&
      Number.isSafeInteger(paddr) &&
      iova >= 0 &&
      paddr >= 0 &&
      lowBits(iova, pgsize) === 0 &&
      lowBits(paddr, pgsize) === 0 &&
      iova <= this.mapFastIovaMax &&
      paddr <= this.mapFastPaMax &&
      Math.floor(iova * this.cacheInvSpan) === this.cacheKey
    ) {
      // The cached leaf table (cachedTable's checks, inline), entirely in the arena.
      const memory = this.memory;
      const tw = this.cacheTableW;
      if (tw >= 0 && (memory.writes === this.cacheWrites || this.pathUnchanged())) {
        const arena = memory.arenaWords;
        const w = tw + (Math.floor(iova * this.cacheInvEntry) & this.cacheMask) * 2;
        const codec = this.codec;
        if (!codec.isPresent(arena[w]!, arena[w + 1]!, this.cacheLevel)) {
          this.memory.touchArena(w);
          arena[w] = this.mapFastLo | codec.leafAddressLo(paddr, pgsize);
          arena[w + 1] = this.mapFastHi | codec.leafAddressHi(paddr, pgsize);
          return;
        }
      }
    }
    this.mapPagesFull(iova, paddr, pgsize, pgcount, prot);
  }

  private mapPagesFull(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): void {
    const depth = this.checkMap(iova, paddr, pgsize, pgcount, prot);
    const shape = this.shape;
    const codec = this.codec;
    const memory = this.memory;
    const span = shape.spanOfBit[sizeBit(pgsize)]!;
    const leafLevel = shape.levelOf[depth]!;
    if (prot !== this.tplProt[depth] || pgsize !== this.tplSize[depth]) {
      const tpl = this.tpl;
      codec.encodeLeafTemplate(prot, leafLevel, pgsize, tpl);
      this.tplProt[depth] = prot;
      this.tplSize[depth] = pgsize;
      this.tplLo[depth] = tpl.lo;
      this.tplHi[depth] = tpl.hi;
    }
    const tlo = this.tplLo[depth]!;
    const thi = this.tplHi[depth]!;
    // Setting an array's length is a runtime call: only pay it when a previous map left entries.
    this.nNew = 0;
    if (this.replaced.length !== 0) this.replaced.length = 0;
    const es = shape.entrySize[depth]!;
    const entries = shape.mask[depth]! + 1;
    const tableBytes = shape.tableBytes[depth]!;
    let cur = iova;
    let pa = paddr;
    let left = pgcount;
    try {
      while (left > 0) {
        const table = this.descendForMap(cur, depth);
        const idx = Math.floor(cur * shape.invEntrySize[depth]!) & shape.mask[depth]!;
        const n = Math.min(left, Math.floor((entries - idx) / span));
        // Read after the descent: a table it allocated may have grown the arena.
        const arena = memory.arenaWords;
        const toff = table - memory.arenaBase;
        if (toff >= 0 && toff + tableBytes <= memory.arenaBytes) {
          // The table is in the arena: plain indexed loads and stores.
          let w = (toff >>> 2) + idx * 2;
          if (span === 1) {
            // One entry per page. Frames are marked written as the writes reach them (the first at
            // once, as the per-frame path below does), not per entry.
            memory.touchArena(w);
            for (let i = 0; i < n; i++, w += 2) {
              const lo = arena[w]!;
              const hi = arena[w + 1]!;
              if (codec.isPresent(lo, hi, leafLevel))
                this.replaceCheck(lo, hi, depth, cur, table + (idx + i) * 8);
              if ((w & 1023) === 0) memory.touchArena(w);
              arena[w] = tlo | codec.leafAddressLo(pa, pgsize);
              arena[w + 1] = thi | codec.leafAddressHi(pa, pgsize);
              cur += pgsize;
              pa += pgsize;
              left--;
            }
            continue;
          }
          for (let i = 0; i < n; i++) {
            // Check every entry of this page before writing any, so a failure leaves whole pages.
            for (let s = 0; s < span; s++) {
              const lo = arena[w + 2 * s]!;
              const hi = arena[w + 2 * s + 1]!;
              if (codec.isPresent(lo, hi, leafLevel))
                this.replaceCheck(lo, hi, depth, cur + s * es, table + (idx + i * span + s) * 8);
            }
            const alo = tlo | codec.leafAddressLo(pa, pgsize);
            const ahi = thi | codec.leafAddressHi(pa, pgsize);
            for (let s = 0; s < span; s++) {
              memory.touchArena(w);
              arena[w] = alo;
              arena[w + 1] = ahi;
              w += 2;
            }
            cur += pgsize;
            pa += pgsize;
            left--;
          }
          continue;
        }
        let ea = table + idx * 8;
        let words = memory.frameWordsForWrite(Math.floor(ea / FRAME));
        for (let i = 0; i < n; i++) {
          // Check every entry of this page before writing any, so a failure leaves whole pages.
          let cea = ea;
          let cwords = words;
          for (let s = 0; s < span; s++) {
            if (s > 0 && (cea & 4095) === 0) cwords = memory.frameWordsForWrite(Math.floor(cea / FRAME));
            const w = (cea & 4095) >> 2;
            const lo = cwords[w]!;
            const hi = cwords[w + 1]!;
            if (codec.isPresent(lo, hi, leafLevel)) this.replaceCheck(lo, hi, depth, cur + s * es, cea);
            cea += 8;
          }
          const alo = tlo | codec.leafAddressLo(pa, pgsize);
          const ahi = thi | codec.leafAddressHi(pa, pgsize);
          for (let s = 0; s < span; s++) {
            if ((ea & 4095) === 0 && (i > 0 || s > 0))
              words = memory.frameWordsForWrite(Math.floor(ea / FRAME));
            const w = (ea & 4095) >> 2;
            words[w] = alo;
            words[w + 1] = ahi;
            ea += 8;
          }
          cur += pgsize;
          pa += pgsize;
          left--;
        }
      }
    } catch (error) {
      this.rollbackMap(iova, cur, pgsize, depth, span);
      throw error;
    }
    if (this.replaced.length > 0) this.commitReplaced();
    // Validated and mapped: the next call with this size and prot may take the fast path.
    this.mapFastSize = span === 1 && !this.freed ? pgsize : -1;
    this.mapFastProt = prot;
    this.mapFastDepth = depth;
    this.mapFastIovaMax = shape.inputLimit - pgsize;
    this.mapFastPaMax = shape.outputLimit - pgsize;
    // Its own copy: a later failed map with another prot replaces the per-depth template.
    this.mapFastLo = tlo;
    this.mapFastHi = thi;
  }

  /**
   * A map meets the present entry `lo`/`hi` (at `ea`, mapping `at`) where its leaf goes: throws
   * unless the entry is a table the format lets a leaf replace, which is recorded for the commit.
   */
  private replaceCheck(lo: number, hi: number, depth: number, at: number, ea: number): void {
    const codec = this.codec;
    const level = this.shape.levelOf[depth]!;
    if (!this.replaceTables || !codec.isTable(lo, hi, level)) throw this.exists(at, lo, hi);
    const below = codec.tableAddress(lo, hi, level);
    if (this.replaceOnlyEmpty && this.subtreeHasLeaf(below, depth + 1)) throw this.exists(at, lo, hi);
    this.replaced.push(ea, lo, hi, depth, at);
  }

  /** The cached table at `depth` for `iova` (see `cacheDepth`), or -1. */
  private cachedTable(iova: number, depth: number): number {
    if (
      depth === this.cacheDepth &&
      Math.floor(iova * this.shape.invTableSpan[depth]!) === this.cacheKey &&
      (this.memory.writes === this.cacheWrites || this.pathUnchanged())
    ) {
      return this.cacheTable;
    }
    return -1;
  }

  /** Caches `table`, the table at `depth` on the walk of `iova` (depth > 0). */
  private rememberTable(iova: number, depth: number, table: number): void {
    {
      const shape = this.shape;
      this.cacheDepth = depth;
      this.cacheInvSpan = shape.invTableSpan[depth]!;
      this.cacheInvEntry = shape.invEntrySize[depth]!;
      this.cacheMask = shape.mask[depth]!;
      this.cacheLevel = shape.levelOf[depth]!;
      const fast = this.fastTests;
      const k = depth * FAST_STRIDE;
      this.cacheLeafMask = fast === null ? 0 : fast[k + 4]!;
      this.cacheLeafValue = fast === null ? 1 : fast[k + 5]!;
      this.cacheLeafHiMask = fast === null ? 0 : fast[k + 6]!;
      this.cacheKey = Math.floor(iova * this.cacheInvSpan);
      this.cacheEntries = shape.mask[depth]! + 1;
      this.cacheFirst = this.cacheKey * this.cacheEntries;
      this.cacheTable = table;
      this.cacheWrites = this.memory.writes;
      const toff = table - this.memory.arenaBase;
      this.cacheTableW =
        toff >= 0 && toff + this.shape.tableBytes[depth]! <= this.memory.arenaBytes ? toff >>> 2 : -1;
    }
    this.syncUnmapFast();
  }

  /**
   * Someone wrote memory since the cached table was found: true when a walk from the root still
   * reaches it (then the walk is not repeated until the next write). A cleared or redirected
   * descriptor anywhere on the way makes it false.
   */
  private pathUnchanged(): boolean {
    const depth = this.cacheDepth;
    if (depth <= 0) return false;
    const shape = this.shape;
    const codec = this.codec;
    // The first address of the cached table's region: key * span, exact (a power of two).
    const iova = this.cacheKey / this.cacheInvSpan;
    let table = this.rootAddress;
    for (let d = 0; d < depth; d++) {
      const e = this.readEntry(table + (Math.floor(iova * shape.invEntrySize[d]!) & shape.mask[d]!) * 8);
      const level = shape.levelOf[d]!;
      if (!codec.isPresent(e.lo, e.hi, level) || !codec.isTable(e.lo, e.hi, level)) return false;
      table = codec.tableAddress(e.lo, e.hi, level);
    }
    if (table !== this.cacheTable) return false;
    this.cacheWrites = this.memory.writes;
    return true;
  }

  /** Forgets the cached table: called whenever this table frees or replaces a table. */
  private forgetTable(): void {
    this.cacheDepth = -1;
    this.unmapFastPgsize = -1;
    this.pathTables.fill(Number.NaN);
  }

  /** Recomputes {@link unmapFastPgsize} after the cached table or the fast unmap size changed. */
  private syncUnmapFast(): void {
    this.unmapFastPgsize =
      this.unmapFastDepth === this.cacheDepth && this.cacheTableW >= 0 ? this.unmapFastSize : -1;
  }

  /** Validates a map and returns the leaf's placement depth; throws before touching anything. */
  private checkMap(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): number {
    // Every check at once for the common case; a failure reruns them one by one for the error.
    const bit = sizeBit(pgsize);
    const depth = bit < 0 ? -1 : this.shape.depthOfBit[bit]!;
    if (depth >= 0 && !this.freed && pgcount > 0 && (pgcount | 0) === pgcount) {
      // iova / pgsize and paddr / pgsize are non-negative integers exactly when iova and paddr are
      // non-negative, integral and aligned; the limits (at most 2^52) bound them below 2^53.
      const inv = INV_POW2[bit]!;
      const qi = iova * inv;
      const qp = paddr * inv;
      const size = pgsize * pgcount;
      const limit = this.shape.inputLimit;
      const olimit = this.shape.outputLimit;
      if (
        qi >= 0 &&
        Math.floor(qi) === qi &&
        qp >= 0 &&
        Math.floor(qp) === qp &&
        size <= limit &&
        iova <= limit - size &&
        size <= olimit &&
        paddr <= olimit - size &&
        (!this.requireAccess || (prot & (IOMMU_READ | IOMMU_WRITE)) !== 0)
      ) {
        return depth;
      }
    }
    return this.checkMapSlowly(iova, paddr, pgsize, pgcount, prot);
  }

  /** {@link checkMap}'s checks one by one, throwing the first that fails (with its errno). */
  private checkMapSlowly(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): number {
    if (this.freed) throw new HwError("EINVAL", `${this.format}: table was freed`);
    const bit = sizeBit(pgsize);
    const depth = bit < 0 ? -1 : this.shape.depthOfBit[bit]!;
    if (depth < 0) throw this.badSize(pgsize, depth);
    if (!(Number.isSafeInteger(pgcount) && pgcount > 0)) {
      throw new HwError("EINVAL", `page count ${String(pgcount)} is not a positive safe integer`);
    }
    if (!(Number.isSafeInteger(iova) && iova >= 0))
      throw new HwError("EINVAL", `iova ${String(iova)} is not a non-negative safe integer`);
    if (!(Number.isSafeInteger(paddr) && paddr >= 0))
      throw new HwError("EINVAL", `paddr ${String(paddr)} is not a non-negative safe integer`);
    if (lowBits(iova, pgsize) !== 0)
      throw new HwError("EINVAL", `iova ${hex(iova)} is not aligned to the page size ${hex(pgsize)}`);
    if (lowBits(paddr, pgsize) !== 0)
      throw new HwError("EINVAL", `paddr ${hex(paddr)} is not aligned to the page size ${hex(pgsize)}`);
    const size = pgsize * pgcount;
    const limit = this.shape.inputLimit;
    if (!(size <= limit && iova <= limit - size)) {
      throw new HwError(
        "ERANGE",
        `iova range ${hex(iova)}+${pgcount}x${hex(pgsize)} is beyond the ${this.geometry.ias}-bit input size`,
      );
    }
    const olimit = this.shape.outputLimit;
    if (!(size <= olimit && paddr <= olimit - size)) {
      throw new HwError(
        "ERANGE",
        `paddr range ${hex(paddr)}+${pgcount}x${hex(pgsize)} is beyond the ${this.geometry.oas}-bit output size`,
      );
    }
    if (this.requireAccess && (prot & (IOMMU_READ | IOMMU_WRITE)) === 0) {
      throw new HwError("EINVAL", `prot ${hex(prot)} grants neither IOMMU_READ nor IOMMU_WRITE`);
    }
    return depth;
  }

  /** Walks to the table at `depth` covering `iova`, allocating missing tables (recorded for undo). */
  private descendForMap(iova: number, depth: number): number {
    if (depth === 0) return this.rootAddress;
    const cached = this.cachedTable(iova, depth);
    if (cached >= 0) return cached;
    const shape = this.shape;
    const codec = this.codec;
    const memory = this.memory;
    let table = this.rootAddress;
    let d = 0;
    // Start at the deepest table of earlier descents that covers `iova` too (a run of maps over
    // neighbouring regions shares its upper tables).
    const path = this.pathTables;
    if (memory.writes !== this.pathWrites) {
      // Someone wrote memory: no table of earlier descents can be trusted any more.
      path.fill(Number.NaN);
    } else {
      if (path[2 * depth] === Math.floor(iova * shape.invTableSpan[depth]!)) {
        // The table itself, asked for again: now worth caching for the fast paths (a descent does
        // not cache what it ends at: rememberTable's two dozen stores measured 15% of a map that
        // changes page size at every call, as a range map does).
        const found = path[2 * depth + 1]!;
        this.rememberTable(iova, depth, found);
        return found;
      }
      for (let k = depth - 1; k > 0; k--) {
        if (path[2 * k] === Math.floor(iova * shape.invTableSpan[k]!)) {
          d = k;
          table = path[2 * k + 1]!;
          break;
        }
      }
    }
    // Then through the tables already there in the arena, with integer word indexes (the walker's
    // fast path: `tableWord` accepts only tables the loop below would follow too).
    const baseWord = this.baseWord;
    const roff = table - memory.arenaBase;
    if (baseWord >= 0 && roff >= 0 && roff + shape.tableBytes[d]! <= memory.arenaBytes) {
      const arena = memory.arenaWords;
      let tw = roff >>> 2;
      for (; d < depth; d++) {
        const w = tw + (Math.floor(iova * shape.invEntrySize[d]!) & shape.mask[d]!) * 2;
        const next = codec.tableWord!(arena[w]!, arena[w + 1]!, shape.levelOf[d]!) - baseWord;
        if (!(next >= 0 && next * 4 + shape.tableBytes[d + 1]! <= memory.arenaBytes)) break;
        tw = next;
        table = memory.arenaBase + next * 4;
        path[2 * d + 2] = Math.floor(iova * shape.invTableSpan[d + 1]!);
        path[2 * d + 3] = table;
      }
    }
    for (; d < depth; d++) {
      const level = shape.levelOf[d]!;
      const ea = table + (Math.floor(iova * shape.invEntrySize[d]!) & shape.mask[d]!) * 8;
      const off = ea - memory.arenaBase;
      let words: Uint32Array;
      let w: number;
      if (off >= 0 && off < memory.arenaBytes) {
        words = memory.arenaWords;
        w = off >>> 2;
      } else {
        words = memory.frameWords(Math.floor(ea / FRAME));
        w = (ea & 4095) >> 2;
      }
      const lo = words[w]!;
      const hi = words[w + 1]!;
      if (!codec.isPresent(lo, hi, level)) {
        const t = this.allocator.alloc(shape.tableBytes[d + 1]!);
        const nt = this.newTables;
        const k = this.nNew;
        nt[k] = t;
        nt[k + 1] = ea;
        nt[k + 2] = d + 1;
        this.nNew = k + 3;
        const s = this.scratch;
        codec.encodeTable(t, level, s);
        this.writeEntry(ea, s.lo, s.hi);
        table = t;
      } else if (codec.isTable(lo, hi, level)) {
        table = codec.tableAddress(lo, hi, level);
      } else {
        // "We require an unmap first": a larger leaf covers this address.
        throw this.exists(iova, lo, hi);
      }
      path[2 * d + 2] = Math.floor(iova * shape.invTableSpan[d + 1]!);
      path[2 * d + 3] = table;
    }
    // Allocations may have written memory: the path is current as of now.
    this.pathWrites = memory.writes;
    return table;
  }

  private badSize(pgsize: number, depth: number): HwError {
    if (depth === -2) {
      return new HwError(
        "ERANGE",
        `page size ${hex(pgsize)} is larger than the ${this.geometry.ias}-bit input range`,
      );
    }
    return new HwError(
      "EINVAL",
      `page size ${hex(pgsize)} is not one of ${this.format}'s sizes (bitmap ${hex(this.geometry.pgsizeBitmap)})`,
    );
  }

  private exists(iova: number, lo: number, hi: number): HwError {
    return new HwError(
      this.existsCode,
      `iova ${hex(iova)} is already mapped (descriptor ${hex(joinU64(lo, hi))}); unmap it first`,
    );
  }

  /** Undoes a failed map: clears its leaves, restores replaced tables, frees the tables it allocated. */
  private rollbackMap(iova: number, end: number, pgsize: number, depth: number, span: number): void {
    this.forgetTable();
    const shape = this.shape;
    for (let cur = iova; cur < end; cur += pgsize) {
      let table = this.rootAddress;
      for (let d = 0; d < depth; d++) {
        const level = shape.levelOf[d]!;
        const ea = table + (Math.floor(cur / shape.entrySize[d]!) & shape.mask[d]!) * 8;
        const e = this.readEntry(ea);
        table = this.codec.tableAddress(e.lo, e.hi, level);
      }
      let ea = table + (Math.floor(cur / shape.entrySize[depth]!) & shape.mask[depth]!) * 8;
      for (let s = 0; s < span; s++, ea += 8) this.writeEntry(ea, 0, 0);
    }
    const r = this.replaced;
    for (let i = r.length - 5; i >= 0; i -= 5) this.writeEntry(r[i]!, r[i + 1]!, r[i + 2]!);
    r.length = 0;
    const t = this.newTables;
    for (let i = this.nNew - 3; i >= 0; i -= 3) {
      this.writeEntry(t[i + 1]!, 0, 0);
      this.allocator.free(t[i]!, shape.tableBytes[t[i + 2]!]!);
    }
    this.nNew = 0;
  }

  /** A successful map frees the subtrees its leaves replaced (`arm_lpae_init_pte`). */
  private commitReplaced(): void {
    const r = this.replaced;
    for (let i = 0; i < r.length; i += 5) {
      const depth = r[i + 3]!;
      const iova = r[i + 4]!;
      const level = this.shape.levelOf[depth]!;
      this.tlbFlushWalk?.(iova, this.shape.entrySize[depth]!, this.geometry.granule);
      this.freeSubtree(this.codec.tableAddress(r[i + 1]!, r[i + 2]!, level), depth + 1, iova, undefined);
    }
    r.length = 0;
  }

  /** True when the table at `depth` or any table below it holds a present leaf. */
  private subtreeHasLeaf(table: number, depth: number): boolean {
    const shape = this.shape;
    const codec = this.codec;
    const level = shape.levelOf[depth]!;
    const last = depth === shape.depthCount - 1;
    const entries = shape.mask[depth]! + 1;
    for (let i = 0; i < entries; i++) {
      const ea = table + i * 8;
      const e = this.readEntry(ea);
      const lo = e.lo;
      const hi = e.hi;
      if (!codec.isPresent(lo, hi, level)) continue;
      if (last || !codec.isTable(lo, hi, level)) return true;
      if (this.subtreeHasLeaf(codec.tableAddress(lo, hi, level), depth + 1)) return true;
    }
    return false;
  }

  private writeEntry(ea: number, lo: number, hi: number): void {
    const memory = this.memory;
    const off = ea - memory.arenaBase;
    if (off >= 0 && off < memory.arenaBytes) {
      const w = off >>> 2;
      memory.touchArena(w);
      const arena = memory.arenaWords;
      arena[w] = lo;
      arena[w + 1] = hi;
      return;
    }
    const words = memory.frameWordsForWrite(Math.floor(ea / FRAME));
    const w = (ea & 4095) >> 2;
    words[w] = lo;
    words[w + 1] = hi;
  }

  /**
   * Frees the table at `depth` (mapping from `iova`) and every table below it; records each page in
   * `gather` when one is given.
   */
  private freeSubtree(table: number, depth: number, iova: number, gather: UnmapGather | undefined): void {
    this.forgetTable();
    const shape = this.shape;
    const codec = this.codec;
    if (depth < shape.depthCount - 1) {
      const level = shape.levelOf[depth]!;
      const entries = shape.mask[depth]! + 1;
      for (let i = 0; i < entries; i++) {
        const ea = table + i * 8;
        const e = this.readEntry(ea);
        const lo = e.lo;
        const hi = e.hi;
        if (codec.isPresent(lo, hi, level) && codec.isTable(lo, hi, level)) {
          this.freeSubtree(
            codec.tableAddress(lo, hi, level),
            depth + 1,
            iova + i * shape.entrySize[depth]!,
            gather,
          );
        }
      }
    }
    const covers = shape.entrySize[depth]! * (shape.mask[depth]! + 1);
    if (gather) gather.addFreedTable(table, iova, covers, shape.levelOf[depth]!);
    this.allocator.free(table, shape.tableBytes[depth]!);
  }

  // ---- unmap -----------------------------------------------------------------------------------

  unmap(iova: AddressLike, pgsize: AddressLike, pgcount: number, gather?: UnmapGather): bigint {
    return BigInt(this.unmapPages(toNumber(iova, "iova"), toNumber(pgsize, "pgsize"), pgcount, gather));
  }

  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: UnmapGather): number {
    // One page of the size of the previous unmap, a leaf of exactly that size in the cached leaf
    // table in the arena: cleared without the full path's calls (see mapPages). Its checks are the
    // full path's, with the size ones already done for this size. Anything else (a hole included)
    // takes the full path. (Kept under V8's 460-byte bytecode limit for inlining: mind what is
    // added here.)
    // The index of `iova` in the cached table: an integer in [0, entries) exactly when iova is an
    // aligned address inside the table's span, which the full path validated when it cached the
    // table (so non-integer, negative, misaligned and out-of-range inputs all fail this one test).
    // `k | 0` is exact below 2^31: it keeps the index an integer, as a float index costs a check.
    const k = iova * this.cacheInvEntry - this.cacheFirst;
    if (
      pgsize === this.unmapFastPgsize &&
      pgcount === 1 &&
      k >= 0 &&
      k < this.cacheEntries &&
      (k | 0) === k
    ) {
      // The cached leaf table, wholly in the arena: the walk still reaches it while nobody else
      // wrote memory (this table's own changes call forgetTable), or when a new walk does.
      const memory = this.memory;
      if (memory.writes === this.cacheWrites || this.pathUnchanged()) {
        const arena = memory.arenaWords;
        const w = this.cacheTableW + (k | 0) * 2;
        // A leaf of the cached depth's size by the codec's fastTest masks (sound: tested per format).
        if (
          (arena[w]! & this.cacheLeafMask) === this.cacheLeafValue &&
          (arena[w + 1]! & this.cacheLeafHiMask) === 0
        ) {
          // The entry's frame holds a present leaf, so it is resident: no touchArena needed.
          arena[w] = 0;
          arena[w + 1] = 0;
          if (gather !== undefined) gather.addLeaf(iova, pgsize, this.cacheLevel);
          return pgsize;
        }
      }
    }
    return this.unmapPagesFull(iova, pgsize, pgcount, gather);
  }

  private unmapPagesFull(iova: number, pgsize: number, pgcount: number, gather?: UnmapGather): number {
    if (this.freed) throw new HwError("EINVAL", `${this.format}: table was freed`);
    const bit = sizeBit(pgsize);
    const depth = bit < 0 ? -1 : this.shape.depthOfBit[bit]!;
    if (depth < 0) throw this.badSize(pgsize, depth);
    if (!(Number.isSafeInteger(pgcount) && pgcount > 0)) {
      throw new HwError("EINVAL", `page count ${String(pgcount)} is not a positive safe integer`);
    }
    if (!(Number.isSafeInteger(iova) && iova >= 0))
      throw new HwError("EINVAL", `iova ${String(iova)} is not a non-negative safe integer`);
    if (lowBits(iova, pgsize) !== 0)
      throw new HwError("EINVAL", `iova ${hex(iova)} is not aligned to the page size ${hex(pgsize)}`);
    const size = pgsize * pgcount;
    const limit = this.shape.inputLimit;
    if (!(size <= limit && iova <= limit - size)) {
      throw new HwError(
        "ERANGE",
        `iova range ${hex(iova)}+${pgcount}x${hex(pgsize)} is beyond the ${this.geometry.ias}-bit input size`,
      );
    }
    const g = gather ?? this.scratchGather();
    const span = this.shape.spanOfBit[bit]!;
    // Validated: the next one-page unmap of this size may take the fast path.
    this.unmapFastSize = span === 1 ? pgsize : -1;
    this.unmapFastDepth = depth;
    this.syncUnmapFast();
    const end = iova + size;
    let cur = iova;
    let done = 0;
    while (cur < end) {
      const left = Math.ceil((end - cur) / pgsize);
      const cached = depth > 0 ? this.cachedTable(cur, depth) : -1;
      const n =
        cached >= 0
          ? this.unmapIn(cached, depth, cur, pgsize, span, left, g)
          : this.unmapFrom(this.rootAddress, 0, cur, pgsize, depth, span, left, g);
      if (n === 0) break;
      done += n;
      cur = this.stepNext;
    }
    return done;
  }

  private spareGather: UnmapGather | undefined;
  /** A gather for callers that pass none: nobody reads it, so only its table list is bounded. */
  private scratchGather(): UnmapGather {
    let g = this.spareGather;
    if (g === undefined) {
      g = new UnmapGather();
      this.spareGather = g;
    } else if (g.freedTables.length !== 0) {
      g.reset();
    }
    return g;
  }

  /** The entry at `ea` as halves in `this.scratch`: through the arena when it is there. */
  private readEntry(ea: number): DescriptorHalves {
    const memory = this.memory;
    const out = this.scratch;
    const off = ea - memory.arenaBase;
    if (off >= 0 && off < memory.arenaBytes) {
      const arena = memory.arenaWords;
      const w = off >>> 2;
      out.lo = arena[w]!;
      out.hi = arena[w + 1]!;
    } else {
      const words = memory.frameWords(Math.floor(ea / FRAME));
      const w = (ea & 4095) >> 2;
      out.lo = words[w]!;
      out.hi = words[w + 1]!;
    }
    return out;
  }

  /** {@link unmapFrom} already at the placement depth: `table` is the cached table there. */
  private unmapIn(
    table: number,
    depth: number,
    cur: number,
    pgsize: number,
    span: number,
    left: number,
    gather: UnmapGather,
  ): number {
    const idx = Math.floor(cur * this.shape.invEntrySize[depth]!) & this.shape.mask[depth]!;
    const e = this.readEntry(table + idx * 8);
    if (!this.codec.isPresent(e.lo, e.hi, this.shape.levelOf[depth]!)) return 0;
    return this.unmapBatch(table, depth, idx, cur, pgsize, span, left, gather);
  }

  /**
   * One `__arm_lpae_unmap`-style descent from `table` at depth `d`: returns bytes removed (0 at a hole
   * or a refused partial unmap) and leaves the next iova in `stepNext`.
   */
  private unmapFrom(
    table: number,
    d: number,
    cur: number,
    pgsize: number,
    depth: number,
    span: number,
    left: number,
    gather: UnmapGather,
  ): number {
    const shape = this.shape;
    const codec = this.codec;
    for (;;) {
      const level = shape.levelOf[d]!;
      const idx = Math.floor(cur * shape.invEntrySize[d]!) & shape.mask[d]!;
      const ea = table + idx * 8;
      const e = this.readEntry(ea);
      const lo = e.lo;
      const hi = e.hi;
      if (!codec.isPresent(lo, hi, level)) return 0;
      if (d === depth) {
        if (d > 0) this.rememberTable(cur, depth, table);
        return this.unmapBatch(table, d, idx, cur, pgsize, span, left, gather);
      }
      if (codec.isTable(lo, hi, level)) {
        table = codec.tableAddress(lo, hi, level);
        d++;
        continue;
      }
      return this.unmapPartial(table, d, idx, lo, hi, cur, pgsize, depth, span, left, gather);
    }
  }

  /** Removes up to `left` pages at their placement depth, stopping at the first hole. */
  private unmapBatch(
    table: number,
    d: number,
    idx: number,
    cur: number,
    pgsize: number,
    span: number,
    left: number,
    gather: UnmapGather,
  ): number {
    const shape = this.shape;
    const codec = this.codec;
    const level = shape.levelOf[d]!;
    const es = shape.entrySize[d]!;
    const n = Math.min(left, Math.floor((shape.mask[d]! + 1 - idx) / span));
    let done = 0;
    let ea = table + idx * 8;
    for (let i = 0; i < n; i++, ea += 8 * span) {
      const e = this.readEntry(ea);
      const lo = e.lo;
      const hi = e.hi;
      const at = cur + i * pgsize;
      if (!codec.isPresent(lo, hi, level)) break;
      if (codec.isTable(lo, hi, level)) {
        // Unmapping at a coarser size than what is mapped removes the whole subtree.
        for (let s = 0; s < span; s++) this.clearEntryAndSubtree(ea + s * 8, d, at + s * es, gather);
      } else {
        const size = codec.leafSize(lo, hi, level);
        if (size !== pgsize || lowBits(at, size) !== 0) {
          if (i > 0) break;
          return this.unmapPartial(table, d, idx, lo, hi, cur, pgsize, d, span, left, gather);
        }
        for (let s = 0; s < span; s++) this.writeEntry(ea + s * 8, 0, 0);
        gather.addLeaf(at, pgsize, level);
      }
      done += pgsize;
    }
    this.stepNext = cur + done;
    return done;
  }

  private clearEntryAndSubtree(ea: number, d: number, iova: number, gather: UnmapGather): void {
    const level = this.shape.levelOf[d]!;
    const e = this.readEntry(ea);
    const lo = e.lo;
    const hi = e.hi;
    this.writeEntry(ea, 0, 0);
    if (!this.codec.isPresent(lo, hi, level)) return;
    if (this.codec.isTable(lo, hi, level)) {
      const es = this.shape.entrySize[d]!;
      this.tlbFlushWalk?.(iova, es, this.geometry.granule);
      this.freeSubtree(this.codec.tableAddress(lo, hi, level), d + 1, iova, gather);
    } else {
      gather.addLeaf(iova, this.codec.leafSize(lo, hi, level), level);
    }
  }

  /** An unmap that covers only part of the leaf at depth `d` (or is not aligned to it). */
  private unmapPartial(
    table: number,
    d: number,
    idx: number,
    lo: number,
    hi: number,
    cur: number,
    pgsize: number,
    depth: number,
    span: number,
    left: number,
    gather: UnmapGather,
  ): number {
    const shape = this.shape;
    const codec = this.codec;
    const level = shape.levelOf[d]!;
    switch (this.policy) {
      case "refuse":
        return 0;
      case "whole": {
        const size = codec.leafSize(lo, hi, level);
        // generic_pt `__unmap_range`: an unmap may end inside a large leaf (the whole leaf goes) but
        // must not start inside one (-EINVAL, nothing unmapped).
        if (lowBits(cur, size) !== 0) return 0;
        const base = cur - lowBits(cur, size);
        const es = shape.entrySize[d]!;
        const first = table + (Math.floor(base / es) & shape.mask[d]!) * 8;
        const count = Math.max(1, size / es);
        for (let s = 0; s < count; s++) this.writeEntry(first + s * 8, 0, 0);
        gather.addLeaf(base, size, level);
        this.stepNext = base + size;
        return size;
      }
      case "split":
        return this.splitBlock(table + idx * 8, d, lo, hi, cur, pgsize, depth, span, left, gather);
    }
  }

  /** `arm_lpae_split_blk_unmap`: replace a block by a table of smaller leaves, minus the unmapped part. */
  private splitBlock(
    ea: number,
    d: number,
    lo: number,
    hi: number,
    cur: number,
    pgsize: number,
    depth: number,
    span: number,
    left: number,
    gather: UnmapGather,
  ): number {
    const shape = this.shape;
    const codec = this.codec;
    if (d >= shape.depthCount - 1) return 0;
    const level = shape.levelOf[d]!;
    const cd = d + 1;
    const clevel = shape.levelOf[cd]!;
    const ces = shape.entrySize[cd]!;
    const entries = shape.mask[cd]! + 1;
    let t: number;
    this.forgetTable();
    try {
      t = this.allocator.alloc(shape.tableBytes[cd]!);
    } catch (error) {
      // Linux returns 0 bytes unmapped when the split table cannot be allocated.
      if ((error as { code?: unknown }).code === "ENOMEM") return 0;
      throw error;
    }
    let start = -1;
    let num = 0;
    if (pgsize === ces) {
      start = Math.floor(cur / ces) & shape.mask[cd]!;
      num = Math.min(left, entries - start);
    }
    const tpl = this.tpl;
    codec.splitTemplate(lo, hi, level, clevel, tpl);
    const tlo = tpl.lo;
    const thi = tpl.hi;
    let pa = codec.leafAddress(lo, hi, level);
    for (let i = 0; i < entries; i++, pa += ces) {
      if (i >= start && i < start + num) continue;
      this.writeEntry(t + i * 8, tlo | codec.leafAddressLo(pa, ces), thi | codec.leafAddressHi(pa, ces));
    }
    const s = this.scratch;
    codec.encodeTable(t, level, s);
    this.writeEntry(ea, s.lo, s.hi);
    if (num > 0) {
      for (let i = 0; i < num; i++) gather.addLeaf(cur + i * pgsize, pgsize, clevel);
      this.stepNext = cur + num * pgsize;
      return num * pgsize;
    }
    return this.unmapFrom(t, cd, cur, pgsize, depth, span, left, gather);
  }

  // ---- lookups ---------------------------------------------------------------------------------

  iovaToPhys(iova: AddressLike): bigint {
    const a = toNumber(iova, "iova");
    if (this.freed || a >= this.shape.inputLimit) return 0n;
    const shape = this.shape;
    const codec = this.codec;
    let table = this.rootAddress;
    for (let d = 0; d < shape.depthCount; d++) {
      const level = shape.levelOf[d]!;
      const ea = table + (Math.floor(a / shape.entrySize[d]!) & shape.mask[d]!) * 8;
      const e = this.readEntry(ea);
      const lo = e.lo;
      const hi = e.hi;
      if (!codec.isPresent(lo, hi, level)) return 0n;
      if (d < shape.depthCount - 1 && codec.isTable(lo, hi, level)) {
        table = codec.tableAddress(lo, hi, level);
        continue;
      }
      return BigInt(codec.leafAddress(lo, hi, level) + lowBits(a, codec.leafSize(lo, hi, level)));
    }
    return 0n;
  }

  walk(iova: AddressLike): WalkTrace {
    return this.walker.trace(this.rootAddress, toNumber(iova, "iova"));
  }

  free(): void {
    if (this.freed) return;
    this.mapFastSize = -1;
    this.unmapFastSize = -1;
    this.unmapFastPgsize = -1;
    this.freeSubtree(this.rootAddress, 0, 0, undefined);
    this.freed = true;
  }

  /** Low 32 bits of the page-size bitmap (for callers that pick sizes without bigint). */
  get pgsizeBitmapLow(): number {
    return this.bitmapLow;
  }

  /** The spec this table was built from (format-internal use: tests, dumps). */
  get radixSpec(): RadixTableSpec {
    return this.spec;
  }
}

/** Creates an empty radix page table: allocates its top table from the allocator. */
export function createRadixPageTable(spec: RadixTableSpec, options: RadixTableOptions): RadixPageTable {
  return new RadixPageTable(spec, options);
}

/** Creates the hardware walker for tables of `spec`'s shape in `memory`. */
export function createRadixWalker(spec: RadixTableSpec, memory: PhysMemory): RadixWalker {
  return new RadixWalker(spec, memory);
}

/**
 * The `create` and `createWalker` members of a registry entry for a format on this engine: both
 * build the format's spec from the config, so a table and a walker of the same config agree.
 */
export function radixFormatOps(
  specOf: (config: Omit<PageTableConfig, "allocator">) => RadixTableSpec,
): Pick<PageTableFormatDefinition, "create" | "createWalker"> {
  return {
    create: (config) =>
      createRadixPageTable(specOf(config), {
        memory: config.memory,
        ...(config.allocator ? { allocator: config.allocator } : {}),
        ...(config.tlbFlushWalk ? { tlbFlushWalk: config.tlbFlushWalk } : {}),
      }),
    createWalker: (config) => createRadixWalker(specOf(config), config.memory),
  };
}
