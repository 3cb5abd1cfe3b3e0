import { describe, expect, it } from "vitest";
import { createIotlbTags } from "./types.js";
import { createWalkCache, gem5WalkCacheLevels } from "./walk-cache.js";

const T1 = createIotlbTags({ asid: 1, vmid: 1 });
const T2 = createIotlbTags({ asid: 2, vmid: 1 });
const G = 2 ** 30;
const M2 = 2 ** 21;

function filled() {
  const wc = createWalkCache();
  // Stage 1, asid 1: L0 table for [0, 512G), L1 table for [0, 1G), L2 tables for [0, 2M) and [2M, 4M).
  wc.insert(T1, 1, 0, 0x1234, 0x4000_1000);
  wc.insert(T1, 1, 1, 0x1234, 0x4000_2000);
  wc.insert(T1, 1, 2, 0x1234, 0x4000_3000);
  wc.insert(T1, 1, 2, M2 + 5, 0x4000_4000);
  wc.insert(T2, 1, 2, 0x1234, 0x4000_5000);
  wc.insert(T1, 2, 1, G + 1, 0x5000_0000);
  return wc;
}

describe("walk cache", () => {
  it("gem5 geometry by default", () => {
    const wc = createWalkCache();
    expect(wc.geometry.map((g) => `S${g.stage}L${g.level}:${g.entries}/${g.ways}/${g.shift}`)).toEqual([
      "S1L0:4/4/39",
      "S1L1:28/4/30",
      "S1L2:348/4/21",
      "S1L3:4/4/12",
      "S2L0:4/4/39",
      "S2L1:28/4/30",
      "S2L2:92/4/21",
      "S2L3:4/4/12",
    ]);
    expect(gem5WalkCacheLevels(1, 0x10000).map((l) => [l.level, l.shift])).toEqual([
      [1, 42],
      [2, 29],
      [3, 16],
    ]);
  });

  it("looks up the next table by tags, stage, level and the address bits above the level's span", () => {
    const wc = filled();
    expect(wc.lookup(T1, 1, 0, 0x7f_ffff_ffff)).toBe(0x4000_1000);
    expect(wc.lookup(T1, 1, 1, G - 1)).toBe(0x4000_2000);
    expect(wc.lookup(T1, 1, 1, G)).toBe(-1);
    expect(wc.lookup(T1, 1, 2, M2 - 1)).toBe(0x4000_3000);
    expect(wc.lookup(T1, 1, 2, M2)).toBe(0x4000_4000);
    expect(wc.lookup(T2, 1, 2, 0)).toBe(0x4000_5000);
    expect(wc.lookup(T1, 2, 1, G + 0x1000)).toBe(0x5000_0000);
    expect(wc.lookup(T1, 2, 2, 0)).toBe(-1);
    expect(wc.lookup(T1, 1, 7, 0)).toBe(-1); // level not cached
    expect(wc.stats().total).toMatchObject({ lookups: 8, hits: 6, misses: 2, insertions: 6 }); // an uncached level counts nothing;
  });

  it("leaf-only range invalidations keep every entry", () => {
    const wc = filled();
    expect(wc.invalidateRange({ start: 0, size: 4 * M2, leafOnly: true })).toBe(0);
    expect(wc.snapshot()).toHaveLength(6);
  });

  it("non-leaf range invalidations drop the entries whose span overlaps the range", () => {
    const wc = filled();
    // [2M, 2M+4K) of asid 1: the L0 and L1 tables above it and the L2 table for [2M, 4M).
    expect(wc.invalidateRange({ start: M2, size: 0x1000, filter: { asid: 1, vmid: 1 }, stage: 1 })).toBe(3);
    expect(wc.lookup(T1, 1, 2, 0)).toBe(0x4000_3000);
    expect(wc.lookup(T2, 1, 2, 0)).toBe(0x4000_5000);
    expect(wc.lookup(T1, 2, 1, G)).toBe(0x5000_0000);
    expect(wc.stats().total).toMatchObject({ invalidations: { range: 1 }, dropped: { range: 3 } });
  });

  it("by tag and all drop everything matching", () => {
    const wc = filled();
    expect(wc.invalidateTags({ asid: 2 })).toBe(1);
    expect(wc.invalidateTags({ vmid: 1 }, 2)).toBe(1);
    expect(wc.invalidateAll()).toBe(4);
    expect(wc.snapshot()).toEqual([]);
    expect(wc.stats().total.invalidations).toEqual({ all: 1, tag: 2, range: 0 });
    wc.resetStats();
    expect(wc.stats().total.lookups).toBe(0);
  });

  it("replacement within a level: 4 entries, fully associative, round robin", () => {
    const wc = createWalkCache({ stage1: [{ level: 2, shift: 21, entries: 4, ways: 4 }], stage2: [] });
    for (let i = 0; i < 5; i++) wc.insert(T1, 1, 2, i * M2, 0x1000 * (i + 1));
    expect(wc.lookup(T1, 1, 2, 0)).toBe(-1); // the 5th insert replaced way 0
    expect(wc.lookup(T1, 1, 2, 4 * M2)).toBe(0x5000);
    expect(wc.describe()).toContain("S1L2 walk cache");
  });

  it("refuses a bad configuration", () => {
    expect(() => createWalkCache({ stage1: [{ level: 0, shift: 60, entries: 4 }] })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() => gem5WalkCacheLevels(1, 8192)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});
