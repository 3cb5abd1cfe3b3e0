/**
 * The soundness of each codec's `tableWord` (the hardware walker's arena fast path) against the
 * codec's own methods: whenever it returns a word, the descriptor is a present, fault-free table at
 * four times that word. Also: it accepts the tables Linux writes below 4 GiB (so the fast path is
 * used), agrees with the codec's `fastTest` table masks, and gives the hand-computed answers below.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { amdV1Spec } from "../formats/amd-v1/index.js";
import { lpaeTableSpec } from "../formats/arm-lpae/format.js";
import { vtdFsSpec } from "../formats/intel-vtd/first-stage.js";
import { vtdSsSpec } from "../formats/intel-vtd/second-stage.js";
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import type { DescriptorHalves, RadixTableSpec } from "./radix-table.js";

/** Engine specs of each radix format with a `tableWord`, with level numbering and variants. */
const SPECS: [string, () => RadixTableSpec][] = [
  ["arm-lpae-s1 4K", () => lpaeTableSpec(1, { ias: 48, oas: 48, granule: 4096 })],
  [
    "arm-lpae-s1 4K oas 40, NS",
    () =>
      lpaeTableSpec(1, {
        ias: 48,
        oas: 40,
        granule: 4096,
        quirks: { armNs: true },
      }),
  ],
  ["arm-lpae-s1 16K", () => lpaeTableSpec(1, { ias: 48, oas: 48, granule: 16384 })],
  ["arm-lpae-s1 64K 52-bit", () => lpaeTableSpec(1, { ias: 52, oas: 52, granule: 65536 })],
  ["arm-lpae-s2 4K", () => lpaeTableSpec(2, { ias: 40, oas: 44, granule: 4096 })],
  ["amd-v1 mode 4", () => amdV1Spec({ ias: 48, oas: 52 })],
  ["amd-v1 mode 6", () => amdV1Spec({ ias: 64, oas: 52 })],
  ["intel-vtd-ss 4-level", () => vtdSsSpec({ ias: 48, oas: 48, forceSnoop: true })],
  ["intel-vtd-ss 5-level, 4K only", () => vtdSsSpec({ ias: 57, oas: 52, pgsizeBitmap: 0x1000 })],
  ["intel-vtd-fs 4-level", () => vtdFsSpec({ ias: 48, oas: 48 })],
  ["intel-vtd-fs 5-level, no 1G", () => vtdFsSpec({ ias: 57, oas: 52, pgsizeBitmap: 0x1000 + 0x20_0000 })],
];

/** A descriptor to probe: one the codec encodes (table or leaf) with a few bits flipped, or noise. */
const descriptorArb = fc.record({
  kind: fc.constantFrom("table", "table", "table", "leaf", "random"),
  // 4K frame numbers: mostly below 4 GiB (the fast path's range), some up to 2^52.
  frame: fc.oneof(fc.nat({ max: 2 ** 20 - 1 }), fc.nat({ max: 2 ** 40 - 1 })),
  prot: fc.nat({ max: 15 }),
  flips: fc.array(fc.nat({ max: 63 }), { maxLength: 3 }),
  rlo: fc.integer({ min: 0, max: 0xffff_ffff }),
  rhi: fc.integer({ min: 0, max: 0xffff_ffff }),
});

type Probe = typeof descriptorArb extends fc.Arbitrary<infer T> ? T : never;

/** Builds the probe's halves for the level at depth `d` of `spec`. */
function build(spec: RadixTableSpec, d: number, p: Probe): DescriptorHalves {
  const codec = spec.codec;
  const level = spec.levels[d]!.level;
  const out: DescriptorHalves = { lo: p.rlo, hi: p.rhi };
  if (p.kind === "table") {
    // Tables are granule-aligned (64K LPAE keeps PA[51:48] in bits 15:12).
    const granule = Number(spec.geometry.granule);
    codec.encodeTable(Math.floor((p.frame * 4096) / granule) * granule, level, out);
  } else if (p.kind === "leaf") {
    const size = 2 ** spec.levels[d]!.shift;
    const pa = Math.floor((p.frame * 4096) / size) * size;
    codec.encodeLeafTemplate(p.prot & (IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE), level, size, out);
    out.lo = (out.lo | codec.leafAddressLo(pa, size)) >>> 0;
    out.hi = (out.hi | codec.leafAddressHi(pa, size)) >>> 0;
  }
  for (const bit of p.flips) {
    if (bit < 32) out.lo = (out.lo ^ (1 << bit)) >>> 0;
    else out.hi = (out.hi ^ (1 << (bit - 32))) >>> 0;
  }
  return out;
}

