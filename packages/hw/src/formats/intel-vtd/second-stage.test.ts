import { describe, expect, it } from "vitest";
import { getFormat } from "../../page-table/registry.js";
import { createWalkOut, WalkFault } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import { errno, genericPtSuite, makeTable, SZ_1G, SZ_2M, SZ_4K } from "../test-generic-pt.js";
import { vtdSsAgaw } from "./second-stage.js";

const ss = {
  format: "intel-vtd-ss" as const,
  config: { ias: 48, oas: 48 },
  expectedPerm: (prot: number) => prot & (IOMMU_READ | IOMMU_WRITE),
  badSize: 0x2000,
};
const ADDR = 0xf_ffff_ffff_f000n;

describe("intel-vtd-ss test vectors (hw-facts 3.2)", () => {
  it("4K RW -> 0x12345003, 2M RW -> 0x40000083, 1G RO -> 0x80000081, tables next | 0x3", () => {
    const t = makeTable(ss);
    t.table.mapPages(0, 0x1234_5000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE);
    t.table.mapPages(SZ_1G, 0x4000_0000, SZ_2M, 1, IOMMU_READ | IOMMU_WRITE);
    t.table.mapPages(2 * SZ_1G, 0x8000_0000, SZ_1G, 1, IOMMU_READ);
    const steps = t.table.walk(0).steps;
    expect(steps.at(-1)!.descriptor).toBe(0x0000_0000_1234_5003n);
    for (const s of steps.slice(0, -1)) expect(s.descriptor & ~ADDR).toBe(0x3n);
    expect(t.table.walk(SZ_1G).steps.at(-1)!.descriptor).toBe(0x0000_0000_4000_0083n);
    expect(t.table.walk(2 * SZ_1G).steps.at(-1)!.descriptor).toBe(0x0000_0000_8000_0081n);
  });
  it("force snoop: 4K RW|CACHE -> 0x12345803; without CACHE no SNP", () => {
    const t = makeTable(ss, { forceSnoop: true });
    t.table.mapPages(0, 0x1234_5000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    t.table.mapPages(SZ_4K, 0x1234_5000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE);
    expect(t.table.walk(0).steps.at(-1)!.descriptor).toBe(0x0000_0000_1234_5803n);
    expect(t.table.walk(0).prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    expect(t.table.walk(SZ_4K).steps.at(-1)!.descriptor).toBe(0x0000_0000_1234_5003n);
  });
});

/** From the VT-d spec: R bit 0, W bit 1, PS bit 7 above level 0, SNP bit 11, address 51:12. */
function expectedLeaf(pa: number, level: number, prot: number, snoop: boolean): bigint {
  let d = BigInt(pa);
  if (prot & IOMMU_READ) d |= 1n;
  if (prot & IOMMU_WRITE) d |= 2n;
  if (level > 0) d |= 0x80n;
  if (snoop && prot & IOMMU_CACHE) d |= 0x800n;
  return d;
}

describe("intel-vtd-ss leaves for every size and prot", () => {
  for (const snoop of [false, true]) {
    it(`matches the spec layout (forceSnoop=${snoop})`, () => {
      const t = makeTable(ss, { forceSnoop: snoop });
      let k = 1;
      for (let prot = 1; prot < 64; prot++) {
        if (!(prot & (IOMMU_READ | IOMMU_WRITE))) continue;
        for (const [size, level] of [
          [SZ_4K, 0],
          [SZ_2M, 1],
          [SZ_1G, 2],
        ] as const) {
          const iova = k++ * SZ_1G;
          const pa = 0x40_0000_0000 + size * 3;
          t.table.mapPages(iova, pa, size, 1, prot);
          const trace = t.table.walk(iova + size - 1);
          expect(trace.steps.at(-1)!.descriptor).toBe(expectedLeaf(pa, level, prot, snoop));
          expect(trace.level).toBe(level);
          expect(trace.outputAddress).toBe(BigInt(pa + size - 1));
          expect(trace.prot).toBe((prot & 3) | (snoop && prot & IOMMU_CACHE ? IOMMU_CACHE : 0));
        }
      }
    });
  }
  it("names the fields", () => {
    const d = getFormat("intel-vtd-ss").decode(0x4000_0883n, { level: 1 });
    expect(d).toMatchObject({ type: "block", pageSize: BigInt(SZ_2M), outputAddress: 0x4000_0000n });
    expect(d.fields).toMatchObject({ R: true, W: true, PS: true, SNP: true, Address: 0x4000_0000n });
    expect(getFormat("intel-vtd-ss").decode(0x1000n, { level: 0 }).type).toBe("invalid");
    expect(getFormat("intel-vtd-ss").decode(0x4000_0083n, { level: 3 }).type).toBe("reserved");
  });
  it("ignores prot bits it has no field for", () => {
    const t = makeTable(ss);
    t.table.mapPages(0, 0, SZ_4K, 1, IOMMU_READ | IOMMU_NOEXEC | IOMMU_MMIO | IOMMU_PRIV);
    expect(t.table.walk(0).steps.at(-1)!.descriptor).toBe(1n);
  });
});

describe("intel-vtd-ss geometry", () => {
  it("3/4/5 levels for 39/48/57 bits (agaw 1/2/3) and superpages from the bitmap", () => {
    const f = getFormat("intel-vtd-ss");
    for (const [ias, levels] of [
      [39, 3],
      [40, 4],
      [48, 4],
      [57, 5],
    ] as const) {
      const g = f.geometry({ ias, oas: 48 });
      expect(g).toMatchObject({ levels, startLevel: levels - 1, leafLevel: 0 });
      expect(vtdSsAgaw(g)).toBe(levels - 2);
    }
    expect(f.geometry({ ias: 48, oas: 48 }).pgsizeBitmapNumber).toBe(SZ_4K + SZ_2M + SZ_1G);
    expect(errno(() => f.geometry({ ias: 58, oas: 48 }))).toBe("EINVAL");
    expect(errno(() => f.geometry({ ias: 30, oas: 48 }))).toBe("EINVAL");
    const t = makeTable(ss, { pgsizeBitmap: SZ_4K + SZ_2M });
    expect(errno(() => t.table.mapPages(0, 0, SZ_1G, 1, IOMMU_READ))).toBe("EINVAL");
    // Hardware without 1G pages faults on a PS entry at level 2.
    const top = t.table.rootAddress;
    t.table.mapPages(SZ_1G * 512, 0, SZ_4K, 1, IOMMU_READ);
    const pdpt = Number(t.memory.readU64(top + 8) & ADDR);
    t.memory.writeU64(pdpt + 8, 0x8000_0081n);
    const w = createWalkOut();
    t.table.walker.translate(top, SZ_1G * 513, w);
    expect(w).toMatchObject({ fault: WalkFault.TRANSLATION, level: 2 });
  });
});

genericPtSuite(ss);
