import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createIotlb, type IotlbOptions } from "./iotlb.js";
import { createIotlbHit, createIotlbTags, type IotlbTagFilter } from "./types.js";

/**
 * The oracle: a plain list of cached translations with the same policy, written for obviousness.
 * LRU per set (sets indexed by the entry's own page number), or QEMU's flush-everything-when-full.
 */
interface OracleEntry {
  base: number;
  size: number;
  out: number;
  asid: number;
  vmid: number;
  global: boolean;
  stamp: number;
}

class Oracle {
  list: OracleEntry[] = [];
  clock = 0;
  constructor(
    readonly entries: number,
    readonly ways: number,
    readonly qemu: boolean,
  ) {}

  setOf(base: number, size: number): number {
    return Math.floor(base / size) % (this.entries / this.ways);
  }

  matches(e: OracleEntry, asid: number, vmid: number): boolean {
    return e.vmid === vmid && (e.global || e.asid === asid);
  }

  lookup(iova: number, asid: number, vmid: number): number {
    const candidates = this.list.filter(
      (e) => this.matches(e, asid, vmid) && e.base <= iova && iova < e.base + e.size,
    );
    if (candidates.length === 0) return -1;
    candidates.sort((a, b) => a.size - b.size);
    const e = candidates[0]!;
    if (!this.qemu) e.stamp = ++this.clock;
    return e.out + (iova - e.base);
  }

  insert(base: number, size: number, out: number, asid: number, vmid: number, global: boolean): void {
    const same = this.list.find(
      (e) => e.base === base && e.size === size && e.asid === asid && e.vmid === vmid && e.global === global,
    );
    if (same) {
      same.out = out;
      same.stamp = ++this.clock;
      return;
    }
    if (this.qemu) {
      if (this.list.length >= this.entries) this.list = [];
    } else {
      const set = this.setOf(base, size);
      const inSet = this.list.filter((e) => this.setOf(e.base, e.size) === set);
      if (inSet.length === this.ways) {
        const victim = inSet.reduce((a, b) => (b.stamp < a.stamp ? b : a));
        this.list = this.list.filter((e) => e !== victim);
      }
    }
    this.list.push({ base, size, out, asid, vmid, global, stamp: ++this.clock });
  }

  selected(e: OracleEntry, f: IotlbTagFilter, includeGlobal: boolean): boolean {
    if (f.vmid !== undefined && e.vmid !== f.vmid) return false;
    if (f.asid === undefined) return true;
    return e.global ? includeGlobal : e.asid === f.asid;
  }

  invalidateRange(start: number, size: number, f: IotlbTagFilter): void {
    const inc = f.includeGlobal ?? true;
    this.list = this.list.filter(
      (e) => !(e.base < start + size && e.base + e.size > start && this.selected(e, f, inc)),
    );
  }

  invalidateTags(f: IotlbTagFilter): void {
    const inc = f.includeGlobal ?? false;
    this.list = this.list.filter((e) => !this.selected(e, f, inc));
  }
}

const SIZES = [0x1000, 0x1_0000, 0x20_0000];
const pageOf = fc.record({
  sizeIndex: fc.integer({ min: 0, max: 2 }),
  page: fc.integer({ min: 0, max: 40 }),
});
const filterArb = fc.record(
  { asid: fc.integer({ min: 1, max: 2 }), vmid: fc.integer({ min: 0, max: 1 }), includeGlobal: fc.boolean() },
  { requiredKeys: [] },
);
const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("lookup" as const),
      iova: fc.integer({ min: 0, max: 0x40_0000 - 1 }),
      asid: fc.integer({ min: 1, max: 2 }),
      vmid: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("insert" as const),
      p: pageOf,
      asid: fc.integer({ min: 1, max: 2 }),
      vmid: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("range" as const),
      start: fc.integer({ min: 0, max: 0x40_0000 }),
      size: fc.integer({ min: 1, max: 0x30_0000 }),
      f: filterArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("tags" as const), f: filterArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("all" as const) }) },
);

