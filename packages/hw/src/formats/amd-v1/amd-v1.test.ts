import { describe, expect, it } from "vitest";
import { getFormat } from "../../page-table/registry.js";
import { IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import { errno, genericPtSuite, makeTable, SZ_1G, SZ_2M, SZ_4K } from "../test-generic-pt.js";
import { amdV1Mode } from "./index.js";

const amd = {
  format: "amd-v1" as const,
  config: { ias: 48, oas: 52 },
  expectedPerm: (prot: number) => (prot & IOMMU_READ) | (prot & IOMMU_WRITE) | IOMMU_CACHE,
  badSize: 2 ** 39,
};

const ADDR = 0xf_ffff_ffff_f000n;
const read = (t: ReturnType<typeof makeTable>, pa: bigint | number) => t.memory.readU64(Number(pa));
const next = (d: bigint) => d & ADDR;

describe("amd-v1 test vectors (hw-facts 3.1, mode 3)", () => {
  const t = makeTable({ ...amd, config: { ias: 39, oas: 52 } });
  it("is a mode-3 table", () => {
    expect(amdV1Mode(t.table.geometry)).toBe(3);
    expect(t.table.geometry).toMatchObject({ levels: 3, startLevel: 2, leafLevel: 0 });
  });
  it("4K RW at 0x1000 -> 0x12345000: PDEs NL=2 / NL=1 with IR|IW, leaf 0x7000000012345001", () => {
    t.table.mapPages(0x1000, 0x1234_5000, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE);
    const top = read(t, t.table.rootAddress);
    expect(top & ~ADDR).toBe(0x6000_0000_0000_0401n);
    const l1 = read(t, next(top));
    expect(l1 & ~ADDR).toBe(0x6000_0000_0000_0201n);
    expect(read(t, next(l1) + 8n)).toBe(0x7000_0000_1234_5001n);
  });
  it("2M R-only at 0x40000000 -> 0x80000000: top index 1, leaf 0x3000000080000001", () => {
    t.table.mapPages(0x4000_0000, 0x8000_0000, SZ_2M, 1, IOMMU_READ);
    const top1 = read(t, t.table.rootAddress + 8);
    expect(top1 & ~ADDR).toBe(0x6000_0000_0000_0401n);
    expect(read(t, next(top1))).toBe(0x3000_0000_8000_0001n);
  });
  it("64K RW at pa 0x20000000: 16 entries of 0x7000000020007E01; 32K: 8 of 0x7000000020003E01", () => {
    t.table.mapPages(0x8000_0000, 0x2000_0000, 0x1_0000, 1, IOMMU_READ | IOMMU_WRITE);
    t.table.mapPages(0x8010_0000, 0x2000_0000, 0x8000, 1, IOMMU_READ | IOMMU_WRITE);
    const l1 = read(t, next(read(t, t.table.rootAddress + 16)));
    const l0 = next(l1);
    for (let i = 0; i < 16; i++) expect(read(t, l0 + BigInt(i * 8))).toBe(0x7000_0000_2000_7e01n);
    expect(read(t, l0 + 16n * 8n)).toBe(0n);
    for (let i = 0; i < 8; i++) expect(read(t, l0 + BigInt(256 * 8 + i * 8))).toBe(0x7000_0000_2000_3e01n);
    expect(read(t, l0 + BigInt(256 * 8 + 64))).toBe(0n);
    expect(t.table.iovaToPhys(0x8000_fffe)).toBe(0x2000_fffen);
    expect(t.table.walk(0x8010_7fff).pageSize).toBe(0x8000n);
  });
});

/** Leaf bits from the AMD spec: PR, NextLevel [11:9], size ones from bit 12, FC 60, IR 61, IW 62. */
function expectedLeaf(pa: number, size: number, prot: number, fc: boolean): bigint {
  const lg = Math.log2(size);
  const natural = (lg - 12) % 9 === 0;
  let d = BigInt(pa) | 1n | (natural ? 0n : 7n << 9n);
  if (!natural) d |= ((1n << BigInt(lg - 1)) - 1n) & ~0xfffn;
  if (fc) d |= 1n << 60n;
  if (prot & IOMMU_READ) d |= 1n << 61n;
  if (prot & IOMMU_WRITE) d |= 1n << 62n;
  return d;
}

describe("amd-v1 leaves for every size class and prot", () => {
  const cases: [number, number][] = [
    [SZ_4K, 0],
    [0x2000, 0],
    [0x10_0000, 0],
    [SZ_2M, 1],
    [0x40_0000, 1],
    [0x1000_0000, 1],
    [SZ_1G, 2],
    [2 ** 31, 2],
    [2 ** 38, 2],
    [2 ** 40, 3],
  ];
  for (const fc of [true, false]) {
    it(`places each size at its level with the spec encoding (forceCoherent=${fc})`, () => {
      for (const prot of [IOMMU_READ, IOMMU_WRITE, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC]) {
        const t = makeTable(amd, { forceCoherent: fc });
        for (const [size, level] of cases) {
          const iova = size * 4;
          const pa = size * 2;
          t.table.mapPages(iova, pa, size, 1, prot);
          const trace = t.table.walk(iova + size - 1);
          const last = trace.steps.at(-1)!;
          expect(last.level).toBe(level);
          expect(last.descriptor).toBe(expectedLeaf(pa, size, prot, fc));
          expect(trace.outputAddress).toBe(BigInt(pa + size - 1));
          const entry = 2 ** (12 + 9 * level);
          // Replicated over size / entry consecutive entries, all identical.
          for (let i = 0; i < size / entry; i++)
            expect(
              t.memory.readU64(
                Number(last.tableAddress) + (last.index - (last.index % (size / entry)) + i) * 8,
              ),
            ).toBe(last.descriptor);
          expect(last.decoded.fields).toMatchObject({
            PR: true,
            FC: fc,
            IR: (prot & IOMMU_READ) !== 0,
            IW: (prot & IOMMU_WRITE) !== 0,
          });
        }
      }
    });
  }
  it("decodes NextLevel=7 sizes and round-trips fields by name", () => {
    const f = getFormat("amd-v1");
    const d = f.decode(0x7000_0000_2000_7e01n, { level: 0 });
    expect(d).toMatchObject({ type: "page", pageSize: 0x1_0000n, outputAddress: 0x2000_0000n });
    expect(d.fields).toMatchObject({ NextLevel: 7, FC: true, IR: true, IW: true, Address: 0x2000_7000n });
    expect(f.encode(d, { level: 0 })).toBe(0x7000_0000_2000_7e01n);
    expect(f.decode(0x6000_0000_4000_0401n, { level: 2 })).toMatchObject({
      type: "table",
      nextTable: 0x4000_0000n,
    });
    expect(f.decode(0x6000_0000_4000_0401n, { level: 1 }).type).toBe("reserved");
  });
});

describe("amd-v1 geometry", () => {
  it("chooses the smallest mode covering ias and drops 512G", () => {
    const f = getFormat("amd-v1");
    const modes = [21, 30, 39, 48, 57, 64].map((ias) => f.geometry({ ias, oas: 52 }).levels);
    expect(modes).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.geometry({ ias: 40, oas: 52 }).levels).toBe(4);
    const g = f.geometry({ ias: 64, oas: 52 });
    expect(g.pgsizeBitmap).toBe(((1n << 52n) - (1n << 12n)) ^ (1n << 39n));
    expect(f.geometry({ ias: 39, oas: 52 }).pgsizeBitmap).toBe((1n << 39n) - (1n << 12n));
    expect(f.geometry({ ias: 21, oas: 52 }).pgsizeBitmap).toBe((1n << 21n) - (1n << 12n));
    expect(errno(() => f.geometry({ ias: 65, oas: 52 }))).toBe("EINVAL");
    expect(errno(() => f.geometry({ ias: 48, oas: 53 }))).toBe("EINVAL");
    const t = makeTable(amd, { ias: 39 });
    expect(errno(() => t.table.mapPages(0, 0, SZ_4K, 1, IOMMU_READ))).toBeUndefined();
    expect(errno(() => t.table.mapPages(0, 0, 2 ** 40, 1, IOMMU_READ))).toBe("EINVAL");
  });
});

genericPtSuite(amd);
