import { isIommuSimError } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createIovaDomain } from "./iova-domain.js";
import { createIovaRcache, IOVA_DEPOT_DELAY_NS, iovaAllocationPages, orderBase2 } from "./rcache.js";

const LIMIT32 = 0xfffff;

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

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    advance(ns: number) {
      t += ns;
    },
  };
}

describe("size helpers", () => {
  it("iovaAllocationPages rounds sizes below 32 granules up to a power of two", () => {
    expect([1, 2, 3, 5, 9, 17, 31, 32, 33, 100].map(iovaAllocationPages)).toEqual([
      1, 2, 4, 8, 16, 32, 32, 32, 33, 100,
    ]);
    expectErrno(() => iovaAllocationPages(0), "EINVAL", /length 0/);
  });
  it("orderBase2 picks the bin: an unrounded size lands where its rounded allocation does", () => {
    expect([1, 2, 3, 4, 5, 17, 32, 33].map(orderBase2)).toEqual([0, 1, 2, 2, 3, 5, 5, 6]);
  });
});

describe("alloc_iova_fast / free_iova_fast", () => {
  it("a freed range comes back first on the same CPU, newest first; other CPUs go to the tree", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 2, magazineSize: 4 });
    expect([1, 2, 3].map(() => rc.allocIovaFast(1, LIMIT32, true, 0))).toEqual([0xfffff, 0xffffe, 0xffffd]);
    rc.freeIovaFast(0xfffff, 1, 0);
    rc.freeIovaFast(0xffffe, 1, 0);
    expect(d.nodeCount).toBe(3); // cached ranges stay in the tree
    expect(rc.allocIovaFast(1, LIMIT32, true, 0)).toBe(0xffffe);
    // CPU 1 has nothing cached: from the tree, below the cached32 node 0xffffd.
    expect(rc.allocIovaFast(1, LIMIT32, true, 1)).toBe(0xffffc);
    expect(rc.stats()).toMatchObject({ hits: [1, 0, 0, 0, 0, 0], misses: [4, 0, 0, 0, 0, 0], treeAllocs: 4 });
  });

  it("pops the newest pfn under the limit, filling its slot with the last one", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 1, magazineSize: 8 });
    const hi = rc.allocIovaFast(1, LIMIT32, true, 0); // 0xfffff
    const low = rc.allocIovaFast(1, 0x7ffff, true, 0); // 0x7ffff
    const mid = rc.allocIovaFast(1, 0x8ffff, true, 0); // below the cached32 node: 0x7fffe
    expect([hi, low, mid]).toEqual([0xfffff, 0x7ffff, 0x7fffe]);
    rc.freeIovaFast(low, 1, 0);
    rc.freeIovaFast(hi, 1, 0);
    rc.freeIovaFast(mid, 1, 0);
    // Magazine [low, hi, mid]. Limit 0x7ffff: mid (newest) fits.
    expect(rc.allocIovaFast(1, 0x7ffff, false, 0)).toBe(mid);
    // [low, hi]: limit 0x7ffff skips hi, takes low; hi moves into its slot.
    expect(rc.allocIovaFast(1, 0x7ffff, false, 0)).toBe(low);
    expect(rc.snapshot().cpus[0]![0]!.loaded).toEqual([hi]);
    // Nothing under 0x7ffff is cached now: the tree serves it, hi stays cached.
    expect(rc.allocIovaFast(1, 0x7ffff, false, 0)).toBe(0x7fffd);
  });

  it("loaded, prev and the depot fill and drain in Linux's order", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 1, magazineSize: 2 });
    const [a, b, c, dd, e] = [1, 2, 3, 4, 5].map(() => rc.allocIovaFast(1, LIMIT32, true, 0)) as number[];
    for (const pfn of [a, b, c, dd, e]) rc.freeIovaFast(pfn!, 1, 0);
    // a,b fill loaded; c swaps in the empty prev; d fills it; e pushes [c,d] to the depot.
    expect(rc.snapshot()).toEqual({
      cpus: [[{ loaded: [e], prev: [a, b] }, ...Array.from({ length: 5 }, () => ({ loaded: [], prev: [] }))]],
      depot: [[[c, dd]], [], [], [], [], []],
    });
    const order = Array.from({ length: 5 }, () => rc.allocIovaFast(1, LIMIT32, true, 0));
    expect(order).toEqual([e, b, a, dd, c]);
    expect(rc.stats().depotSizes).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("the list depot is trimmed by one magazine per 100 ms while it holds more than num_online_cpus", () => {
    const clock = fakeClock();
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 1, magazineSize: 1, clock });
    const pfns = [1, 2, 3, 4, 5].map(() => rc.allocIovaFast(1, LIMIT32, true, 0));
    for (const pfn of pfns) rc.freeIovaFast(pfn, 1, 0);
    // loaded [e], prev [a], depot [[b],[c],[d]] (d newest); work armed at 100 ms by the first push.
    expect(rc.stats().depotSizes[0]).toBe(3);
    clock.advance(IOVA_DEPOT_DELAY_NS - 1);
    rc.runDueWork();
    expect(rc.stats().depotSizes[0]).toBe(3);
    clock.advance(1);
    rc.runDueWork();
    expect(rc.stats().depotSizes[0]).toBe(2);
    expect(d.findIova(pfns[3]!)).toBeNull(); // the newest depot magazine went back to the tree
    clock.advance(10 * IOVA_DEPOT_DELAY_NS);
    rc.runDueWork();
    expect(rc.stats()).toMatchObject({ depotSizes: [1, 0, 0, 0, 0, 0], depotTrims: 2, cachedRanges: 3 });
    expect(d.nodeCount).toBe(3);
  });

  it("the fixed depot (pre-6.7) frees a full magazine to the tree when it holds maxGlobalMags", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 1, magazineSize: 1, depot: "fixed", maxGlobalMags: 1 });
    const [a, b, c, dd] = [1, 2, 3, 4].map(() => rc.allocIovaFast(1, LIMIT32, true, 0)) as number[];
    for (const pfn of [a, b, c, dd]) rc.freeIovaFast(pfn!, 1, 0);
    expect(rc.snapshot().depot[0]).toEqual([[b]]);
    expect(rc.snapshot().cpus[0]![0]).toEqual({ loaded: [dd], prev: [a] });
    expect(d.findIova(c!)).toBeNull();
  });

  it("on failure flushes every cache back to the tree and retries once, only when asked", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 0xffff0 });
    const rc = createIovaRcache(d, { cpus: 2 });
    const pfns = Array.from({ length: 16 }, () => rc.allocIovaFast(1, LIMIT32, true, 0));
    expect(Math.min(...pfns)).toBe(0xffff0);
    for (const pfn of pfns) rc.freeIovaFast(pfn, 1, 1);
    expect(rc.allocIovaFast(1, LIMIT32, false, 0)).toBe(0); // CPU 0 has nothing, the tree is full
    expect(rc.allocIovaFast(16, LIMIT32, true, 0)).toBe(0xffff0);
    expect(rc.stats()).toMatchObject({ flushes: 1, failures: 1, cachedRanges: 0 });
    expect(d.nodeCount).toBe(1);
  });

  it("sizes above 32 granules bypass the caches", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 1 });
    const pfn = rc.allocIovaFast(33, LIMIT32, true, 0);
    expect(pfn).toBe(0x100000 - 64); // size-aligned to 64
    rc.freeIovaFast(pfn, 33, 0);
    expect(d.nodeCount).toBe(0);
  });

  it("rejects bad arguments with the errno and the value, leaving caches and tree unchanged", () => {
    const d = createIovaDomain({ granule: 4096, startPfn: 1 });
    const rc = createIovaRcache(d, { cpus: 2 });
    const a = rc.allocIovaFast(4, LIMIT32, true, 0);
    const b = rc.allocIovaFast(1, LIMIT32, true, 0);
    rc.freeIovaFast(b, 1, 0);
    d.reserveIova(10, 20);
    const before = { tree: d.snapshot(), caches: rc.snapshot() };
    expectErrno(() => rc.freeIovaFast(b, 1, 0), "EINVAL", new RegExp(`${b}.*already free`));
    expectErrno(() => rc.freeIovaFast(a + 1, 4, 0), "EINVAL", new RegExp(`${a + 1}`));
    expectErrno(() => rc.freeIovaFast(12345, 1, 0), "EINVAL", /12345/);
    expectErrno(() => rc.freeIovaFast(10, 11, 0), "EINVAL", /reserved/);
    expectErrno(() => rc.freeIovaFast(a, 8, 0), "EINVAL", /8 granules/);
    expectErrno(() => rc.freeIovaFast(a, 4, 2), "EINVAL", /CPU 2/);
    expectErrno(() => rc.allocIovaFast(3, LIMIT32, true, 0), "EINVAL", /size 3.*iovaAllocationPages/);
    expectErrno(() => rc.allocIovaFast(0, LIMIT32, true, 0), "EINVAL", /size 0/);
    expectErrno(() => rc.allocIovaFast(1, -1, true, 0), "EINVAL", /limit -1/);
    expectErrno(() => rc.allocIovaFast(1, LIMIT32, true, -1), "EINVAL", /CPU -1/);
    expectErrno(() => d.freeIova(b), "EBUSY", /range cache/);
    expectErrno(() => createIovaRcache(d, { cpus: 0 }), "EINVAL", /cpus 0/);
    expect({ tree: d.snapshot(), caches: rc.snapshot() }).toEqual(before);
    // Freeing with the unrounded size (3 for a 4-granule range) is what dma-iommu does: accepted.
    rc.freeIovaFast(a, 3, 0);
  });
});

