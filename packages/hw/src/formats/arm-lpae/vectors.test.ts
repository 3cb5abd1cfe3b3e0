import { describe, expect, it } from "vitest";
import { createPhysMemory } from "../../memory/phys-memory.js";
import { createPageTable, decodeDescriptor, encodeDescriptor, getFormat } from "../../page-table/registry.js";
import type { FormatName, PageTable, PageTableConfig, WalkTrace } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";

const RWXC = IOMMU_READ | IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_CACHE;
const K = 1024;
const M = 1024 * K;
const G = 1024 * M;

function table(format: FormatName, config: Partial<Omit<PageTableConfig, "memory">> = {}): PageTable {
  return createPageTable(format, { memory: createPhysMemory(), ias: 48, oas: 48, granule: 4096, ...config });
}

/** The leaf descriptor for `iova`, read back through the walker and straight from memory. */
function leafOf(pt: PageTable, iova: number): { trace: WalkTrace; leaf: bigint } {
  const trace = pt.walk(iova);
  const last = trace.steps.at(-1)!;
  expect(pt.memory.readU64(last.descriptorAddress)).toBe(last.descriptor);
  return { trace, leaf: last.descriptor };
}

/** Checks the walk visits tables `T(x)` at the given levels/indices, then the leaf, and returns it. */
function expectPath(pt: PageTable, iova: number, path: [level: number, index: number][], leaf: bigint): void {
  const { trace } = leafOf(pt, iova);
  expect(trace.steps.map((s) => [s.level, s.index])).toEqual(path);
  trace.steps.forEach((step, i) => {
    const next = trace.steps[i + 1];
    if (next) {
      // T(x) = next_table_pa | 0x3
      expect(step.descriptor).toBe(next.tableAddress | 3n);
      expect(step.decoded.type).toBe("table");
    }
  });
  expect(trace.steps.at(-1)!.descriptor).toBe(leaf);
  expect(trace.fault).toBeUndefined();
}

