/**
 * Page-table workloads of the native baseline (`shared/baselines/native-pt/pt_native.c`), run
 * through the public API with the same semantics and sizes so the two can be compared as a ratio on
 * the same machine: map4k, walk, unmap4k and map-range on an ARM LPAE stage-1 table (4 KiB granule,
 * 48-bit). The IOTLB workload of the C file belongs to the IOTLB model and is not run here.
 */
import { createPhysMemory, type PhysMemory } from "../memory/phys-memory.js";
import { createPageTable } from "../page-table/registry.js";
import { createWalkOut, type HwWalker, type PageTable, type WalkOut } from "../page-table/types.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { benchNow } from "./clock.js";

/** One result line, shaped like the native program's JSON output. */
export interface PageTableWorkloadResult {
  workload: string;
  ops: number;
  ns_per_op: number;
}

/** Options of {@link runPageTableWorkloads}. */
export interface PageTableWorkloadOptions {
  /** Repetitions; the best (fastest) is reported, as the C code does. @default 5 */
  reps?: number;
  /** Pages for map4k/walk/unmap4k. @default 262144 (1 GiB of 4 KiB pages) */
  pages?: number;
  /**
   * Least repetitions of map-range, which is short (64 ranges, tens of microseconds): after only
   * five, V8 has not finished optimising the map path it uses (the other workloads run 262144 calls
   * per repetition and are warm after one). It also repeats until {@link rangeMinMs} have passed,
   * as V8 compiles on a background thread that a loaded machine may delay. The best is reported,
   * as for the others. @default 40
   */
  rangeReps?: number;
  /** Least total time of the map-range repetitions, in milliseconds. @default 200 */
  rangeMinMs?: number;
}

const PAGE = 4096;
const IOVA_BASE = 0x1_0000_0000;
const PA_BASE = 0x8_0000_0000;
const RANGES = 64;
const RANGE_LEN = 2 ** 30 + 4 * 2 ** 20 + 3 * PAGE;

/**
 * The C code's shuffle: Fisher-Yates with xorshift64 (13, 7, 17) from 0x9e3779b97f4a7c15, drawn
 * `rng() % (i + 1)`. BigInt is fine here: this is setup, outside the timed loops.
 */
