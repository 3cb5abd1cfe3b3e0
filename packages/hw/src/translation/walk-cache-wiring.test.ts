import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { WalkCacheLevelConfig } from "../iotlb/walk-cache.js";
import { createPhysMemory, type PhysMemory } from "../memory/phys-memory.js";
import { createPageTable, getFormat } from "../page-table/registry.js";
import { createWalkOut, type PageTable } from "../page-table/types.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createTranslationUnit, type TranslationUnit } from "./translation-unit.js";
import { createTranslateOut, DmaAccess, type StageConfig, type TranslationFault } from "./types.js";
import { walkCacheLevelsFor } from "./walk-cache-levels.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const M2 = 0x20_0000;
const T = (pa: number) => BigInt(pa) | 3n; // LPAE table descriptor, written by hand

function lpaeS1(memory: PhysMemory, tlbFlushWalk?: (iova: number, size: number) => void): PageTable {
  return createPageTable("arm-lpae-s1", {
    memory,
    ias: 48,
    oas: 48,
    granule: 4096,
    ...(tlbFlushWalk ? { tlbFlushWalk } : {}),
  });
}

function attach(tu: TranslationUnit, table: PageTable, asid = 1): void {
  tu.setStream(1, {
    mode: "translate",
    stage1: { format: "arm-lpae-s1", root: table.root, ias: 48, oas: 48 },
    asid,
  });
}

/** Per walk-cache level of stage 1: [level, lookups, hits, insertions]. */
function s1Counts(tu: TranslationUnit): number[][] {
  return tu
    .walkCache!.stats()
    .levels.filter((l) => l.stage === 1 && l.level < 3)
    .map((l) => [l.level, l.stats.lookups, l.stats.hits, l.stats.insertions]);
}

describe("walkers start below the root", () => {
  it("translateFrom(depth, table of that depth) equals translate from the root, at every depth", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    table.map(0x4020_1000n, 0x9000_0000n, 4096n, 1, RW);
    const steps = table.walk(0x4020_1234n).steps;
    expect(table.walker.walkLevels).toEqual([
      { level: 0, shift: 39 },
      { level: 1, shift: 30 },
      { level: 2, shift: 21 },
      { level: 3, shift: 12 },
    ]);
    const want = createWalkOut();
    table.walker.translate(table.rootAddress, 0x4020_1234, want);
    steps.forEach((step, depth) => {
      const out = createWalkOut();
      table.walker.translateFrom(depth, Number(step.tableAddress), 0x4020_1234, out);
      expect(out).toEqual(want);
    });
    expect(() => table.walker.translateFrom(4, table.rootAddress, 0, createWalkOut())).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });

  it("the v7s walker starts at its level-2 table and calls fetch once per table read", () => {
    const memory = createPhysMemory();
    const table = getFormat("arm-v7s").create({ memory, ias: 32, oas: 32 });
    table.map(0x0012_3000n, 0x0800_0000n, 4096n, 1, RW);
    const [l1, l2] = table.walk(0x0012_3456n).steps;
    const walker = table.walker;
    expect(walker.walkLevels).toEqual([
      { level: 1, shift: 20 },
      { level: 2, shift: 12 },
    ]);
    const seen: [number, number][] = [];
    const fetch = (t: number, level: number) => {
      seen.push([t, level]);
      return t;
    };
    const out = createWalkOut();
    walker.translateFrom(1, Number(l2!.tableAddress), 0x0012_3456, out, fetch);
    expect(out).toMatchObject({ fault: 0, level: 2, outputAddress: 0x0800_0456 });
    walker.translateFrom(0, Number(l1!.tableAddress), 0x0012_3456, out, fetch);
    expect(seen).toEqual([
      [Number(l2!.tableAddress), 2],
      [Number(l1!.tableAddress), 1],
      [Number(l2!.tableAddress), 2],
    ]);
  });
});

