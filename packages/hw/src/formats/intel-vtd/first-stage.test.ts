import { describe, expect, it } from "vitest";
import { getFormat } from "../../page-table/registry.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import { errno, genericPtSuite, makeTable, SZ_1G, SZ_2M, SZ_4K } from "../test-generic-pt.js";

const fs = {
  format: "intel-vtd-fs" as const,
  config: { ias: 48, oas: 48 },
  // P grants read; RW write; U set (never PRIV); no XD; write-back memory.
  expectedPerm: (prot: number) => IOMMU_READ | (prot & IOMMU_WRITE) | IOMMU_CACHE,
  badSize: 0x1_0000,
};
const ADDR = 0xf_ffff_ffff_f000n;

describe("intel-vtd-fs test vectors (hw-facts 3.3)", () => {
  it("4K RW -> pa | 0x67, 4K RO -> pa | 0x25, 2M RW -> pa | 0xE7, tables 0x27", () => {
    const t = makeTable(fs);
    t.table.mapPages(0, 0x1234_5000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE);
    t.table.mapPages(SZ_4K, 0x1234_6000, SZ_4K, 1, IOMMU_READ);
    t.table.mapPages(SZ_2M, 0x4000_0000, SZ_2M, 1, IOMMU_READ | IOMMU_WRITE);
    const steps = t.table.walk(0).steps;
    expect(steps).toHaveLength(4);
    for (const s of steps.slice(0, -1)) expect(s.descriptor & ~ADDR).toBe(0x27n);
    expect(steps.at(-1)!.descriptor).toBe(0x1234_5067n);
    expect(t.table.walk(SZ_4K).steps.at(-1)!.descriptor).toBe(0x1234_6025n);
    expect(t.table.walk(SZ_2M).steps.at(-1)!.descriptor).toBe(0x4000_00e7n);
  });
});

/** From the SDM / VT-d spec: P 0, RW 1, U 2, A 5, D 6, PS 7; no XD from Linux. */
function expectedLeaf(pa: number, level: number, prot: number): bigint {
  let d = BigInt(pa) | 0x1n | 0x4n | 0x20n;
  if (prot & IOMMU_WRITE) d |= 0x2n | 0x40n;
  if (level > 0) d |= 0x80n;
  return d;
}

describe("intel-vtd-fs leaves for every size and prot", () => {
  it("matches the spec layout", () => {
    const t = makeTable(fs);
    let k = 1;
    for (let prot = 1; prot < 64; prot++) {
      if (!(prot & (IOMMU_READ | IOMMU_WRITE))) continue;
      for (const [size, level] of [
        [SZ_4K, 0],
        [SZ_2M, 1],
        [SZ_1G, 2],
      ] as const) {
        const iova = k++ * SZ_1G;
        const pa = 0x40_0000_0000 + size * 5;
        t.table.mapPages(iova, pa, size, 1, prot);
        const trace = t.table.walk(iova + size - 1);
        expect(trace.steps.at(-1)!.descriptor).toBe(expectedLeaf(pa, level, prot));
        expect(trace.outputAddress).toBe(BigInt(pa + size - 1));
        expect(trace.prot).toBe(fs.expectedPerm(prot));
      }
    }
  });
  it("names the fields and reads XD / U/S / PCD in the hardware view", () => {
    const f = getFormat("intel-vtd-fs");
    const d = f.decode(0x8000_0000_4000_00a3n, { level: 1 });
    expect(d).toMatchObject({ type: "block", outputAddress: 0x4000_0000n, pageSize: BigInt(SZ_2M) });
    expect(d.fields).toMatchObject({ P: true, RW: true, US: false, A: true, PS: true, XD: true });
    expect(d.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_PRIV | IOMMU_NOEXEC | IOMMU_CACHE);
    expect(f.decode(0x4000_0011n, { level: 0 }).prot).toBe(IOMMU_READ | IOMMU_PRIV | IOMMU_MMIO);
    expect(f.decode(0x4000_0083n, { level: 3 }).type).toBe("reserved");
    expect(f.encode(d, { level: 1 })).toBe(0x8000_0000_4000_00a3n);
  });
});

describe("intel-vtd-fs geometry", () => {
  it("4 levels up to 48 bits, 5 up to 57; only the lower canonical half", () => {
    const f = getFormat("intel-vtd-fs");
    expect(f.geometry({ ias: 48, oas: 48 })).toMatchObject({ levels: 4, startLevel: 3, ias: 47 });
    expect(f.geometry({ ias: 57, oas: 52 })).toMatchObject({ levels: 5, startLevel: 4, ias: 56 });
    expect(f.geometry({ ias: 48, oas: 48, pgsizeBitmap: SZ_4K + SZ_2M }).pgsizeBitmapNumber).toBe(
      SZ_4K + SZ_2M,
    );
    expect(errno(() => f.geometry({ ias: 39, oas: 48 }))).toBe("EINVAL");
    const t = makeTable(fs, { ias: 57, oas: 52 });
    t.table.mapPages(2 ** 52, 2 ** 40, SZ_1G, 1, IOMMU_READ);
    expect(t.table.walk(2 ** 52).steps.map((s) => s.level)).toEqual([4, 3, 2]);
    expect(t.table.iovaToPhys(2 ** 52 + 5)).toBe(BigInt(2 ** 40 + 5));
  });
});

genericPtSuite(fs);
