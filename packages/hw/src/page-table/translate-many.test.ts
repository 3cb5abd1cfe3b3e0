/**
 * `translateMany` against `translate`, address by address, on every format; and the soundness of
 * each codec's `fastTest` masks against the codec's own methods (the masks may reject more than they
 * must, never accept a descriptor the methods would not).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { amdV1Spec } from "../formats/amd-v1/index.js";
import { lpaeTableSpec } from "../formats/arm-lpae/format.js";
import { vtdFsSpec } from "../formats/intel-vtd/first-stage.js";
import { vtdSsSpec } from "../formats/intel-vtd/second-stage.js";
import { createPageAllocator } from "../memory/page-allocator.js";
import { createPhysMemory } from "../memory/phys-memory.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import type { RadixTableSpec } from "./radix-table.js";
import { createPageTable } from "./registry.js";
import { createWalkOut, type FormatName, type PageTable, type PageTableConfig } from "./types.js";

const G = 2 ** 30;

interface Setup {
  name: string;
  format: FormatName;
  config: Partial<Omit<PageTableConfig, "memory">>;
}

const SETUPS: Setup[] = [
  { name: "arm-lpae-s1 4K 48-bit", format: "arm-lpae-s1", config: { ias: 48, oas: 48, granule: 4096 } },
  {
    name: "arm-lpae-s1 4K 39-bit, oas 40",
    format: "arm-lpae-s1",
    config: { ias: 39, oas: 40, granule: 4096 },
  },
  { name: "arm-lpae-s1 16K 47-bit", format: "arm-lpae-s1", config: { ias: 47, oas: 48, granule: 16384 } },
  { name: "arm-lpae-s1 64K 52-bit", format: "arm-lpae-s1", config: { ias: 52, oas: 52, granule: 65536 } },
  {
    name: "arm-lpae-s2 4K 40-bit (concatenated)",
    format: "arm-lpae-s2",
    config: { ias: 40, oas: 48, granule: 4096 },
  },
  { name: "arm-lpae-s2 64K 42-bit", format: "arm-lpae-s2", config: { ias: 42, oas: 48, granule: 65536 } },
  { name: "arm-v7s", format: "arm-v7s", config: { ias: 32, oas: 32 } },
  { name: "amd-v1", format: "amd-v1", config: { ias: 48, oas: 52 } },
  { name: "intel-vtd-ss", format: "intel-vtd-ss", config: { ias: 48, oas: 48 } },
  { name: "intel-vtd-fs", format: "intel-vtd-fs", config: { ias: 48, oas: 48 } },
];

function tableOf(setup: Setup): PageTable {
  const memory = createPhysMemory();
  return createPageTable(setup.format, {
    memory,
    allocator: createPageAllocator(memory),
    ias: 32,
    oas: 32,
    ...setup.config,
  } as PageTableConfig);
}

/** Page sizes of `pt`, ascending. */
function sizesOf(pt: PageTable): number[] {
  const out: number[] = [];
  for (let b = 0; b < 53; b++) if ((pt.geometry.pgsizeBitmap >> BigInt(b)) & 1n) out.push(2 ** b);
  return out;
}

/** Same answers as `translate`, address by address: outputs, perms and the fault count. */
function expectSameAsTranslate(pt: PageTable, iovas: Float64Array): void {
  const outputs = new Float64Array(iovas.length);
  const perms = new Uint8Array(iovas.length);
  const faults = pt.walker.translateMany(pt.rootAddress, iovas, outputs, perms);
  const outputsOnly = new Float64Array(iovas.length);
  expect(pt.walker.translateMany(pt.rootAddress, iovas, outputsOnly)).toBe(faults);
  const out = createWalkOut();
  let expectedFaults = 0;
  for (let i = 0; i < iovas.length; i++) {
    pt.walker.translate(pt.rootAddress, iovas[i]!, out);
    const ok = out.fault === 0;
    if (!ok) expectedFaults++;
    const want = ok ? out.outputAddress : -1;
    if (outputs[i] !== want || outputsOnly[i] !== want || perms[i] !== (ok ? out.perm : 0)) {
      throw new Error(
        `iova ${iovas[i]!.toString(16)}: translateMany gave ${outputs[i]} perm ${perms[i]}, translate ${want} perm ${out.perm}`,
      );
    }
  }
  expect(faults).toBe(expectedFaults);
}