describe("tableWord returns a word only for a present, fault-free table below 4 GiB", () => {
  for (const [name, specOf] of SPECS) {
    const spec = specOf();
    const codec = spec.codec;
    const n = spec.levels.length;

    it(`${name}: encoded tables and leaves with bit flips, and noise, at every level`, () => {
      expect(typeof codec.tableWord).toBe("function");
      let accepted = 0;
      fc.assert(
        fc.property(fc.nat({ max: n - 1 }), descriptorArb, (d, p) => {
          const level = spec.levels[d]!.level;
          const { lo, hi } = build(spec, d, p);
          const w = codec.tableWord!(lo, hi, level);
          if (w < 0) {
            expect(w).toBe(-1);
            return;
          }
          accepted++;
          expect(Number.isInteger(w) && w < 2 ** 30).toBe(true);
          expect(codec.isPresent(lo, hi, level)).toBe(true);
          expect(codec.isTable(lo, hi, level)).toBe(true);
          expect(codec.walkFault(lo, hi, level, false)).toBe(0);
          expect(codec.walkFault(lo, hi, level, d === n - 1)).toBe(0);
          expect(codec.tableAddress(lo, hi, level)).toBe(w * 4);
        }),
        { numRuns: 6000 },
      );
      // The generator reaches the accepting side, so the checks above were exercised.
      expect(accepted).toBeGreaterThan(100);
    });

    it(`${name}: accepts the tables the codec encodes below 4 GiB at every level above the last`, () => {
      fc.assert(
        fc.property(fc.nat({ max: n - 2 }), fc.nat({ max: 2 ** 20 - 1 }), (d, frame) => {
          const level = spec.levels[d]!.level;
          const granule = Number(spec.geometry.granule);
          const pa = Math.floor((frame * 4096) / granule) * granule;
          const out: DescriptorHalves = { lo: 0, hi: 0 };
          codec.encodeTable(pa, level, out);
          expect(codec.tableWord!(out.lo, out.hi, level)).toBe(pa / 4);
        }),
        { numRuns: 1000 },
      );
    });

    it(`${name}: the fastTest table masks accept only what tableWord accepts, at the same address`, () => {
      expect(typeof codec.fastTest).toBe("function");
      fc.assert(
        fc.property(fc.nat({ max: n - 2 }), descriptorArb, (d, p) => {
          const level = spec.levels[d]!.level;
          const t = codec.fastTest!(level, false);
          const { lo, hi } = build(spec, d, p);
          if ((lo & t.tableLoMask) === t.tableLoValue && (hi & t.tableHiMask) === 0) {
            expect(codec.tableWord!(lo, hi, level)).toBe(((lo & t.tableAddressMask) >>> 0) / 4);
          }
        }),
        { numRuns: 4000 },
      );
    });
  }
});

/** The halves of a 64-bit descriptor. */
function halves(d: bigint): [number, number] {
  return [Number(d & 0xffff_ffffn), Number(d >> 32n)];
}

/** [descriptor, level, expected tableWord] computed by hand from the specs and Linux's encodings. */
type Vector = [bigint, number, number];

