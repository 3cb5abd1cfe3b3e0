/**
 * Page-table workloads of the native baseline (`shared/baselines/native-pt/pt_native.c`), run
 * through the public API with the same semantics and sizes so the two can be compared as a ratio on
 * the same machine: map4k, walk, unmap4k and map-range on an ARM LPAE stage-1 table (4 KiB granule,
 * 48-bit). The IOTLB workload of the C file belongs to the IOTLB model and is not run here.
 */
import { createPhysMemory } from "../memory/phys-memory.js";
import { createPageTable } from "../page-table/registry.js";
import { createWalkOut, type PageTable } from "../page-table/types.js";
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
      if (s <= size && iova % s === 0 && pa % s === 0) {
        k = i;
        break;
      }
    }
    if (k < 0) throw new Error(`range ${iova.toString(16)}+${size.toString(16)} is not page aligned`);
    const pgsize = sizes[k]!;
    let count = Math.floor(size / pgsize);
    const next = sizes[k + 1];
    if (next !== undefined && iova % next === pa % next) {
      // Stop at the next larger size's boundary so the following call can use it.
      const offset = next - (iova % next);
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

function newTable(): PageTable {
  return createPageTable("arm-lpae-s1", { memory: createPhysMemory(), ias: 48, oas: 48, granule: PAGE });
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
  let bestUnmap = Number.POSITIVE_INFINITY;
  let bestRange = Number.POSITIVE_INFINITY;
  const out = createWalkOut();
  for (let rep = 0; rep < reps; rep++) {
    const pt = newTable();
    const root = pt.rootAddress;
    const walker = pt.walker;
    const t0 = now();
    for (let i = 0; i < n; i++) pt.mapPages(IOVA_BASE + i * PAGE, PA_BASE + i * PAGE, PAGE, 1, prot);
    const t1 = now();
    let acc = 0;
    for (let i = 0; i < n; i++) {
      walker.translate(root, IOVA_BASE + order[i]! * PAGE + 8, out);
      acc += out.outputAddress;
    }
    const t2 = now();
    for (let i = 0; i < n; i++) acc += pt.unmapPages(IOVA_BASE + i * PAGE, PAGE, 1);
    const t3 = now();
    benchSink += acc;
    bestMap = Math.min(bestMap, t1 - t0);
    bestWalk = Math.min(bestWalk, t2 - t1);
    bestUnmap = Math.min(bestUnmap, t3 - t2);
    pt.free();

    const rt = newTable();
    const sizes = pageSizesOf(rt);
    const r0 = now();
    for (let r = 0; r < RANGES; r++) {
      mapRangeLikeIommuCore(rt, sizes, IOVA_BASE + r * 2 ** 31, PA_BASE + r * 2 ** 31, RANGE_LEN, IOMMU_READ);
    }
    const r1 = now();
    bestRange = Math.min(bestRange, r1 - r0);
    rt.free();
  }
  return [
    { workload: "map4k", ops: n, ns_per_op: bestMap / n },
    { workload: "walk", ops: n, ns_per_op: bestWalk / n },
    { workload: "unmap4k", ops: n, ns_per_op: bestUnmap / n },
    { workload: "map-range", ops: RANGES, ns_per_op: bestRange / RANGES },
  ];
}
