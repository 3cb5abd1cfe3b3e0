import { describe, expect, it } from "vitest";
import { getFormat } from "../../page-table/registry.js";
import { computeLpaeGeometry, type LpaeGeometry } from "./geometry.js";
import { computeLpaeTcr } from "./tcr.js";

const K = 1024;

// hw-facts 1.4 "Computed table (before S2 concatenation)": granule, ias, levels, start, pgd_bits.
const TABLE_1_4: [number, number, number, number, number][] = [
  [4, 32, 3, 1, 2],
  [4, 36, 3, 1, 6],
  [4, 39, 3, 1, 9],
  [4, 40, 4, 0, 1],
  [4, 42, 4, 0, 3],
  [4, 44, 4, 0, 5],
  [4, 48, 4, 0, 9],
  [16, 32, 2, 2, 7],
  [16, 36, 2, 2, 11],
  [16, 40, 3, 1, 4],
  [16, 42, 3, 1, 6],
  [16, 44, 3, 1, 8],
  [16, 48, 4, 0, 1],
  [64, 32, 2, 2, 3],
  [64, 36, 2, 2, 7],
  [64, 40, 2, 2, 11],
  [64, 42, 2, 2, 13],
  [64, 44, 3, 1, 2],
  [64, 48, 3, 1, 6],
  [64, 52, 3, 1, 10],
];

