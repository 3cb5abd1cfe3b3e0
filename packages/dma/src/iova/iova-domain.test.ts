import { isIommuSimError } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createIovaDomain, IOVA_ANCHOR, type IovaDomain, iovaDomainInternals } from "./iova-domain.js";

const LIMIT32 = 0xfffff; // DMA_BIT_MASK(32) >> 12

function expectErrno(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(isIommuSimError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    expect((error as Error).message).toMatch(text);
    return;
  }
  throw new Error("expected an error");
}

const alloc = (d: IovaDomain, size: number, limit: number, aligned = true): number | null =>
  d.allocIova(size, limit, aligned)?.pfnLo ?? null;

describe("createIovaDomain (init_iova_domain)", () => {
  it("derives shift and dma_32bit_pfn from the granule and starts with only the anchor", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    expect(d.shift).toBe(12);
    expect(d.dma32bitPfn).toBe(0x100000);
    expect(d.max32AllocSize).toBe(0x100000);
    expect(d.nodeCount).toBe(0);
    expect(d.cachedPfn).toBe(IOVA_ANCHOR);
    expect(d.cached32Pfn).toBe(IOVA_ANCHOR);
    expect(createIovaDomain({ granule: 65536, startPfn: 1, pageSize: 65536 }).dma32bitPfn).toBe(0x10000);
  });

  it("rejects a granule that is not a power of two or exceeds the page size, naming it", () => {
    expectErrno(() => createIovaDomain({ granule: 3000, startPfn: 1 }), "EINVAL", /3000/);
    expectErrno(() => createIovaDomain({ granule: 8192, startPfn: 1 }), "EINVAL", /8192/);
    expectErrno(() => createIovaDomain({ granule: 4096, startPfn: -1 }), "EINVAL", /-1/);
    expectErrno(() => createIovaDomain({ granule: 4096, startPfn: 10, limit: 5 }), "EINVAL", /limit pfn 5/);
  });
});