describe("hw-facts 1.11 vectors A1-A15", () => {
  it("A1: S1 4K ias48 4K page R/W/NOEXEC/CACHE", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0, 0, 4096, 1, RWXC);
    expectPath(
      pt,
      0,
      [
        [0, 0],
        [1, 0],
        [2, 0],
        [3, 0],
      ],
      0x0060000000000f47n,
    );
  });
  it("A2: S1 4K 2M block at 1 GiB", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0x40000000, 0x40000000, 2 * M, 1, RWXC);
    expectPath(
      pt,
      0x40000000,
      [
        [0, 0],
        [1, 1],
        [2, 0],
      ],
      0x0060000040000f45n,
    );
  });
  it("A3: S1 4K 1G block at 2 GiB", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0x80000000, 0x80000000, G, 1, RWXC);
    expectPath(
      pt,
      0x80000000,
      [
        [0, 0],
        [1, 2],
      ],
      0x0060000080000f45n,
    );
  });
  it("A4/A5: S1 WRITE only gives SH_OS, AttrIndx 0, no XN", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0, 0, 4096, 1, IOMMU_WRITE);
    expect(leafOf(pt, 0).leaf).toBe(0x0000000000000e43n);
    pt.map(0x40000000, 0x40000000, 2 * M, 1, IOMMU_WRITE);
    expect(leafOf(pt, 0x40000000).leaf).toBe(0x0000000040000e41n);
  });
  it("A6: S1 read-only cached page with its indices", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0x12345000, 0x87654000, 4096, 1, IOMMU_READ | IOMMU_CACHE);
    expectPath(
      pt,
      0x12345000,
      [
        [0, 0],
        [1, 0],
        [2, 0x91],
        [3, 0x145],
      ],
      0x0000000087654fc7n,
    );
  });
  it("A7: S1 MMIO", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0, 0x09000000, 4096, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO);
    expect(leafOf(pt, 0).leaf).toBe(0x0000000009000e4bn);
  });
  it("A8: S1 privileged cached", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0x5000, 0x1234000, 4096, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_PRIV);
    expect(leafOf(pt, 0x5000).leaf).toBe(0x1234000n | 0xf07n);
  });
  it("A9/A10/A11: S2 page, block, write-only", () => {
    const pt = table("arm-lpae-s2");
    pt.map(0, 0, 4096, 1, RWXC);
    expect(leafOf(pt, 0).leaf).toBe(0x00600000000007ffn);
    pt.map(0x40000000, 0x40000000, 2 * M, 1, RWXC);
    expect(leafOf(pt, 0x40000000).leaf).toBe(0x00600000400007fdn);
    const pt2 = table("arm-lpae-s2");
    pt2.map(0, 0, 4096, 1, IOMMU_WRITE);
    expect(leafOf(pt2, 0).leaf).toBe(0x0000000000000697n);
  });
  it("A12: S2 4K ias=oas=40 concatenated pgd, L1[1023]", () => {
    const pt = table("arm-lpae-s2", { ias: 40, oas: 40 });
    expect(pt.geometry.startLevel).toBe(1);
    expect(pt.geometry.concatenatedTables).toBe(2);
    pt.map(0xffc0000000, 0xffc0000000, G, 1, RWXC);
    const { trace } = leafOf(pt, 0xffc0000000);
    expect(trace.steps.map((s) => [s.level, s.index])).toEqual([[1, 1023]]);
    expect(trace.steps[0]!.descriptor).toBe(0x006000ffc00007fdn);
    // Entry 1023 lives in the second concatenated 4 KiB page.
    expect(trace.steps[0]!.descriptorAddress).toBe(pt.root + 1023n * 8n);
  });
  it("A13: S1 16K ias48 32M block", () => {
    const pt = table("arm-lpae-s1", { granule: 16 * K });
    pt.map(0x40000000, 0x40000000, 32 * M, 1, RWXC);
    expectPath(
      pt,
      0x40000000,
      [
        [0, 0],
        [1, 0],
        [2, 32],
      ],
      0x0060000040000f45n,
    );
  });
  it("A14: S1 64K oas52 packs PA[51:48] into bits 15:12", () => {
    const pt = table("arm-lpae-s1", { granule: 64 * K, ias: 48, oas: 52 });
    pt.map(0, 0x000f000000010000, 64 * K, 1, RWXC);
    const { trace, leaf } = leafOf(pt, 0);
    expect(leaf).toBe(0x006000000001ff47n);
    expect(trace.outputAddress).toBe(0x000f000000010000n);
    expect(pt.iovaToPhys(0x1234)).toBe(0x000f000000011234n);
    expect(trace.steps.at(-1)!.decoded.outputAddress).toBe(0x000f000000010000n);
  });
  it("A15: S1 64K ias48 512M block, start level 1", () => {
    const pt = table("arm-lpae-s1", { granule: 64 * K });
    expect(pt.geometry.startLevel).toBe(1);
    pt.map(0x20000000, 0x20000000, 512 * M, 1, RWXC);
    expectPath(
      pt,
      0x20000000,
      [
        [1, 0],
        [2, 1],
      ],
      0x0060000020000f45n,
    );
  });
});

// ---- expected leaf bits computed from the spec tables of hw-facts 1.2/1.3, not from the encoder ----

function expectedLeaf(
  stage: 1 | 2,
  pa: bigint,
  prot: number,
  level: number,
  q: { ns?: boolean; fwb?: boolean; hd?: boolean } = {},
) {
  let d = pa;
  const R = (prot & 1) !== 0;
  const W = (prot & 2) !== 0;
  const C = (prot & 4) !== 0;
  const X = (prot & 8) !== 0;
  const MM = (prot & 16) !== 0;
  const P = (prot & 32) !== 0;
  if (stage === 1) {
    d |= 1n << 11n; // nG
    if (R && !W)
      d |= 1n << 7n; // AP[2] read-only
    else if (q.hd) d |= 1n << 51n; // DBM
    if (!P) d |= 1n << 6n; // AP[1] EL0
    d |= BigInt(MM ? 2 : C ? 1 : 0) << 2n; // AttrIndx
  } else {
    if (R) d |= 1n << 6n;
    if (W) d |= 1n << 7n;
    d |= BigInt(MM ? 0x1 : C ? (q.fwb ? 0x6 : 0xf) : 0x5) << 2n; // MemAttr
  }
  d |= BigInt(C ? 3 : 2) << 8n; // SH
  if (X) d |= 3n << 53n;
  if (q.ns) d |= 1n << 5n;
  d |= 1n << 10n; // AF
  d |= level === 3 ? 3n : 1n;
  return d;
}