describe("LPAE geometry (hw-facts 1.4)", () => {
  for (const [g, ias, levels, start, pgdBits] of TABLE_1_4) {
    it(`${g}K ias ${ias}: ${levels} levels from ${start}, ${2 ** pgdBits} top entries`, () => {
      const geo = getFormat("arm-lpae-s1").geometry({
        granule: g * K,
        ias,
        oas: g === 64 ? 52 : 48,
      }) as LpaeGeometry;
      expect([geo.levels, geo.startLevel, geo.pgdBits]).toEqual([levels, start, pgdBits]);
      expect(geo.topTableBytes).toBe(8 << pgdBits);
      expect(geo.topTableAllocBytes).toBe(Math.max(8 << pgdBits, 64));
      expect(geo.concatenatedTables).toBe(1);
      expect(geo.leafLevel).toBe(3);
      expect(geo.granule).toBe(g * K);
      // Stage 2 with oas 44 never concatenates (mainline) unless 16K ias 48.
      const s2 = computeLpaeGeometry(2, { granule: g * K, ias, oas: 44 });
      if (!(g === 16 && ias === 48)) expect([s2.startLevel, s2.pgdBits]).toEqual([start, pgdBits]);
    });
  }

  it("restricts the page-size bitmap per granule; 64K adds 4 TiB only with oas > 48", () => {
    const bm = (granule: number, oas: number, pgsizeBitmap?: bigint) =>
      computeLpaeGeometry(1, {
        granule,
        ias: 48,
        oas,
        ...(pgsizeBitmap !== undefined ? { pgsizeBitmap } : {}),
      }).pgsizeBitmap;
    expect(bm(4 * K, 48)).toBe(0x4020_1000n);
    expect(bm(16 * K, 48)).toBe(0x0200_4000n);
    expect(bm(64 * K, 48)).toBe(0x2001_0000n);
    expect(bm(64 * K, 52)).toBe(0x400_2001_0000n);
    expect(bm(4 * K, 48, 0xffff_ffffn)).toBe(0x4020_1000n);
    expect(bm(4 * K, 48, 0x1000n | 0x20_0000n)).toBe(0x20_1000n);
    expect(() => bm(4 * K, 48, 0x20_0000n)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });

  it("clamps ias/oas to 48 bits below 64K and refuses what Linux refuses", () => {
    const g = computeLpaeGeometry(1, { granule: 4096, ias: 52, oas: 52 });
    expect([g.ias, g.oas]).toEqual([48, 48]);
    expect(() => computeLpaeGeometry(1, { granule: 8192, ias: 48, oas: 48 })).toThrow(/granule 0x2000/);
    expect(() => computeLpaeGeometry(1, { granule: 4096, ias: 53, oas: 48 })).toThrow(/ias 53/);
    expect(() => computeLpaeGeometry(1, { granule: 4096, ias: 48, oas: 38 })).toThrow(/oas 38/);
    expect(() => computeLpaeGeometry(1, { granule: 4096, ias: 40.5, oas: 48 })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });
});

describe("stage-2 concatenation (hw-facts 1.5)", () => {
  const s2 = (g: number, ias: number, oas: number, rule?: "mainline" | "legacy") =>
    computeLpaeGeometry(2, { granule: g * K, ias, oas, ...(rule ? { s2Concat: rule } : {}) });
  const shape = (geo: LpaeGeometry) => [geo.startLevel, geo.pgdBits, geo.concatenatedTables, geo.levels];

  it("mainline: only where the architecture mandates it", () => {
    expect(shape(s2(4, 40, 40))).toEqual([1, 10, 2, 3]);
    expect(shape(s2(4, 42, 42))).toEqual([1, 12, 8, 3]);
    expect(shape(s2(4, 40, 42))).toEqual([1, 10, 2, 3]);
    expect(shape(s2(4, 40, 44))).toEqual([0, 1, 1, 4]);
    expect(shape(s2(4, 44, 48))).toEqual([0, 5, 1, 4]);
    expect(shape(s2(16, 48, 48))).toEqual([1, 12, 2, 3]);
    expect(shape(s2(16, 48, 44))).toEqual([1, 12, 2, 3]);
    expect(shape(s2(16, 40, 40))).toEqual([2, 15, 16, 2]);
    expect(shape(s2(16, 40, 48))).toEqual([1, 4, 1, 3]);
    expect(shape(s2(64, 48, 48))).toEqual([1, 6, 1, 3]);
    expect(s2(16, 40, 40).topTableBytes).toBe(16 * 16 * K);
    // More than 16 tables would be needed: alloc fails.
    expect(() => s2(4, 48, 40)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => s2(16, 44, 40)).toThrow(/256 concatenated tables/);
  });

  it("legacy: whenever level 0 has at most 16 entries", () => {
    expect(shape(s2(4, 40, 44, "legacy"))).toEqual([1, 10, 2, 3]);
    expect(shape(s2(4, 42, 48, "legacy"))).toEqual([1, 12, 8, 3]);
    expect(shape(s2(4, 44, 44, "legacy"))).toEqual([0, 5, 1, 4]);
    expect(shape(s2(4, 48, 48, "legacy"))).toEqual([0, 9, 1, 4]);
    expect(shape(s2(16, 48, 48, "legacy"))).toEqual([1, 12, 2, 3]);
    expect(shape(s2(16, 40, 40, "legacy"))).toEqual([1, 4, 1, 3]);
  });

  it("VTCR/TCR fields", () => {
    expect(computeLpaeTcr(s2(4, 40, 40))).toEqual({ tsz: 24, tg: 0, ps: 2, sh: 3, irgn: 1, orgn: 1, sl: 1 });
    expect(computeLpaeTcr(s2(4, 48, 48)).sl).toBe(2);
    expect(computeLpaeTcr(s2(16, 40, 40)).sl).toBe(1);
    expect(computeLpaeTcr(s2(64, 48, 48), false)).toEqual({
      tsz: 16,
      tg: 1,
      ps: 5,
      sh: 2,
      irgn: 0,
      orgn: 0,
      sl: 2,
    });
    expect(computeLpaeTcr(computeLpaeGeometry(1, { granule: 16 * K, ias: 36, oas: 52 }))).toEqual({
      tsz: 28,
      tg: 2,
      ps: 5,
      sh: 3,
      irgn: 1,
      orgn: 1,
    });
  });
});