function check(options: IotlbOptions): void {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (program) => {
      const entries = options.entries ?? 256;
      const qemu = options.replacement === "qemu";
      const tlb = createIotlb(options);
      const oracle = new Oracle(entries, qemu ? entries : (options.ways ?? 4), qemu);
      const hit = createIotlbHit();
      for (const o of program) {
        switch (o.t) {
          case "lookup": {
            const got = tlb.lookup(o.iova, createIotlbTags({ asid: o.asid, vmid: o.vmid }), hit);
            expect(got < 0 ? -1 : hit.outputAddress).toBe(oracle.lookup(o.iova, o.asid, o.vmid));
            break;
          }
          case "insert": {
            const size = SIZES[o.p.sizeIndex]!;
            const base = (o.p.page % (0x40_0000 / size)) * size;
            // Pages whose number is a multiple of 5 are global (ASID 0): then at most one entry can
            // answer a lookup per page size, so "which way hits first" never matters.
            const global = (base / size) % 5 === 0;
            const asid = global ? 0 : o.asid;
            const out = 2 ** 40 + base * 2;
            tlb.insert(base, size, out, 0, 0, createIotlbTags({ asid, vmid: o.vmid }), global);
            oracle.insert(base, size, out, asid, o.vmid, global);
            break;
          }
          case "range":
            tlb.invalidateRange({ start: o.start, size: o.size, filter: o.f });
            oracle.invalidateRange(o.start, o.size, o.f);
            break;
          case "tags":
            tlb.invalidateTags(o.f);
            oracle.invalidateTags(o.f);
            break;
          case "all":
            tlb.invalidateAll();
            oracle.list = [];
            break;
        }
        const key = (e: { base: number; size: number; asid: number; vmid: number; global: boolean }) =>
          `${e.base}/${e.size}/${e.asid}/${e.vmid}/${e.global}`;
        const actual = tlb
          .snapshot()
          .map((e) =>
            key({ base: Number(e.iova), size: Number(e.size), asid: e.asid, vmid: e.vmid, global: e.global }),
          )
          .sort();
        expect(actual).toEqual(oracle.list.map(key).sort());
        expect(tlb.validEntries).toBe(oracle.list.length);
      }
    }),
    { numRuns: 150 },
  );
}

describe("IOTLB against an oracle (fast-check)", () => {
  it("fully associative LRU", () => check({ entries: 8, ways: 8, replacement: "lru" }));
  it("4-way LRU, 4 sets", () => check({ entries: 16, ways: 4, replacement: "lru" }));
  it("2-way LRU, 3 sets (modulo indexing)", () => check({ entries: 6, ways: 2, replacement: "lru" }));
  it("direct mapped", () => check({ entries: 8, ways: 1, replacement: "lru" }));
  it("qemu flush-all", () => check({ entries: 8, replacement: "qemu" }));
});

describe("IOTLB invariants under every policy (fast-check)", () => {
  it.each(["fifo", "round-robin", "random"] as const)(
    "%s: no entry overlapping an invalidated range with matching tags survives; survivors were inserted",
    (replacement) => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 100 }), (program) => {
          const tlb = createIotlb({ entries: 16, ways: 4, replacement, seed: 7 });
          // Every translation inserted and not since invalidated, by key: the superset of what may survive.
          const live = new Map<string, number>();
          const k = (base: number, size: number, asid: number, vmid: number) =>
            `${base}/${size}/${asid}/${vmid}`;
          for (const o of program) {
            if (o.t === "insert") {
              const size = SIZES[o.p.sizeIndex]!;
              const base = (o.p.page % (0x40_0000 / size)) * size;
              tlb.insert(
                base,
                size,
                2 ** 40 + base * 2,
                0,
                0,
                createIotlbTags({ asid: o.asid, vmid: o.vmid }),
              );
              live.set(k(base, size, o.asid, o.vmid), 2 ** 40 + base * 2);
            } else if (o.t === "range") {
              tlb.invalidateRange({ start: o.start, size: o.size, filter: o.f });
              for (const e of tlb.snapshot()) {
                const overlaps = Number(e.iova) < o.start + o.size && Number(e.iova + e.size) > o.start;
                const selected =
                  (o.f.asid === undefined || e.asid === o.f.asid) &&
                  (o.f.vmid === undefined || e.vmid === o.f.vmid);
                expect(overlaps && selected).toBe(false);
              }
              for (const key of [...live.keys()]) {
                const [base, size, asid, vmid] = key.split("/").map(Number) as [
                  number,
                  number,
                  number,
                  number,
                ];
                const overlaps = base < o.start + o.size && base + size > o.start;
                if (
                  overlaps &&
                  (o.f.asid === undefined || asid === o.f.asid) &&
                  (o.f.vmid === undefined || vmid === o.f.vmid)
                )
                  live.delete(key);
              }
            } else if (o.t === "all") {
              tlb.invalidateAll();
              live.clear();
            }
            for (const e of tlb.snapshot()) {
              expect(live.get(k(Number(e.iova), Number(e.size), e.asid, e.vmid))).toBe(Number(e.output));
            }
            expect(tlb.validEntries).toBeLessThanOrEqual(16);
          }
        }),
        { numRuns: 100 },
      );
    },
  );
});