describe("alloc_iova: hand-worked sequences (granule 4K, start_pfn 1, limit 0xfffff)", () => {
  it("grows down from the limit, size-aligned, following the cached32 node", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    // From the anchor: high = 0x100000, new = 0xfffff.
    expect(d.allocIova(1, LIMIT32, true)).toEqual({ pfnLo: 0xfffff, pfnHi: 0xfffff });
    expect(d.cached32Pfn).toBe(0xfffff);
    // From 0xfffff: (0xfffff - 2) & ~1 = 0xffffc, leaving the hole at 0xffffe.
    expect(d.allocIova(2, LIMIT32, true)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xffffd });
    // From 0xffffc: (0xffffc - 4) & ~3 = 0xffff8.
    expect(d.allocIova(4, LIMIT32, true)).toEqual({ pfnLo: 0xffff8, pfnHi: 0xffffb });
    expect(d.cached32Pfn).toBe(0xffff8);
    expect(d.cachedPfn).toBe(IOVA_ANCHOR); // everything sits below 4 GiB

    // Freeing 0xffffc (above the cached32 node 0xffff8) moves the cache to its successor 0xfffff.
    expect(d.freeIova(0xffffc)).toBe(true);
    expect(d.cached32Pfn).toBe(0xfffff);
    // So the next 1-page search starts at 0xfffff and takes the old hole at 0xffffe first...
    expect(alloc(d, 1, LIMIT32)).toBe(0xffffe);
    // ...then the freed pair, which is just below it.
    expect(alloc(d, 2, LIMIT32)).toBe(0xffffc);
    // From 0xffffc: 0xffffb collides with [0xffff8, 0xffffb], so the walk steps below it.
    expect(alloc(d, 1, LIMIT32)).toBe(0xffff7);
    expect(d.cached32Pfn).toBe(0xffff7);

    // Freeing 0xffff8..0xffffb (at or above the cache) moves the cache to 0xffffc.
    d.freeIova(0xffff9);
    expect(d.cached32Pfn).toBe(0xffffc);
    // A 4-page aligned search from 0xffffc finds the freed block again.
    expect(alloc(d, 4, LIMIT32)).toBe(0xffff8);
    // Freeing something below the cache leaves the cache where it is.
    d.freeIova(0xffff7);
    expect(d.cached32Pfn).toBe(0xffff8);
    expect(d.ranges()).toEqual([
      { pfnLo: 0xffff8, pfnHi: 0xffffb },
      { pfnLo: 0xffffc, pfnHi: 0xffffd },
      { pfnLo: 0xffffe, pfnHi: 0xffffe },
      { pfnLo: 0xfffff, pfnHi: 0xfffff },
    ]);
  });

  it("without size alignment packs ranges end to end", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    expect(alloc(d, 3, LIMIT32, false)).toBe(0xffffd);
    expect(alloc(d, 3, LIMIT32, false)).toBe(0xffffa);
    expect(alloc(d, 5, LIMIT32, true)).toBe(0xffff0); // (0xffffa - 5) & ~7
  });

  it("a lower limit below the cached node searches below it; a higher one does not look above", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    expect(alloc(d, 1, LIMIT32)).toBe(0xfffff);
    expect(alloc(d, 1, 0x7ffff)).toBe(0x7ffff);
    // Top-down from the cached32 node (0x7ffff), not from the limit: the space above stays unused.
    expect(alloc(d, 1, LIMIT32)).toBe(0x7fffe);
  });

  it("retries once above the cached node when nothing fits below it", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 0x7fff0 });
    expect(alloc(d, 1, LIMIT32)).toBe(0xfffff);
    expect(alloc(d, 1, 0x7ffff)).toBe(0x7ffff);
    // Below 0x7ffff: (0x7ffff - 16) & ~15 = 0x7ffe0 < start_pfn. Retry from the anchor with
    // low = 0x80000: collides with 0xfffff, then (0xfffff - 16) & ~15 = 0xfffe0 fits.
    expect(d.allocIova(16, LIMIT32, true)).toEqual({ pfnLo: 0xfffe0, pfnHi: 0xfffef });
    expect(d.cached32Pfn).toBe(0xfffe0);
  });

  it("a failed 32-bit search records max32_alloc_size and same-size searches then fail at once", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 0xffff9 });
    expect(alloc(d, 4, LIMIT32)).toBe(0xffffc);
    // 0xffff9..0xffffb is free, but a 3-page size-aligned range needs a multiple of 4: none fits.
    expect(alloc(d, 3, LIMIT32, true)).toBeNull();
    expect(d.max32AllocSize).toBe(3);
    // Unaligned, 3 pages would fit at 0xffff9, yet the fast fail refuses without searching.
    expect(alloc(d, 3, LIMIT32, false)).toBeNull();
    // Smaller sizes still search.
    expect(alloc(d, 2, LIMIT32, false)).toBe(0xffffa);
    // Freeing anything below 4 GiB resets the estimate.
    d.freeIova(0xffffa);
    expect(d.max32AllocSize).toBe(0x100000);
    expect(alloc(d, 3, LIMIT32, false)).toBe(0xffff9);
  });

  it("searches above 4 GiB start from cached_node, not cached32_node", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const limit64 = 2 ** 36 - 1; // a 48-bit mask in 4K pages
    expect(alloc(d, 1, LIMIT32)).toBe(0xfffff);
    expect(alloc(d, 2, limit64)).toBe(2 ** 36 - 2);
    expect(d.cachedPfn).toBe(2 ** 36 - 2);
    expect(d.cached32Pfn).toBe(0xfffff);
    expect(alloc(d, 1, limit64)).toBe(2 ** 36 - 3);
  });

  it("rejects bad sizes and limits, naming them, and changes nothing", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    alloc(d, 1, LIMIT32);
    const before = d.snapshot();
    expectErrno(() => d.allocIova(0, LIMIT32), "EINVAL", /size 0/);
    expectErrno(() => d.allocIova(1.5, LIMIT32), "EINVAL", /1\.5/);
    expectErrno(() => d.allocIova(1, -3), "EINVAL", /-3/);
    expectErrno(() => d.reserveIova(9, 3), "EINVAL", /9\.\.3/);
    expectErrno(() => d.reserveIova(0, Number.MAX_SAFE_INTEGER), "ERANGE", /above/);
    expect(d.snapshot()).toEqual(before);
  });
});

