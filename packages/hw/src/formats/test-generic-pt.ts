/**
 * Test suite shared by the generic_pt-style x86 formats (amd-v1, intel-vtd-ss, intel-vtd-fs):
 * the generic_pt kunit cases (test_unmap_split, test_mixed, test_pgsize_boundary), a model-based
 * comparison with an oracle, bad input, fault injection, walker faults and descriptor round trips.
 * Test-only (excluded from the build by the `test-*` pattern).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPageAllocator, type PageAllocator } from "../memory/page-allocator.js";
import { createPhysMemory, type PhysMemory } from "../memory/phys-memory.js";
import { getFormat } from "../page-table/registry.js";
import {
  createWalkOut,
  type FormatName,
  type PageTable,
  type PageTableConfig,
  WalkFault,
} from "../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../prot.js";

export const SZ_4K = 0x1000;
export const SZ_2M = 0x20_0000;
export const SZ_1G = 0x4000_0000;

/** Everything the suite needs to know about a format. */
export interface GenericPtFormatCase {
  format: FormatName;
  /** Base config (ias/oas and format options) for the suite. */
  config: Omit<PageTableConfig, "memory" | "allocator">;
  /** The walker's `perm` for a leaf mapped with `prot`. */
  expectedPerm(prot: number): number;
  /** A page size the format refuses with EINVAL. */
  badSize: number;
}

export interface Table {
  memory: PhysMemory;
  allocator: PageAllocator;
  table: PageTable;
}

export function makeTable(c: GenericPtFormatCase, extra: Partial<PageTableConfig> = {}): Table {
  const memory = createPhysMemory();
  const allocator = createPageAllocator(memory);
  const table = getFormat(c.format).create({ ...c.config, ...extra, memory, allocator });
  return { memory, allocator, table };
}