const GRANULE_SIZES: Record<number, [size: number, level: number][]> = {
  4096: [
    [4 * K, 3],
    [2 * M, 2],
    [G, 1],
  ],
  16384: [
    [16 * K, 3],
    [32 * M, 2],
  ],
  65536: [
    [64 * K, 3],
    [512 * M, 2],
    [4 * 1024 * G, 1],
  ],
};

describe("every page size x every prot combination", () => {
  for (const stage of [1, 2] as const) {
    for (const granule of [4096, 16384, 65536]) {
      it(`S${stage} granule ${granule / K}K`, () => {
        const oas = granule === 65536 ? 52 : 48;
        const ias = oas;
        const format: FormatName = stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2";
        for (const [size, level] of GRANULE_SIZES[granule]!) {
          const pt = table(format, { granule, ias, oas });
          let slot = 0;
          for (let prot = 0; prot < 64; prot++) {
            const iova = slot * size;
            const pa = 2 ** (oas - 1) + slot * size; // exercise high PA bits too
            if (!(prot & 3)) {
              expect(() => pt.mapPages(iova, pa, size, 1, prot)).toThrow(
                expect.objectContaining({ code: "EINVAL" }),
              );
              continue;
            }
            pt.mapPages(iova, pa, size, 1, prot);
            const { trace, leaf } = leafOf(pt, iova);
            const packed =
              granule === 65536 ? (BigInt(pa) | (BigInt(pa) >> 36n)) & 0x0000_ffff_ffff_f000n : BigInt(pa);
            expect(leaf, `prot ${prot}`).toBe(expectedLeaf(stage, packed, prot, level));
            expect(trace.level).toBe(level);
            expect(trace.outputAddress).toBe(BigInt(pa));
            expect(trace.pageSize).toBe(BigInt(size));
            expect(pt.iovaToPhys(iova + 8)).toBe(BigInt(pa + 8));
            slot++;
          }
          pt.free();
          expect(pt.allocator.pagesInUse).toBe(0);
        }
      });
    }
  }

  it("quirks: ARM_NS (S1 leaves NS, tables NSTable), ARM_HD (DBM on writable), S2FWB", () => {
    const ns = table("arm-lpae-s1", { quirks: { armNs: true } });
    ns.map(0x1000, 0x2000, 4096, 1, RWXC);
    const t = ns.walk(0x1000);
    expect(t.steps.at(-1)!.descriptor).toBe(expectedLeaf(1, 0x2000n, RWXC, 3, { ns: true }));
    for (const s of t.steps.slice(0, -1)) expect(s.descriptor >> 63n).toBe(1n);
    expect(t.steps[0]!.decoded.fields.NSTable).toBe(true);
    const hd = table("arm-lpae-s1", { quirks: { armHd: true } });
    hd.map(0, 0, 4096, 1, IOMMU_READ | IOMMU_WRITE);
    hd.map(4096, 4096, 4096, 1, IOMMU_READ);
    expect(leafOf(hd, 0).leaf).toBe(expectedLeaf(1, 0n, 3, 3, { hd: true }));
    expect(leafOf(hd, 4096).leaf & (1n << 51n)).toBe(0n);
    const fwb = table("arm-lpae-s2", { quirks: { armS2Fwb: true } });
    fwb.map(0, 0, 4096, 1, IOMMU_READ | IOMMU_CACHE);
    expect(leafOf(fwb, 0).leaf).toBe(expectedLeaf(2, 0n, IOMMU_READ | IOMMU_CACHE, 3, { fwb: true }));
    expect(fwb.walk(0).prot).toBe(IOMMU_READ | IOMMU_CACHE);
  });

  it("refuses quirks the stage does not accept, as alloc_io_pgtable_ops does", () => {
    expect(() => table("arm-lpae-s2", { quirks: { armNs: true } })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() => table("arm-lpae-s1", { quirks: { armS2Fwb: true } })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() => table("arm-lpae-s1", { quirks: { armTtbr1: true } })).toThrow(
      expect.objectContaining({ code: "EOPNOTSUPP" }),
    );
  });

  it("top of the input range: last page and last block of a 48-bit table", () => {
    const pt = table("arm-lpae-s1");
    const top = 2 ** 48;
    pt.mapPages(top - 4096, 0xfffffffff000, 4096, 1, IOMMU_READ);
    expectPath(
      pt,
      top - 4096,
      [
        [0, 511],
        [1, 511],
        [2, 511],
        [3, 511],
      ],
      expectedLeaf(1, 0xfffffffff000n, 1, 3),
    );
    pt.mapPages(top - 2 * G, 0x40000000, G, 1, IOMMU_WRITE);
    expectPath(
      pt,
      top - 2 * G,
      [
        [0, 511],
        [1, 510],
      ],
      expectedLeaf(1, 0x40000000n, 2, 1),
    );
    expect(() => pt.mapPages(top, 0, 4096, 1, IOMMU_READ)).toThrow(
      expect.objectContaining({ code: "ERANGE" }),
    );
    expect(pt.walk(top).fault).toBe("translation");
  });
});