describe("find_iova / free_iova / reserve_iova / put_iova_domain", () => {
  it("finds the range containing a pfn and ignores frees of unknown pfns", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    alloc(d, 4, LIMIT32);
    expect(d.findIova(0xffffd)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
    expect(d.findIova(0xffffb)).toBeNull();
    expect(d.freeIova(0x1234)).toBe(false);
    expect(d.nodeCount).toBe(1);
  });

  it("reserve excludes a range from allocation", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    expect(d.reserveIova(0xffff0, 0xfffff)).toEqual({ pfnLo: 0xffff0, pfnHi: 0xfffff });
    // From the anchor: 0xfffff collides with the reservation; below it 0xfffef fits.
    expect(alloc(d, 1, LIMIT32)).toBe(0xfffef);
  });

  it("reserve merges with overlapping ranges instead of duplicating them", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    d.reserveIova(10, 20);
    d.reserveIova(30, 40);
    // [10,20] overlaps: the remainder becomes 21..35; [30,40] grows down to 21 and covers it.
    expect(d.reserveIova(15, 35)).toEqual({ pfnLo: 21, pfnHi: 40 });
    expect(d.ranges()).toEqual([
      { pfnLo: 10, pfnHi: 20 },
      { pfnLo: 21, pfnHi: 40 },
    ]);
    // Grows the first down to 5, passes the second, and inserts what is left above it.
    expect(d.reserveIova(5, 50)).toEqual({ pfnLo: 41, pfnHi: 50 });
    expect(d.ranges().map((r) => [r.pfnLo, r.pfnHi])).toEqual([
      [5, 20],
      [21, 40],
      [41, 50],
    ]);
    expect(d.reserveIova(12, 13)).toEqual({ pfnLo: 5, pfnHi: 20 });
    expect(d.nodeCount).toBe(3);
  });

  it("put frees everything and makes the domain unusable", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    alloc(d, 1, LIMIT32);
    d.putIovaDomain();
    expectErrno(() => d.allocIova(1, LIMIT32), "EINVAL", /putIovaDomain/);
  });
});

// ---------------------------------------------------------------------------------------------
// An obviously-right model of the same search over a sorted array, and an occupancy set, to check
// the tree version step for step.

interface RefNode {
  lo: number;
  hi: number;
}

class RefDomain {
  nodes: RefNode[] = [];
  anchor: RefNode = { lo: IOVA_ANCHOR, hi: IOVA_ANCHOR };
  cached: RefNode;
  cached32: RefNode;
  max32: number;
  constructor(
    readonly start: number,
    readonly dma32: number,
  ) {
    this.nodes.push(this.anchor);
    this.cached = this.anchor;
    this.cached32 = this.anchor;
    this.max32 = dma32;
  }
  alloc(size: number, limit: number, aligned: boolean): number | null {
    const limitExcl = limit + 1;
    const align = aligned ? 2 ** Math.ceil(Math.log2(size)) : 1;
    if (limitExcl <= this.dma32 && size >= this.max32) return null;
    const startNode = limitExcl <= this.dma32 ? this.cached32 : this.cached;
    // Candidate slots: scan gaps top-down below `from`, with `low` as the floor.
    const pass = (fromIdx: number, high: number, low: number): number | null => {
      for (let i = fromIdx; i >= 0; i--) {
        const node = this.nodes[i]!;
        high = Math.min(high, node.lo);
        if (high < size) return null;
        const cand = Math.floor((high - size) / align) * align;
        if (cand < low) return null;
        const below = this.nodes[i - 1];
        if (below === undefined || cand > below.hi) return cand;
      }
      return null;
    };
    let pfn = pass(this.nodes.indexOf(startNode), limitExcl, this.start);
    if (pfn === null && startNode.hi < limitExcl) {
      const from = this.nodes.findIndex((n) => n.hi >= limitExcl);
      pfn = pass(from, limitExcl, startNode.hi + 1);
    }
    if (pfn === null) {
      this.max32 = size;
      return null;
    }
    const node = { lo: pfn, hi: pfn + size - 1 };
    this.nodes.push(node);
    this.nodes.sort((a, b) => a.lo - b.lo);
    if (node.hi < this.dma32) this.cached32 = node;
    else this.cached = node;
    return pfn;
  }
  reserve(lo: number, hi: number): void {
    this.nodes.push({ lo, hi });
    this.nodes.sort((a, b) => a.lo - b.lo);
  }
  free(pfn: number): void {
    const i = this.nodes.findIndex((n) => n.lo <= pfn && pfn <= n.hi && n !== this.anchor);
    if (i < 0) return;
    const node = this.nodes[i]!;
    const next = this.nodes[i + 1]!;
    if (node === this.cached32 || (node.hi < this.dma32 && node.lo >= this.cached32.lo)) this.cached32 = next;
    if (node.lo < this.dma32) this.max32 = this.dma32;
    if (node.lo >= this.cached.lo) this.cached = next;
    this.nodes.splice(i, 1);
  }
}