describe("translation unit with walk caches", () => {
  it("without a walk cache: none, and the statistics count no walk-cache hits", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    const tu = createTranslationUnit({ memory });
    attach(tu, table);
    table.map(0x4020_0000n, 0x9000_0000n, 4096n, 1, RW);
    expect(tu.translate(1, 0x4020_0000, DmaAccess.READ)).toBe(true);
    expect(tu.walkCache).toBeNull();
    expect(tu.stats().walkCacheHits).toBe(0);
    expect(tu.invalidateRange({ start: 0x4020_0000, size: 4096, filter: { asid: 1 } })).toBe(1);
  });

  it("after a leaf-only invalidation, the next walk in the same 2 MiB reads the last level only", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    const tu = createTranslationUnit({ memory, walkCache: {} });
    attach(tu, table);
    table.map(0x4020_0000n, 0x9000_0000n, 4096n, 2, RW);
    table.map(0x4040_0000n, 0xa000_0000n, 4096n, 1, RW);
    const out = createTranslateOut();
    // Cold: the probe misses L2, L1, L0 (deepest first); the walk caches L0, L1 and L2 descriptors.
    expect(tu.translate(1, 0x4020_0010, DmaAccess.READ, out)).toBe(true);
    expect(s1Counts(tu)).toEqual([
      [0, 1, 0, 1],
      [1, 1, 0, 1],
      [2, 1, 0, 1],
    ]);
    // LEAF=1 / IH=1: the IOTLB entry goes, the table descriptors stay.
    expect(tu.invalidateRange({ start: 0x4020_0000, size: 4096, filter: { asid: 1 }, leafOnly: true })).toBe(
      1,
    );
    expect(tu.walkCache!.snapshot()).toHaveLength(3);
    expect(tu.translate(1, 0x4020_0020, DmaAccess.READ, out)).toBe(true);
    expect(out).toMatchObject({ hit: false, outputAddress: 0x9000_0020 });
    expect(tu.translate(1, 0x4020_1000, DmaAccess.READ, out)).toBe(true); // same 2 MiB, next page
    expect(out.outputAddress).toBe(0x9000_1000);
    // Two L2 hits, nothing probed above them, nothing refilled.
    expect(s1Counts(tu)).toEqual([
      [0, 1, 0, 1],
      [1, 1, 0, 1],
      [2, 3, 2, 1],
    ]);
    // Another 2 MiB region under the same L2 table: L2 misses, L1 hits, the new L2 descriptor is cached.
    expect(tu.translate(1, 0x4040_0000, DmaAccess.READ, out)).toBe(true);
    expect(s1Counts(tu)).toEqual([
      [0, 1, 0, 1],
      [1, 2, 1, 1],
      [2, 4, 2, 2],
    ]);
    expect(tu.stats()).toMatchObject({ walks: 4, walkCacheHits: 3 });

    // Independent proof that only the last level is read: clear the L0, L1 and L2 descriptors in
    // memory. The unit with walk caches still translates from its cached L3 table; a unit without
    // one faults at level 0.
    const [l0, l1, l2] = table.walk(0x4020_1000n).steps;
    for (const s of [l0!, l1!, l2!]) memory.writeU64(s.descriptorAddress, 0n);
    expect(tu.invalidateRange({ start: 0x4020_1000, size: 4096, filter: { asid: 1 }, leafOnly: true })).toBe(
      1,
    );
    expect(tu.translate(1, 0x4020_1abc, DmaAccess.READ, out)).toBe(true);
    expect(out.outputAddress).toBe(0x9000_1abc);
    const faults: TranslationFault[] = [];
    const plain = createTranslationUnit({ memory, faults: { record: (f) => faults.push(f) } });
    attach(plain, table);
    expect(plain.translate(1, 0x4020_1abc, DmaAccess.READ)).toBe(false);
    expect(faults[0]).toMatchObject({ kind: "translation", level: 0 });
  });

  it("shows the stale-table hazard of a freed table invalidated leaf-only, fixed by a non-leaf invalidation", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    const faults: TranslationFault[] = [];
    const tu = createTranslationUnit({ memory, walkCache: {}, faults: { record: (f) => faults.push(f) } });
    attach(tu, table);
    table.map(0x4020_0000n, 0x9000_0000n, 4096n, 1, RW);
    expect(tu.translate(1, 0x4020_0000, DmaAccess.READ)).toBe(true);
    const freed = Number(table.walk(0x4020_0000n).steps[3]!.tableAddress);
    // The driver unmaps the whole 2 MiB (io-pgtable frees the leaf table) but, wrongly, sends only a
    // leaf-only invalidation: the walk cache keeps the L2 descriptor that points to the freed table.
    expect(table.unmap(0x4020_0000n, BigInt(M2), 1)).toBe(BigInt(M2));
    tu.invalidateRange({ start: 0x4020_0000, size: M2, filter: { asid: 1 }, leafOnly: true });
    // The freed page comes back as the leaf table of the next 2 MiB region.
    table.map(0x4040_0000n, 0xa000_0000n, 4096n, 1, RW);
    expect(Number(table.walk(0x4040_0000n).steps[3]!.tableAddress)).toBe(freed);
    expect(table.iovaToPhys(0x4020_0123n)).toBe(0n);
    // The device's access to the unmapped 0x4020_0123 walks the stale pointer into the reused page,
    // whose entry 0 is 0x4040_0000's leaf: it reaches 0xa000_0123.
    const out = createTranslateOut();
    expect(tu.translate(1, 0x4020_0123, DmaAccess.READ, out)).toBe(true);
    expect(out).toMatchObject({ fault: 0, outputAddress: 0xa000_0123, pageSize: 4096, hit: false });
    // A unit without walk caches sees the truth.
    const plain = createTranslationUnit({ memory });
    attach(plain, table);
    expect(plain.translate(1, 0x4020_0123, DmaAccess.READ)).toBe(false);
    // The invalidation the driver owed (LEAF=0 over the range): the stale pointer goes, and the
    // walk faults at the now-invalid L2 entry.
    tu.invalidateRange({ start: 0x4020_0000, size: M2, filter: { asid: 1 } });
    tu.invalidateRange({ start: 0x4020_0000, size: 4096, filter: { asid: 1 }, leafOnly: true });
    expect(tu.translate(1, 0x4020_0123, DmaAccess.READ, out)).toBe(false);
    expect(faults.at(-1)).toMatchObject({ kind: "translation", stage: 1, level: 2, iova: 0x4020_0123 });
  });

  it("probeStale reports the stale table pointer a leaf-only invalidation leaves, without touching the caches", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    const tu = createTranslationUnit({ memory, walkCache: {} });
    attach(tu, table);
    table.map(0x4020_0000n, 0x9000_0000n, 4096n, 1, RW);
    expect(tu.translate(1, 0x4020_0000, DmaAccess.READ)).toBe(true);
    // Consistent caches: nothing stale, and the walk through the cached descriptors agrees.
    expect(tu.probeStale(1, 0x4020_0123)).toEqual({
      cached: true,
      cachedOutput: 0x9000_0123n,
      mapped: true,
      walkOutput: 0x9000_0123n,
      walkCached: true,
      walkCacheOutput: 0x9000_0123n,
      stale: false,
    });
    expect(table.unmap(0x4020_0000n, BigInt(M2), 1)).toBe(BigInt(M2));
    tu.invalidateRange({ start: 0x4020_0000, size: M2, filter: { asid: 1 }, leafOnly: true });
    table.map(0x4040_0000n, 0xa000_0000n, 4096n, 1, RW);
    const before = JSON.stringify(tu.walkCache!.stats());
    // The IOTLB holds nothing for it and the tables map nothing there, but the cached L2 descriptor
    // still leads a walk into the freed (now reused) page: reported stale, with where it lands.
    expect(tu.probeStale(1, 0x4020_0123)).toEqual({
      cached: false,
      mapped: false,
      walkCached: true,
      walkCacheOutput: 0xa000_0123n,
      stale: true,
    });
    expect(JSON.stringify(tu.walkCache!.stats())).toBe(before);
    tu.invalidateRange({ start: 0x4020_0000, size: M2, filter: { asid: 1 } });
    expect(tu.probeStale(1, 0x4020_0123)).toMatchObject({ mapped: false, stale: false });
    // A unit without walk caches says nothing of them.
    const plain = createTranslationUnit({ memory });
    attach(plain, table);
    expect(plain.probeStale(1, 0x4020_0123)).toEqual({ cached: false, mapped: false, stale: false });
  });

  it("tag and full invalidations reach the walk cache by stage", () => {
    const memory = createPhysMemory();
    const table = lpaeS1(memory);
    const tu = createTranslationUnit({ memory, walkCache: {} });
    attach(tu, table, 5);
    table.map(0x1000n, 0x9000_0000n, 4096n, 1, RW);
    tu.translate(1, 0x1000, DmaAccess.READ);
    expect(tu.walkCache!.snapshot().map((e) => [e.walkStage, e.level, e.asid])).toEqual([
      [1, 0, 5],
      [1, 1, 5],
      [1, 2, 5],
    ]);
    tu.invalidateTags({ vmid: 0, stage: 2 }); // stage-2 walks only
    expect(tu.walkCache!.snapshot()).toHaveLength(3);
    tu.invalidateTags({ asid: 6 });
    expect(tu.walkCache!.snapshot()).toHaveLength(3);
    expect(tu.invalidateTags({ asid: 5 })).toBe(1);
    expect(tu.walkCache!.snapshot()).toHaveLength(0);
    tu.translate(1, 0x1000, DmaAccess.READ);
    expect(tu.invalidateAll()).toBe(1);
    expect(tu.walkCache!.snapshot()).toHaveLength(0);
    expect(tu.walkCache!.stats().total.invalidations).toEqual({ all: 1, tag: 3, range: 0 });
  });

  it("gives the same answers as a unit without walk caches when invalidations are issued correctly", () => {
    // Regions under shared and separate L1/L0 tables; pages at both ends of a leaf table.
    const regions = [0x4000_0000, 0x4020_0000, 0x8000_0000, 0x80_4000_0000];
    const pages = [0, 1, 2, 511];
    const op = fc.oneof(
      fc.record({ t: fc.constant("map"), r: fc.nat(3), p: fc.nat(3) }),
      fc.record({ t: fc.constant("block"), r: fc.nat(3), p: fc.constant(0) }),
      fc.record({ t: fc.constant("unmap"), r: fc.nat(3), p: fc.nat(3) }),
      fc.record({ t: fc.constant("unmap-region"), r: fc.nat(3), p: fc.constant(0) }),
      fc.record({ t: fc.constant("translate"), r: fc.nat(3), p: fc.nat(3) }),
      fc.record({ t: fc.constant("translate"), r: fc.nat(3), p: fc.nat(3) }),
    );
    // Tiny caches, so replacement runs too.
    const tiny: WalkCacheLevelConfig[] = [0, 1, 2].map((level) => ({
      level,
      shift: 39 - 9 * level,
      entries: 2,
      ways: 2,
    }));
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const memory = createPhysMemory();
        const units: TranslationUnit[] = [];
        // io-pgtable's tlb_flush_walk: a freed table is invalidated at once, not leaf-only.
        const table = lpaeS1(memory, (iova, size) => {
          for (const u of units) u.invalidateRange({ start: iova, size, filter: { asid: 1 } });
        });
        const cached = createTranslationUnit({
          memory,
          iotlb: { entries: 8, ways: 2 },
          walkCache: { stage1: tiny, stage2: [] },
        });
        const plain = createTranslationUnit({ memory, iotlb: { entries: 8, ways: 2 } });
        units.push(cached, plain);
        for (const u of units) attach(u, table);
        // The oracle: what the driver mapped, page by page.
        const oracle = new Map<number, number>();
        let nextPa = 0x1000_0000_0000;
        const a = createTranslateOut();
        const b = createTranslateOut();
        for (const { t, r, p } of ops) {
          const base = regions[r]!;
          const iova = base + pages[p]! * 4096;
          if (t === "map" || t === "block") {
            const size = t === "map" ? 4096 : M2;
            const pa = nextPa;
            nextPa += M2;
            try {
              table.map(BigInt(iova), BigInt(pa), BigInt(size), 1, RW);
            } catch {
              continue; // EEXIST: nothing changed
            }
            for (let off = 0; off < size; off += 4096) oracle.set(iova + off, pa + off);
          } else if (t === "unmap" || t === "unmap-region") {
            const at = t === "unmap" ? iova : base;
            const bytes = Number(table.unmap(BigInt(at), BigInt(t === "unmap" ? 4096 : M2), 1));
            for (let off = 0; off < bytes; off += 4096) oracle.delete(at + off);
            // The unmap's own gather: leaf-only (tables freed were invalidated by tlbFlushWalk).
            if (bytes > 0)
              for (const u of units)
                u.invalidateRange({ start: at, size: bytes, filter: { asid: 1 }, leafOnly: true });
          } else {
            const okA = cached.translate(1, iova + 8, DmaAccess.READ, a);
            const okB = plain.translate(1, iova + 8, DmaAccess.READ, b);
            const want = oracle.get(iova);
            expect(okA).toBe(want !== undefined);
            expect(okB).toBe(okA);
            if (okA) {
              expect(a.outputAddress).toBe(want! + 8);
              expect(b.outputAddress).toBe(a.outputAddress);
            } else {
              expect(a.fault).toBe(b.fault);
              expect(cached.recentFaults.at(-1)!.level).toBe(plain.recentFaults.at(-1)!.level);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("nested walks with walk caches", () => {
  // The tables of translation-unit.test.ts: stage 2 (ias 40, concatenated level-1 start) maps IPA
  // 0x10000000 + 2 MiB to PA 0x30000000 with a block; the stage-1 tables live at those IPAs.
  function nested() {
    const memory = createPhysMemory();
    const faults: TranslationFault[] = [];
    const tu = createTranslationUnit({ memory, walkCache: {}, faults: { record: (f) => faults.push(f) } });
    memory.writeU64(0x200000, T(0x202000));
    memory.writeU64(0x202000 + 128 * 8, 0x3000_07fdn);
    const s2: StageConfig = { format: "arm-lpae-s2", root: 0x200000n, ias: 40, oas: 40 };
    memory.writeU64(0x3000_0000, T(0x1000_1000));
    memory.writeU64(0x3000_1000, T(0x1000_2000));
    memory.writeU64(0x3000_2000 + 0x91 * 8, T(0x1000_3000));
    memory.writeU64(0x3000_3000 + 0x145 * 8, 0x1010_0f47n); // IOVA 0x12345000 -> IPA 0x10100000
    memory.writeU64(0x3000_3000 + 0x146 * 8, 0x1010_1f47n); // IOVA 0x12346000 -> IPA 0x10101000
    const s1: StageConfig = { format: "arm-lpae-s1", root: 0x1000_0000n, ias: 48, oas: 48 };
    tu.setStream(1, { mode: "translate", stage1: s1, stage2: s2, asid: 7, vmid: 3 });
    return { memory, tu, faults };
  }

  it("caches stage-1 table pointers as IPAs and stage-2 table pointers by VMID", () => {
    const { tu } = nested();
    const out = createTranslateOut();
    expect(tu.translate(1, 0x1234_5abc, DmaAccess.READ, out)).toBe(true);
    expect(out.outputAddress).toBe(0x3010_0abc);
    const entries = tu.walkCache!.snapshot().map((e) => ({
      walkStage: e.walkStage,
      level: e.level,
      iova: e.iova,
      output: e.output,
      asid: e.asid,
      vmid: e.vmid,
      stage: e.stage,
    }));
    expect(entries).toEqual([
      // Stage 1, tagged as the nested IOTLB entries are (stage 3): the next tables' IPAs.
      { walkStage: 1, level: 0, iova: 0n, output: 0x1000_1000n, asid: 7, vmid: 3, stage: 3 },
      { walkStage: 1, level: 1, iova: 0n, output: 0x1000_2000n, asid: 7, vmid: 3, stage: 3 },
      { walkStage: 1, level: 2, iova: 0x1220_0000n, output: 0x1000_3000n, asid: 7, vmid: 3, stage: 3 },
      // Stage 2: the level-1 descriptor of IPAs [0, 1 GiB), filled by the first table fetch.
      { walkStage: 2, level: 1, iova: 0n, output: 0x20_2000n, asid: 0, vmid: 3, stage: 2 },
    ]);
    // Four fetches (root, L1, L2, L3 tables) and the output: the first stage-2 walk misses, the
    // other four hit the stage-2 level-1 entry.
    expect(tu.stats().walkCacheHits).toBe(4);
    // A stage-2 range invalidation leaves the stage-1 entries: they hold IPAs, not PAs.
    tu.invalidateRange({ start: 0x1000_0000, size: M2, filter: { vmid: 3, stage: 2 } });
    expect(tu.walkCache!.snapshot().map((e) => e.walkStage)).toEqual([1, 1, 1]);
  });

  it("reports a stage-2 fault on a fetch of a cached stage-1 table as S2, CLASS=TT with that IPA", () => {
    const { memory, tu, faults } = nested();
    expect(tu.translate(1, 0x1234_5000, DmaAccess.READ)).toBe(true);
    // Stage 2 loses the block holding the stage-1 tables (a leaf change: TLBI_S2_IPA LEAF=1).
    memory.writeU64(0x202000 + 128 * 8, 0n);
    tu.invalidateRange({ start: 0x1000_0000, size: M2, filter: { vmid: 3, stage: 2 }, leafOnly: true });
    // The stage-1 walk starts from the cached L3 table's IPA; stage 2 (from its cached level-1
    // entry) faults at level 2 on that IPA.
    expect(tu.translate(1, 0x1234_6000, DmaAccess.READ)).toBe(false);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({
      kind: "translation",
      stage: 2,
      class: "tt",
      ipa: 0x1000_3000,
      iova: 0x1234_6000,
      level: 2,
    });
  });
});

describe("walk-cache levels per format", () => {
  it("sizes generic_pt and v7s levels by their distance from the leaf tables, gem5's way", () => {
    const short = (stage: 1 | 2, f: Parameters<typeof walkCacheLevelsFor>[0]) =>
      walkCacheLevelsFor(f, stage).map((l) => `L${l.level}:${l.shift}/${l.entries}`);
    expect(short(1, "amd-v1")).toEqual(["L1:21/348", "L2:30/28", "L3:39/4", "L4:48/4"]);
    expect(short(2, "intel-vtd-ss")).toEqual(["L1:21/92", "L2:30/28", "L3:39/4", "L4:48/4"]);
    expect(short(1, "arm-v7s")).toEqual(["L1:20/348"]);
    expect(short(1, "arm-lpae-s1")).toEqual(["L0:39/4", "L1:30/28", "L2:21/348", "L3:12/4"]);
  });

  it("uses a level only where its number and span match the format's", () => {
    const memory = createPhysMemory();
    const table = getFormat("amd-v1").create({ memory, ias: 48, oas: 52 });
    table.map(0x4020_0000n, 0x9000_0000n, 4096n, 1, RW);
    const stage: StageConfig = { format: "amd-v1", root: table.root, ias: 48, oas: 52 };
    // gem5's LPAE levels: no AMD level has the same span, so nothing is cached.
    const lpae = createTranslationUnit({ memory, walkCache: {} });
    lpae.setStream(1, { mode: "translate", stage1: stage, asid: 1 });
    expect(lpae.translate(1, 0x4020_0000, DmaAccess.READ)).toBe(true);
    expect(lpae.walkCache!.snapshot()).toEqual([]);
    const amd = createTranslationUnit({ memory, walkCache: { stage1: walkCacheLevelsFor("amd-v1", 1) } });
    amd.setStream(1, { mode: "translate", stage1: stage, asid: 1 });
    expect(amd.translate(1, 0x4020_0000, DmaAccess.READ)).toBe(true);
    expect(amd.walkCache!.snapshot().map((e) => [e.level, e.iova])).toEqual([
      [1, 0x4020_0000n],
      [2, 0x4000_0000n],
      [3, 0n],
    ]);
  });
});