describe("walker view of descriptors", () => {
  it("reports perms and faults for what the hardware would see", () => {
    const pt = table("arm-lpae-s1");
    pt.map(0, 0x3000, 4096, 1, IOMMU_READ | IOMMU_NOEXEC | IOMMU_PRIV | IOMMU_MMIO);
    expect(pt.walk(0x10).prot).toBe(IOMMU_READ | IOMMU_NOEXEC | IOMMU_PRIV | IOMMU_MMIO);
    expect(pt.walk(0x10).outputAddress).toBe(0x3010n);
    // Clear AF in memory: access-flag fault.
    const leafAddr = pt.walk(0).steps.at(-1)!.descriptorAddress;
    pt.memory.writeU64(leafAddr, pt.memory.readU64(leafAddr) & ~(1n << 10n));
    expect(pt.walk(0).fault).toBe("access-flag");
    // Level-3 type 0b01 is reserved.
    pt.memory.writeU64(leafAddr, 0x3401n);
    expect(pt.walk(0).fault).toBe("translation");
    // A block at level 0 with a 4K granule is not allowed.
    const l0 = pt.walk(0).steps[0]!.descriptorAddress;
    pt.memory.writeU64(l0 + 8n, 0x401n);
    expect(pt.walk(512 * G).fault).toBe("translation");
    // Output beyond oas: address-size fault.
    const small = table("arm-lpae-s2", { ias: 40, oas: 40 });
    small.map(0, 0, G, 1, IOMMU_READ);
    small.memory.writeU64(small.root, 0x0000_0100_0000_0401n | (1n << 6n));
    expect(small.walk(0).fault).toBe("address-size");
  });

  it("decode/encode round-trips every kind of descriptor, and names spec fields", () => {
    const samples = [
      0n,
      0x0060000000000f47n,
      0x006000ffc00007fdn,
      0x8000000012345003n,
      0x006000000001ff47n,
      0xffffffffffffffffn,
      0x1n,
      0x123456789abcdef1n,
    ];
    for (const format of ["arm-lpae-s1", "arm-lpae-s2"] as const) {
      for (const granule of [4096, 16384, 65536]) {
        for (let level = 0; level <= 3; level++) {
          for (const d of samples) {
            const ctx = { level, granule };
            const dec = decodeDescriptor(format, d, ctx);
            expect(
              encodeDescriptor(format, dec, ctx),
              `${format} ${granule} L${level} ${d.toString(16)}`,
            ).toBe(d);
          }
        }
      }
    }
    const leaf = getFormat("arm-lpae-s1").decode(0x0060000000000f47n, { level: 3 });
    expect(leaf.type).toBe("page");
    expect(leaf.fields).toMatchObject({
      AttrIndx: 1,
      AP: 1,
      SH: 3,
      AF: true,
      nG: true,
      PXN: true,
      UXN: true,
      NS: false,
      otherBits: 0n,
    });
    const s2 = getFormat("arm-lpae-s2").decode(0x00600000400007fdn, { level: 2 });
    expect(s2.type).toBe("block");
    expect(s2.fields).toMatchObject({ MemAttr: 0xf, S2AP: 3, SH: 3, XN: 3, OutputAddress: 0x40000000n });
    expect(s2.pageSize).toBe(2n * BigInt(M));
    expect(getFormat("arm-lpae-s1").decode(0x1n, { level: 3 }).type).toBe("reserved");
  });
});