describe("translateMany answers as translate does", () => {
  for (const setup of SETUPS) {
    it(`${setup.name}: random mappings, probes in, around and outside them`, () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              slot: fc.nat({ max: 63 }),
              size: fc.nat({ max: 7 }),
              count: fc.integer({ min: 1, max: 3 }),
              ro: fc.boolean(),
            }),
            { maxLength: 12 },
          ),
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }),
          (maps, fractions) => {
            const pt = tableOf(setup);
            const sizes = sizesOf(pt).filter((s) => s <= G);
            const limit = 2 ** pt.geometry.ias;
            // Regions spread over the input range (the top included) so the upper levels differ.
            const region = Math.max(sizes[sizes.length - 1]!, 2 ** Math.min(pt.geometry.ias - 6, 40));
            const mapped: number[] = [];
            for (const m of maps) {
              const size = sizes[m.size % sizes.length]!;
              const base = Math.min(m.slot * region, limit - region);
              const pa = (m.slot + 1) * region + m.count * size;
              try {
                pt.map(
                  base,
                  pa % 2 ** Math.min(pt.geometry.oas, 48),
                  size,
                  m.count,
                  IOMMU_READ | (m.ro ? 0 : IOMMU_WRITE),
                );
                mapped.push(base, base + m.count * size - 1);
              } catch {
                // overlapping or misaligned draws are refused; the probes still cover them
              }
            }
            const probes: number[] = [-4096, limit, limit + 4096, limit - 8, 0];
            for (const a of mapped) probes.push(a, a + 8, a - 4096);
            for (const x of fractions) probes.push(Math.floor(Math.abs(x) * limit));
            expectSameAsTranslate(pt, Float64Array.from(probes.filter((p) => Number.isSafeInteger(p))));
            pt.free();
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it("walks a large random trace over several 1 GiB regions with 4 KiB, 2 MiB and 1 GiB leaves", () => {
    const pt = tableOf(SETUPS[0]!);
    pt.map(0x1_0000_0000, 0x8_0000_0000, 4096, 4096, IOMMU_READ | IOMMU_WRITE);
    pt.map(0x2_0000_0000, 0x9_0000_0000, 2 ** 21, 64, IOMMU_READ);
    pt.map(0x3_0000_0000, 0xa_0000_0000, G, 1, IOMMU_READ | IOMMU_WRITE);
    const iovas = new Float64Array(20000);
    let s = 12345;
    for (let i = 0; i < iovas.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const region = 1 + (s % 4); // regions 1..3 mapped, 4 not
      iovas[i] = region * 2 ** 32 + ((s >>> 3) % 2 ** 27) * 8;
    }
    expectSameAsTranslate(pt, iovas);
  });

  it("refuses arrays of the wrong type or length (EINVAL) and answers an empty batch with 0", () => {
    const pt = tableOf(SETUPS[0]!);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return undefined;
    };
    const w = pt.walker;
    expect(code(() => w.translateMany(pt.rootAddress, new Float64Array(4), new Float64Array(3)))).toBe(
      "EINVAL",
    );
    expect(
      code(() => w.translateMany(pt.rootAddress, [1, 2] as unknown as Float64Array, new Float64Array(2))),
    ).toBe("EINVAL");
    expect(
      code(() =>
        w.translateMany(pt.rootAddress, new Float64Array(2), new Float64Array(2), new Uint8Array(1)),
      ),
    ).toBe("EINVAL");
    expect(w.translateMany(pt.rootAddress, new Float64Array(0), new Float64Array(0))).toBe(0);
  });
});

/** Engine specs of each radix format, for the codec-level soundness checks. */
const SPECS: [string, () => RadixTableSpec][] = [
  ["arm-lpae-s1 4K", () => lpaeTableSpec(1, { ias: 48, oas: 48, granule: 4096 })],
  ["arm-lpae-s1 4K oas 40", () => lpaeTableSpec(1, { ias: 48, oas: 40, granule: 4096 })],
  ["arm-lpae-s1 16K", () => lpaeTableSpec(1, { ias: 48, oas: 48, granule: 16384 })],
  ["arm-lpae-s1 64K 52-bit", () => lpaeTableSpec(1, { ias: 52, oas: 52, granule: 65536 })],
  ["arm-lpae-s2 4K", () => lpaeTableSpec(2, { ias: 40, oas: 44, granule: 4096 })],
  ["amd-v1", () => amdV1Spec({ ias: 48, oas: 52 })],
  ["intel-vtd-ss", () => vtdSsSpec({ ias: 48, oas: 48 })],
  ["intel-vtd-fs", () => vtdFsSpec({ ias: 48, oas: 48 })],
];

describe("fastTest masks accept only what the codec's methods accept", () => {
  for (const [name, specOf] of SPECS) {
    const spec = specOf();
    const codec = spec.codec;
    it(`${name}: every level, descriptors built to match`, () => {
      const n = spec.levels.length;
      fc.assert(
        fc.property(
          fc.nat({ max: n - 1 }),
          fc.boolean(),
          fc.integer({ min: 0, max: 0xffff_ffff }),
          fc.integer({ min: 0, max: 0xffff_ffff }),
          (d, wantTable, rlo, rhi) => {
            const level = spec.levels[d]!.level;
            const last = d === n - 1;
            const t = codec.fastTest!(level, last);
            const [m, v, h] = wantTable
              ? [t.tableLoMask, t.tableLoValue, t.tableHiMask]
              : [t.leafLoMask, t.leafLoValue, t.leafHiMask];
            if ((v & ~m) !== 0) return; // a "never" test: nothing matches
            if (wantTable && last) return; // the engine never follows a table at the last depth
            const lo = ((rlo & ~m) | v) >>> 0;
            const hi = (rhi & ~h) >>> 0;
            expect(codec.isPresent(lo, hi, level)).toBe(true);
            expect(codec.walkFault(lo, hi, level, last)).toBe(0);
            if (wantTable) {
              expect(codec.isTable(lo, hi, level)).toBe(true);
              expect(codec.tableAddress(lo, hi, level)).toBe((lo & t.tableAddressMask) >>> 0);
            } else {
              expect(last || !codec.isTable(lo, hi, level)).toBe(true);
              expect(codec.leafSize(lo, hi, level)).toBe(2 ** spec.levels[d]!.shift);
              expect(codec.leafAddress(lo, hi, level)).toBe(
                ((hi & t.outHiMask) >>> 0) * 2 ** 32 + ((lo & t.outLoMask) >>> 0),
              );
            }
          },
        ),
        { numRuns: 4000 },
      );
    });
  }
});