export function errno(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** Largest power of two dividing `x` (Infinity for 0), exact for numbers below 2^53. */
function alignment(x: number): number {
  if (x === 0) return Number.POSITIVE_INFINITY;
  let a = 1;
  while (x % (a * 2) === 0) a *= 2;
  return a;
}

/**
 * The IOMMU core's page-size choice (`iommu_pgsize`, hw-facts 3.0a): the largest supported size that
 * fits the length and the alignment of both addresses; when a larger size would become usable at
 * the next boundary, only the pages up to that boundary.
 */
export function iommuPgsize(
  sizes: readonly number[],
  iova: number,
  paddr: number,
  size: number,
): { pgsize: number; count: number } {
  const merge = Math.min(alignment(iova), alignment(paddr));
  const candidates = sizes.filter((s) => s <= size && s <= merge);
  const pgsize = Math.max(...candidates);
  const next = sizes.filter((s) => s > pgsize).sort((a, b) => a - b)[0];
  if (next !== undefined && (iova - paddr) % next === 0) {
    const offset = next - (iova % next);
    if (offset + next <= size) return { pgsize, count: offset / pgsize };
  }
  return { pgsize, count: Math.floor(size / pgsize) };
}

/** `iommu_map` over a table: splits with {@link iommuPgsize} and calls `mapPages` per run. */
export function iommuMap(
  table: PageTable,
  sizes: readonly number[],
  iova: number,
  paddr: number,
  size: number,
  prot: number,
): void {
  while (size > 0) {
    const { pgsize, count } = iommuPgsize(sizes, iova, paddr, size);
    table.mapPages(iova, paddr, pgsize, count, prot);
    iova += pgsize * count;
    paddr += pgsize * count;
    size -= pgsize * count;
  }
}

/** Leaves (sizes in iova order) the hardware walker finds in `[start, end)`. */
export function leavesIn(t: Table, start: number, end: number): number[] {
  const out: number[] = [];
  const w = createWalkOut();
  for (let va = start; va < end; ) {
    t.table.walker.translate(t.table.rootAddress, va, w);
    expect(w.fault).toBe(0);
    out.push(w.pageSize);
    va += w.pageSize;
  }
  return out;
}

interface Leaf {
  size: number;
  pa: number;
  prot: number;
}

/** generic_pt semantics over a flat list of leaves. */
class Oracle {
  leaves = new Map<number, Leaf>();

  covering(iova: number): number | undefined {
    for (const [va, l] of this.leaves) if (va <= iova && iova < va + l.size) return va;
    return undefined;
  }

  map(iova: number, size: number, pa: number, prot: number): string {
    for (const [va, l] of this.leaves) if (va < iova + size && iova < va + l.size) return "EADDRINUSE";
    this.leaves.set(iova, { size, pa, prot });
    return "ok";
  }

  /** A 4K unmap or an unmap at a leaf's base: the whole leaf goes; inside a leaf: nothing. */
  unmap(iova: number): number {
    const va = this.covering(iova);
    if (va === undefined || va !== iova) return 0;
    const size = this.leaves.get(va)!.size;
    this.leaves.delete(va);
    return size;
  }
}

/** Registers the shared tests for one format. */
export function genericPtSuite(c: GenericPtFormatCase): void {
  const sizes = [SZ_4K, SZ_2M, SZ_1G];
  const threeSizes = { pgsizeBitmap: SZ_4K + SZ_2M + SZ_1G };

  describe(`${c.format}: generic_pt kunit cases`, () => {
    it("test_unmap_split: unmapping the first 4K of a 2M page unmaps all of it; mid-page unmaps nothing", () => {
      const t = makeTable(c);
      t.table.mapPages(SZ_2M * 3, SZ_1G, SZ_2M, 1, IOMMU_READ | IOMMU_WRITE);
      expect(t.table.unmapPages(SZ_2M * 3 + SZ_4K, SZ_4K, 1)).toBe(0);
      expect(t.table.iovaToPhys(SZ_2M * 3 + SZ_4K)).toBe(BigInt(SZ_1G + SZ_4K));
      expect(t.table.unmapPages(SZ_2M * 3, SZ_4K, 1)).toBe(SZ_2M);
      expect(t.table.iovaToPhys(SZ_2M * 3 + SZ_4K)).toBe(0n);
      // A 1G page the same way, through the bigint API.
      t.table.map(SZ_1G, SZ_1G, SZ_1G, 1, IOMMU_READ);
      expect(t.table.unmap(SZ_1G, SZ_4K, 1)).toBe(BigInt(SZ_1G));
    });

    it("test_mixed: 0x3FE400000..0x4C0600000 with 4K|2M|1G is exactly 14 x 2M, 3 x 1G, 3 x 2M", () => {
      const t = makeTable(c, threeSizes);
      const start = 0x3_fe40_0000;
      const end = 0x4_c060_0000;
      iommuMap(t.table, sizes, start, start, end - start, IOMMU_READ | IOMMU_WRITE);
      const leaves = leavesIn(t, start, end);
      expect(leaves).toEqual([...Array(14).fill(SZ_2M), ...Array(3).fill(SZ_1G), ...Array(3).fill(SZ_2M)]);
      expect(t.table.iovaToPhys(end - 1)).toBe(BigInt(end - 1));
    });

    it("test_pgsize_boundary: iova 0xfef80000 -> pa 0x208b95d000, 128K: 32 x 4K pages", () => {
      const t = makeTable(c, threeSizes);
      iommuMap(t.table, sizes, 0xfef8_0000, 0x20_8b95_d000, 0x2_0000, IOMMU_READ);
      expect(leavesIn(t, 0xfef8_0000, 0xfefa_0000)).toEqual(Array(32).fill(SZ_4K));
      expect(t.table.iovaToPhys(0xfef9_ffff)).toBe(0x20_8b97_cfffn);
    });

    it("map over an existing mapping fails with EADDRINUSE; a leaf may replace an empty table only", () => {
      const t = makeTable(c);
      t.table.mapPages(0, 0, SZ_4K, 2, IOMMU_READ);
      expect(errno(() => t.table.mapPages(SZ_4K, 0, SZ_4K, 1, IOMMU_READ))).toBe("EADDRINUSE");
      expect(errno(() => t.table.mapPages(0, 0, SZ_2M, 1, IOMMU_READ))).toBe("EADDRINUSE");
      expect(t.table.unmapPages(0, SZ_4K, 2)).toBe(2 * SZ_4K);
      const pages = t.allocator.pagesInUse;
      // The emptied 4K table is replaced (and freed) by the 2M leaf, as generic_pt clear_contig does.
      t.table.mapPages(0, SZ_1G, SZ_2M, 1, IOMMU_READ);
      expect(t.allocator.pagesInUse).toBe(pages - 1);
      expect(t.table.iovaToPhys(0x1234)).toBe(BigInt(SZ_1G + 0x1234));
    });
  });

  describe(`${c.format}: hardware walker`, () => {
    it("reports translation faults with their level and address-size faults beyond the input range", () => {
      const t = makeTable(c);
      const g = t.table.geometry;
      const w = createWalkOut();
      t.table.walker.translate(t.table.rootAddress, SZ_4K, w);
      expect(w).toMatchObject({ fault: WalkFault.TRANSLATION, level: g.startLevel });
      t.table.mapPages(0, 0x8000_0000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE);
      t.table.walker.translate(t.table.rootAddress, SZ_4K, w);
      expect(w).toMatchObject({ fault: WalkFault.TRANSLATION, level: 0, descriptorLo: 0 });
      t.table.walker.translate(t.table.rootAddress, 0x123, w);
      expect(w).toMatchObject({ fault: 0, level: 0, outputAddress: 0x8000_0123, pageSize: SZ_4K });
      if (g.ias < 53) {
        t.table.walker.translate(t.table.rootAddress, 2 ** g.ias, w);
        expect(w.fault).toBe(WalkFault.ADDRESS_SIZE);
        expect(t.table.walk(2 ** g.ias).fault).toBe("address-size");
      }
      const trace = t.table.walk(0x123);
      expect(trace.steps).toHaveLength(g.levels);
      expect(trace.steps.map((s) => s.level)).toEqual(
        Array.from({ length: g.levels }, (_, i) => g.levels - 1 - i),
      );
      expect(trace.steps.at(-1)!.decoded.type).toBe("page");
      expect(trace.prot).toBe(c.expectedPerm(IOMMU_READ | IOMMU_WRITE));
      // The walker reads only memory: a fresh walker over the same memory agrees.
      const other = getFormat(c.format).createWalker({ ...c.config, memory: t.memory });
      other.translate(t.table.rootAddress, 0x123, w);
      expect(w.outputAddress).toBe(0x8000_0123);
    });
  });

  describe(`${c.format}: descriptors`, () => {
    it("decode -> encode round-trips every 64-bit value at every level", () => {
      const f = getFormat(c.format);
      fc.assert(
        fc.property(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          fc.integer({ min: 0, max: 3 }),
          (d, level) => {
            expect(f.encode(f.decode(d, { level }), { level })).toBe(d);
          },
        ),
        { numRuns: 1000 },
      );
    });
  });

  describe(`${c.format}: bad input`, () => {
    it("refuses with Linux's errno and leaves memory and the allocator unchanged", () => {
      const t = makeTable(c);
      t.table.mapPages(SZ_2M, SZ_2M, SZ_4K, 4, IOMMU_READ);
      const hash = t.memory.contentHash();
      const pages = t.allocator.pagesInUse;
      const limit = 2 ** t.table.geometry.ias;
      const cases: [string, () => unknown][] = [
        ["EINVAL", () => t.table.mapPages(0, 0, c.badSize, 1, IOMMU_READ)],
        ["EINVAL", () => t.table.mapPages(0, 0, 3 * SZ_4K, 1, IOMMU_READ)],
        ["EINVAL", () => t.table.mapPages(SZ_4K, 0, SZ_2M, 1, IOMMU_READ)],
        ["EINVAL", () => t.table.mapPages(0, SZ_4K, SZ_2M, 1, IOMMU_READ)],
        ["EINVAL", () => t.table.mapPages(0, 0, SZ_4K, 0, IOMMU_READ)],
        ["EINVAL", () => t.table.mapPages(0, 0, SZ_4K, 1, IOMMU_CACHE)],
        ["EINVAL", () => t.table.map(-1, 0, SZ_4K, 1, IOMMU_READ)],
        ["ERANGE", () => t.table.mapPages(limit - SZ_4K, 0, SZ_4K, 2, IOMMU_READ)],
        ["ERANGE", () => t.table.mapPages(0, 2 ** t.table.geometry.oas, SZ_4K, 1, IOMMU_READ)],
        ["EADDRINUSE", () => t.table.mapPages(SZ_2M - SZ_4K, 0, SZ_4K, 3, IOMMU_READ)],
        ["EADDRINUSE", () => t.table.mapPages(0, 0, SZ_1G, 1, IOMMU_READ)],
        ["EINVAL", () => t.table.unmapPages(SZ_4K, SZ_2M, 1)],
      ];
      for (const [code, fn] of cases) {
        expect([code, errno(fn)]).toEqual([code, code]);
        expect(t.memory.contentHash()).toBe(hash);
        expect(t.allocator.pagesInUse).toBe(pages);
      }
      expect(t.table.unmapPages(0, SZ_4K, 1)).toBe(0);
    });
  });

  describe(`${c.format}: fault injection`, () => {
    it("fails every allocation of a large map in turn: ENOMEM, nothing mapped, nothing leaked", () => {
      const t = makeTable(c);
      t.table.mapPages(SZ_1G - SZ_2M, 0, SZ_4K, 1, IOMMU_READ);
      const hash = t.memory.contentHash();
      const pages = t.allocator.pagesInUse;
      // 4K pages across a 1G boundary and several 2M tables: new tables at two levels.
      const iova = SZ_1G - 2 * SZ_4K;
      const count = 3 * 512 + 8;
      let n = 1;
      for (; ; n++) {
        t.allocator.failAfter(n);
        const code = errno(() =>
          t.table.mapPages(iova, 0x1_0000_0000, SZ_4K, count, IOMMU_READ | IOMMU_WRITE),
        );
        t.allocator.failAfter(0);
        if (code === undefined) break;
        expect(code).toBe("ENOMEM");
        expect(t.memory.contentHash()).toBe(hash);
        expect(t.allocator.pagesInUse).toBe(pages);
      }
      expect(n).toBeGreaterThan(4);
      expect(t.table.iovaToPhys(iova + count * SZ_4K - 1)).toBe(BigInt(0x1_0000_0000 + count * SZ_4K - 1));
      t.table.free();
      expect(t.allocator.pagesInUse).toBe(0);
    });
  });

  describe(`${c.format}: against an oracle (fast-check)`, () => {
    const protArb = fc.constantFrom(
      IOMMU_READ,
      IOMMU_WRITE,
      IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE,
      IOMMU_READ | IOMMU_NOEXEC | IOMMU_PRIV | IOMMU_MMIO,
    );
    const bitmap = getFormat(c.format).geometry(c.config).pgsizeBitmapNumber;
    const fuzzSizes = [SZ_4K, 0x1_0000, 0x8000, SZ_2M, 0x40_0000, SZ_1G].filter(
      (s) => Math.floor(bitmap / s) % 2 === 1,
    );
    const op = fc.record({
      kind: fc.constantFrom("map", "map", "unmapLeaf", "unmapBase4K", "unmapInside", "unmapHole"),
      size: fc.constantFrom(...fuzzSizes),
      slot: fc.integer({ min: 0, max: 4095 }),
      pick: fc.nat(),
      pa: fc.integer({ min: 1, max: 63 }),
      prot: protArb,
    });
    it("map/unmap/iovaToPhys/walker agree with the oracle", () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), (ops) => {
          const t = makeTable(c);
          const oracle = new Oracle();
          const w = createWalkOut();
          // A 4 GiB window: 2M and 1G pages collide with 4K ones now and then.
          for (const o of ops) {
            const leaves = [...oracle.leaves.entries()];
            const chosen = leaves.length ? leaves[o.pick % leaves.length] : undefined;
            if (o.kind === "map") {
              const iova = Math.floor((o.slot * 0x10_0000 + (o.pick % 256) * SZ_4K) / o.size) * o.size;
              const pa = o.pa * SZ_1G;
              const want = oracle.map(iova, o.size, pa, o.prot);
              expect(errno(() => t.table.mapPages(iova, pa, o.size, 1, o.prot)) ?? "ok").toBe(want);
            } else if (o.kind === "unmapHole") {
              const iova = o.slot * 0x10_0000 + SZ_4K * 3;
              expect(t.table.unmapPages(iova, SZ_4K, 1)).toBe(
                oracle.covering(iova) === undefined ? 0 : oracle.unmap(iova),
              );
            } else if (chosen) {
              const [va, leaf] = chosen;
              if (o.kind === "unmapLeaf") expect(t.table.unmapPages(va, leaf.size, 1)).toBe(oracle.unmap(va));
              else if (o.kind === "unmapBase4K")
                expect(t.table.unmapPages(va, SZ_4K, 1)).toBe(oracle.unmap(va));
              else if (leaf.size > SZ_4K)
                expect(t.table.unmapPages(va + SZ_4K, SZ_4K, 1)).toBe(oracle.unmap(va + SZ_4K));
            }
          }
          for (const [va, l] of oracle.leaves) {
            for (const probe of [va, va + l.size - 1]) {
              t.table.walker.translate(t.table.rootAddress, probe, w);
              expect(w.fault).toBe(0);
              expect(w.outputAddress).toBe(l.pa + (probe - va));
              expect(w.pageSize).toBe(l.size);
              expect(w.perm).toBe(c.expectedPerm(l.prot));
            }
          }
          for (let i = 0; i < 64; i++) {
            const probe = i * 0x410_1000;
            const va = oracle.covering(probe);
            const want = va === undefined ? 0 : oracle.leaves.get(va)!.pa + (probe - va);
            expect(t.table.iovaToPhys(probe)).toBe(BigInt(want));
          }
          t.table.free();
          expect(t.allocator.pagesInUse).toBe(0);
        }),
        { numRuns: 120 },
      );
    });
  });
}