describe("range cache properties", () => {
  type Op =
    | { alloc: true; order: number; limit: number; cpu: number }
    | { alloc: false; pick: number; cpu: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      alloc: fc.constant(true as const),
      order: fc.integer({ min: 0, max: 6 }),
      limit: fc.integer({ min: 0x3ff, max: 0xfff }),
      cpu: fc.integer({ min: 0, max: 2 }),
    }),
    fc.record({ alloc: fc.constant(false as const), pick: fc.nat(), cpu: fc.integer({ min: 0, max: 2 }) }),
  );

  for (const depot of ["list", "fixed"] as const) {
    it(`${depot} depot: no overlap, in bounds, per-CPU and depot bounds hold, LIFO per CPU`, () => {
      fc.assert(
        fc.property(
          fc.array(opArb, { maxLength: 300 }),
          fc.integer({ min: 1, max: 4 }),
          (ops, magazineSize) => {
            const clock = fakeClock();
            const d = createIovaDomain({ granule: 4096, startPfn: 1 });
            const rc = createIovaRcache(d, { cpus: 3, magazineSize, depot, maxGlobalMags: 2, clock });
            const live = new Map<number, number>(); // pfn -> size
            const owner = new Map<number, number>(); // pfn -> page
            let lastFree: { pfn: number; size: number; cpu: number } | null = null;
            for (const op of ops) {
              clock.advance(7_000_000);
              if (op.alloc) {
                const size = 2 ** op.order;
                const pfn = rc.allocIovaFast(size, op.limit, true, op.cpu);
                if (
                  lastFree !== null &&
                  size <= 32 &&
                  lastFree.cpu === op.cpu &&
                  lastFree.size === size &&
                  lastFree.pfn + size - 1 <= op.limit
                ) {
                  expect(pfn).toBe(lastFree.pfn);
                }
                lastFree = null;
                if (pfn === 0) continue;
                expect(pfn % size).toBe(0);
                expect(pfn).toBeGreaterThanOrEqual(1);
                expect(pfn + size - 1).toBeLessThanOrEqual(op.limit);
                for (let p = pfn; p < pfn + size; p++) {
                  expect(owner.has(p)).toBe(false);
                  owner.set(p, pfn);
                }
                live.set(pfn, size);
              } else {
                const all = [...live.keys()];
                const pfn = all[op.pick % Math.max(1, all.length)];
                if (pfn === undefined) continue;
                const size = live.get(pfn)!;
                rc.freeIovaFast(pfn, size, op.cpu);
                live.delete(pfn);
                for (let p = pfn; p < pfn + size; p++) owner.delete(p);
                lastFree = { pfn, size, cpu: op.cpu };
              }
              const snap = rc.snapshot();
              for (const cpu of snap.cpus) {
                for (const bin of cpu)
                  expect(bin.loaded.length + bin.prev.length).toBeLessThanOrEqual(2 * magazineSize);
              }
              if (depot === "fixed")
                for (const bucket of snap.depot) expect(bucket.length).toBeLessThanOrEqual(2);
            }
            // Given time, the list depot shrinks to num_online_cpus magazines per bin.
            clock.advance(1000 * IOVA_DEPOT_DELAY_NS);
            rc.runDueWork();
            for (const size of rc.stats().depotSizes) expect(size).toBeLessThanOrEqual(3);
            // Freeing everything and flushing the caches empties the tree.
            for (const [pfn, size] of live) rc.freeIovaFast(pfn, size, 0);
            for (let cpu = 0; cpu < 3; cpu++) rc.freeCpuCachedIovas(cpu);
            rc.freeGlobalCachedIovas();
            expect(d.nodeCount).toBe(0);
            expect(rc.stats().cachedRanges).toBe(0);
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