type Op =
  | { kind: "alloc"; size: number; limit: number; aligned: boolean }
  | { kind: "free"; pick: number }
  | { kind: "reserve"; lo: number; len: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      size: fc.integer({ min: 1, max: 40 }),
      limit: fc.integer({ min: 0, max: 700 }),
      aligned: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      lo: fc.integer({ min: 0, max: 700 }),
      len: fc.integer({ min: 1, max: 20 }),
    }),
  },
);

describe("alloc_iova properties", () => {
  // Granule 2^24 makes dma_32bit_pfn 256, so small limits exercise both cached nodes.
  const make = (start: number) => createIovaDomain({ granule: 2 ** 24, startPfn: start, pageSize: 2 ** 24 });

  it("matches the reference search, never overlaps, stays in bounds, fails only when nothing fits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(opArb, { maxLength: 120 }), (start, ops) => {
        const d = make(start);
        const ref = new RefDomain(start, d.dma32bitPfn);
        const used = new Map<number, { lo: number; hi: number; reserved: boolean }>();
        const occupied = new Set<number>();
        for (const op of ops) {
          if (op.kind === "alloc") {
            const max32Before = d.max32AllocSize;
            const got = d.allocIova(op.size, op.limit, op.aligned);
            expect(got?.pfnLo ?? null).toBe(ref.alloc(op.size, op.limit, op.aligned));
            const align = op.aligned ? 2 ** Math.ceil(Math.log2(op.size)) : 1;
            if (got === null) {
              const fastFail = op.limit + 1 <= d.dma32bitPfn && op.size >= max32Before;
              if (!fastFail) {
                // No aligned hole of this size exists in [start, limit].
                for (let p = start; p + op.size - 1 <= op.limit; p++) {
                  if (p % align !== 0) continue;
                  let free = true;
                  for (let q = p; q < p + op.size && free; q++) if (occupied.has(q)) free = false;
                  expect(free).toBe(false);
                }
              }
              continue;
            }
            expect(got.pfnHi - got.pfnLo + 1).toBe(op.size);
            expect(got.pfnLo).toBeGreaterThanOrEqual(start);
            expect(got.pfnHi).toBeLessThanOrEqual(op.limit);
            expect(got.pfnLo % align).toBe(0);
            for (let q = got.pfnLo; q <= got.pfnHi; q++) {
              expect(occupied.has(q)).toBe(false);
              occupied.add(q);
            }
            used.set(got.pfnLo, { lo: got.pfnLo, hi: got.pfnHi, reserved: false });
          } else if (op.kind === "free") {
            const live = [...used.values()].filter((r) => !r.reserved);
            const victim = live[op.pick % Math.max(1, live.length)];
            if (victim === undefined) continue;
            expect(d.freeIova(victim.lo + ((op.pick >> 3) % (victim.hi - victim.lo + 1)))).toBe(true);
            ref.free(victim.lo);
            used.delete(victim.lo);
            for (let q = victim.lo; q <= victim.hi; q++) occupied.delete(q);
          } else {
            // Only reserve free space so the occupancy oracle stays exact.
            let clash = false;
            for (let q = op.lo; q < op.lo + op.len; q++) if (occupied.has(q)) clash = true;
            if (clash) continue;
            const r = d.reserveIova(op.lo, op.lo + op.len - 1);
            ref.reserve(op.lo, op.lo + op.len - 1);
            for (let q = op.lo; q < op.lo + op.len; q++) occupied.add(q);
            used.set(r.pfnLo, { lo: r.pfnLo, hi: r.pfnHi, reserved: true });
          }
          expect(iovaDomainInternals(d).tree.validate()).toBeNull();
        }
        // Freeing every allocation leaves only reserved ranges (and the anchor) in the tree.
        for (const r of used.values()) if (!r.reserved) d.freeIova(r.lo);
        const reservations = [...used.values()]
          .filter((u) => u.reserved)
          .map((u) => ({ pfnLo: u.lo, pfnHi: u.hi }))
          .sort((a, b) => a.pfnLo - b.pfnLo);
        expect(d.ranges()).toEqual(reservations);
        expect(d.nodeCount).toBe(reservations.length);
      }),
      { numRuns: 300 },
    );
  });
});