const VECTORS: [string, () => RadixTableSpec, Vector[]][] = [
  [
    "arm-lpae-s1 4K",
    SPECS[0]![1],
    [
      // Table (type 0b11) at level 1 to 0x4000_1000: 0x4000_1000 / 4.
      [0x0000_0000_4000_1003n, 1, 0x1000_0400],
      // The same with NSTABLE (bit 63): an attribute, not an address bit.
      [0x8000_0000_4000_1003n, 0, 0x1000_0400],
      // Table at 0x1_2345_6000 (above 4 GiB): the slow path.
      [0x0000_0001_2345_6003n, 1, -1],
      // A block (type 0b01) at level 2, and a page (0b11) at level 3: not tables.
      [0x0000_0000_4020_0401n, 2, -1],
      [0x0000_0000_4000_1403n, 3, -1],
    ],
  ],
  [
    "amd-v1 mode 4",
    SPECS[5]![1],
    [
      // hw-facts 3.1: a mode-3 top entry `L1pa | 0x6000000000000401` (PR, NextLevel 2, IR|IW) is a
      // level-2 directory; with L1pa = 0x4000_3000 the word is 0x4000_3000 / 4.
      [0x6000_0000_4000_3401n, 2, 0x1000_0c00],
      // The level-1 directory `L0pa | 0x6000000000000201` (NextLevel 1), L0pa = 0x8765_4000.
      [0x6000_0000_8765_4201n, 1, 0x21d9_5000],
      // NextLevel 2 in a level-1 entry (level skipping, not modelled: a fault).
      [0x6000_0000_4000_3401n, 1, -1],
      // Not present (PR clear).
      [0x6000_0000_4000_3400n, 2, -1],
      // The leaves of hw-facts 3.1: 2M natural (NextLevel 0) and 64K sized (NextLevel 7).
      [0x3000_0000_8000_0001n, 1, -1],
      [0x7000_0000_2000_7e01n, 1, -1],
      // A directory at 0x10_4000_3000 (above 4 GiB).
      [0x6000_0010_4000_3401n, 2, -1],
    ],
  ],
  [
    "intel-vtd-ss 4-level",
    SPECS[7]![1],
    [
      // hw-facts 3.2: a table is `next_pa | 0x3`; next_pa = 0x4000_5000.
      [0x0000_0000_4000_5003n, 1, 0x1000_1400],
      [0x0000_0000_4000_5003n, 3, 0x1000_1400],
      // R alone is present too (dma_pte_present: R|W).
      [0x0000_0000_4000_5001n, 2, 0x1000_1400],
      // Neither R nor W: not present.
      [0x0000_0000_4000_5000n, 2, -1],
      // 2M RW leaf `0x40000083` (PS) at level 1; the same bits at level 3 (PS reserved: a fault).
      [0x0000_0000_4000_0083n, 1, -1],
      [0x0000_0000_4000_0083n, 3, -1],
      // Any entry at level 0 is a leaf.
      [0x0000_0000_1234_5003n, 0, -1],
      // A table above 4 GiB.
      [0x0000_0002_4000_5003n, 1, -1],
    ],
  ],
  [
    "intel-vtd-fs 4-level",
    SPECS[9]![1],
    [
      // hw-facts 3.3: tables are `P | RW | U | A` (0x27); next = 0x4000_6000 at the PML4 (level 3).
      [0x0000_0000_4000_6027n, 3, 0x1000_1800],
      // XD (bit 63) is a permission, not an address bit.
      [0x8000_0000_4000_6027n, 1, 0x1000_1800],
      // A 2M RW leaf `pa | 0xE7` at level 1 (PS), and at level 3 (PS reserved: a fault).
      [0x0000_0000_4020_00e7n, 1, -1],
      [0x0000_0000_4020_00e7n, 3, -1],
      // P clear.
      [0x0000_0000_4000_6026n, 2, -1],
      // A table above 4 GiB.
      [0x0000_0001_4000_6027n, 2, -1],
    ],
  ],
];

describe("tableWord on hand-computed descriptors", () => {
  for (const [name, specOf, vectors] of VECTORS) {
    it(name, () => {
      const codec = specOf().codec;
      for (const [d, level, want] of vectors) {
        const [lo, hi] = halves(d);
        expect({ d: `0x${d.toString(16)}`, level, w: codec.tableWord!(lo, hi, level) }).toEqual({
          d: `0x${d.toString(16)}`,
          level,
          w: want,
        });
        if (want >= 0) expect(codec.tableAddress(lo, hi, level)).toBe(want * 4);
      }
    });
  }
});