export function xorshiftOrder(n: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let s = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (let i = n - 1; i > 0; i--) {
    s ^= (s << 13n) & mask;
    s ^= s >> 7n;
    s ^= (s << 17n) & mask;
    const j = Number(s % BigInt(i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** The page sizes of `pt`'s bitmap, ascending. */
export function pageSizesOf(pt: PageTable): number[] {
  const sizes: number[] = [];
  const bitmap = pt.geometry.pgsizeBitmapNumber;
  for (let b = 0; b < 53; b++) if (Math.floor(bitmap / 2 ** b) % 2 === 1) sizes.push(2 ** b);
  return sizes;
}

/** `value mod size` for a power-of-two `size` and a non-negative integer `value` below 2^53. */
function modPow2(value: number, size: number): number {
  // `&` is exact for sizes up to 2^31; a float `%` on values above 2^31 is a runtime call.
  return size <= 0x8000_0000 ? value & (size - 1) : value - Math.floor(value / size) * size;
}

/**
 * Maps `[iova, iova + size)` with the largest page sizes alignment allows, the way the IOMMU core's
 * `iommu_pgsize` splits a range (hw-facts 3.0a), one `mapPages` call per run of equal pages.
 * `sizes` is {@link pageSizesOf}(pt).
 */
export function mapRangeLikeIommuCore(
  pt: PageTable,
  sizes: readonly number[],
  iova: number,
  pa: number,
  size: number,
  prot: number,
): void {
  while (size > 0) {
    let k = -1;
    for (let i = sizes.length - 1; i >= 0; i--) {
      const s = sizes[i]!;
      if (s <= size && modPow2(iova, s) === 0 && modPow2(pa, s) === 0) {
        k = i;
        break;
      }
    }
    if (k < 0) throw new Error(`range ${iova.toString(16)}+${size.toString(16)} is not page aligned`);
    const pgsize = sizes[k]!;
    let count = Math.floor(size / pgsize);
    const next = sizes[k + 1];
    if (next !== undefined && modPow2(iova, next) === modPow2(pa, next)) {
      // Stop at the next larger size's boundary so the following call can use it.
      const offset = next - modPow2(iova, next);
      if (offset + next <= size) count = offset / pgsize;
    }
    pt.mapPages(iova, pa, pgsize, count, prot);
    const bytes = pgsize * count;
    iova += bytes;
    pa += bytes;
    size -= bytes;
  }
}

function now(): number {
  return benchNow();
}

function newTable(memory: PhysMemory): PageTable {
  return createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48, granule: PAGE });
}

// The timed loops, each in its own function: V8's inlining budget is per optimised function, so
// one function holding all four loops could not inline `mapPages` / `unmapPages` fast paths into
// every loop (a call boxes the double iova on every page). The C code's loops are separate too.

// The timed loops spell their constants as literals, as the C code's macros are: a module-level
// `const` is a context slot V8 loads (with a temporal-dead-zone check) and cannot fold, so the
// page size would reach `mapPages` / `unmapPages` as a variable. Their counts are bounded inline
// (`Math.min(n, 1 << 26) | 0`: 256 GiB of pages, beyond any run here) as C's are by its constant
// NPAGES, so V8 keeps `i * 4096` integer; a helper function for it measured slower, as its call
// takes from the loop's inlining budget. Together these measured about 3 ns of unmap4k's 9.
// `checkLiterals` ties the literals to the constants.

function checkLiterals(): void {
  if (PAGE !== 4096 || IOVA_BASE !== 0x1_0000_0000 || PA_BASE !== 0x8_0000_0000) {
    throw new Error("page-table workloads: the timed loops' literals are out of date");
  }
}

function mapLoop(pt: PageTable, n: number, prot: number): void {
  const count = Math.min(n, 1 << 26) | 0;
  for (let i = 0; i < count; i++)
    pt.mapPages(0x1_0000_0000 + i * 4096, 0x8_0000_0000 + i * 4096, 4096, 1, prot);
}

/**
 * `walk`: the C loop's addresses (`IOVA_BASE + order[i] * 4096 + 8`) written into an array and
 * walked with `translateMany`, both inside the timed region; the sum of the outputs keeps the work.
 */
function walkLoop(
  walker: HwWalker,
  root: number,
  order: Uint32Array,
  iovas: Float64Array,
  outs: Float64Array,
): number {
  for (let i = 0; i < order.length; i++) iovas[i] = 0x1_0000_0008 + order[i]! * 4096;
  walker.translateMany(root, iovas, outs);
  let acc = 0;
  for (let i = 0; i < outs.length; i++) acc += outs[i]!;
  return acc;
}

/** `walk-call`: the same walks, one `translate` call each (reported for comparison). */
function walkCallLoop(walker: HwWalker, root: number, order: Uint32Array, out: WalkOut): number {
  let acc = 0;
  for (let i = 0; i < order.length; i++) {
    walker.translate(root, 0x1_0000_0008 + order[i]! * 4096, out);
    acc += out.outputAddress;
  }
  return acc;
}

function unmapLoop(pt: PageTable, n: number): number {
  const count = Math.min(n, 1 << 26) | 0;
  let acc = 0;
  for (let i = 0; i < count; i++) acc += pt.unmapPages(0x1_0000_0000 + i * 4096, 4096, 1);
  return acc;
}

function rangeLoop(rt: PageTable, sizes: readonly number[]): void {
  for (let r = 0; r < RANGES; r++) {
    mapRangeLikeIommuCore(rt, sizes, IOVA_BASE + r * 2 ** 31, PA_BASE + r * 2 ** 31, RANGE_LEN, IOMMU_READ);
  }
}

/** The timed loops once, untimed, over the first 16384 pages (see runPageTableWorkloads). */
function warmUp(memory: PhysMemory, order: Uint32Array, prot: number): void {
  const n = Math.min(16384, order.length);
  const small = order.filter((p) => p < n);
  const pt = newTable(memory);
  mapLoop(pt, n, prot);
  benchSink += walkLoop(pt.walker, pt.rootAddress, small, new Float64Array(n), new Float64Array(n));
  benchSink += walkCallLoop(pt.walker, pt.rootAddress, small, createWalkOut());
  benchSink += unmapLoop(pt, n);
  pt.free();
}

/** Keeps results observable so the JIT cannot drop the loops. */
export let benchSink = 0;

/**
 * Runs map4k, walk, unmap4k and map-range `reps` times each and reports the best time per
 * operation, like `pt_native` (which the lead's `bench:json` compares against).
 */
export function runPageTableWorkloads(options: PageTableWorkloadOptions = {}): PageTableWorkloadResult[] {
  const reps = options.reps ?? 5;
  const n = options.pages ?? 262144;
  const order = xorshiftOrder(n);
  const prot = IOMMU_READ | IOMMU_WRITE;
  let bestMap = Number.POSITIVE_INFINITY;
  let bestWalk = Number.POSITIVE_INFINITY;
  let bestWalkCall = Number.POSITIVE_INFINITY;
  const iovas = new Float64Array(n);
  const outs = new Float64Array(n);
  let bestUnmap = Number.POSITIVE_INFINITY;
  let bestRange = Number.POSITIVE_INFINITY;
  const out = createWalkOut();
  // One memory for every repetition, as the C code reuses its table arena: each repetition's tables
  // are freed before the next starts, so later ones reuse frames the first one already touched.
  checkLiterals();
  const memory = createPhysMemory();
  // One untimed round on a small table first: V8 compiles the loops' fast paths on a background
  // thread, and a first timed repetition that finishes before they are ready is not the code's
  // speed (the C code has nothing to warm up). Every repetition after it is timed, as in C.
  warmUp(memory, order, prot);
  for (let rep = 0; rep < reps; rep++) {
    const pt = newTable(memory);
    const t0 = now();
    mapLoop(pt, n, prot);
    const t1 = now();
    let acc = walkLoop(pt.walker, pt.rootAddress, order, iovas, outs);
    const t2 = now();
    acc += walkCallLoop(pt.walker, pt.rootAddress, order, out);
    const t2c = now();
    acc += unmapLoop(pt, n);
    const t3 = now();
    benchSink += acc;
    bestMap = Math.min(bestMap, t1 - t0);
    bestWalk = Math.min(bestWalk, t2 - t1);
    bestWalkCall = Math.min(bestWalkCall, t2c - t2);
    bestUnmap = Math.min(bestUnmap, t3 - t2c);
    pt.free();
  }
  const rangeReps = options.rangeReps ?? 40;
  const rangeUntil = now() + (options.rangeMinMs ?? 200) * 1e6;
  for (let rep = 0; rep < rangeReps || (now() < rangeUntil && rep < 100 * rangeReps); rep++) {
    const rt = newTable(memory);
    const sizes = pageSizesOf(rt);
    const r0 = now();
    rangeLoop(rt, sizes);
    const r1 = now();
    bestRange = Math.min(bestRange, r1 - r0);
    rt.free();
  }
  return [
    { workload: "map4k", ops: n, ns_per_op: bestMap / n },
    { workload: "walk", ops: n, ns_per_op: bestWalk / n },
    { workload: "walk-call", ops: n, ns_per_op: bestWalkCall / n },
    { workload: "unmap4k", ops: n, ns_per_op: bestUnmap / n },
    { workload: "map-range", ops: RANGES, ns_per_op: bestRange / RANGES },
  ];
}
