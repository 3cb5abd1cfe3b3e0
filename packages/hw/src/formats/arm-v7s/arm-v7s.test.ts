import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPageAllocator, type PageAllocator } from "../../memory/page-allocator.js";
import { createPhysMemory, type PhysMemory } from "../../memory/phys-memory.js";
import { UnmapGather } from "../../page-table/gather.js";
import { getFormat } from "../../page-table/registry.js";
import { createWalkOut, type PageTable, type PageTableQuirks, WalkFault } from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import { decodeV7s, encodeV7s } from "./descriptor.js";
import { createV7sPageTable } from "./table.js";

const SZ_4K = 0x1000;
const SZ_64K = 0x1_0000;
const SZ_1M = 0x10_0000;
const SZ_16M = 0x100_0000;
const SELFTEST_PROT = IOMMU_READ | IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_CACHE;

interface Setup {
  memory: PhysMemory;
  allocator: PageAllocator;
  table: PageTable;
}

function setup(
  quirks: PageTableQuirks = { armNs: true },
  extra: { partialUnmap?: "refuse" | "split"; ias?: number; oas?: number } = {},
): Setup {
  const memory = createPhysMemory();
  const allocator = createPageAllocator(memory);
  const table = createV7sPageTable({
    memory,
    allocator,
    ias: extra.ias ?? 32,
    oas: extra.oas ?? 32,
    quirks,
    ...extra,
  });
  return { memory, allocator, table };
}

const l1 = (s: Setup, index: number) => s.memory.readU32(s.table.rootAddress + index * 4);
const l2Table = (s: Setup, l1Index: number) => l1(s, l1Index) & 0xffff_fc00;
const l2 = (s: Setup, l1Index: number, index: number) => s.memory.readU32(l2Table(s, l1Index) + index * 4);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/**
 * Expected descriptor computed straight from the ARM ARM short-descriptor layouts and Linux's
 * prot rules (hw-facts 2), deliberately without the encoder's shift-and-convert structure.
 */
function expectedDescriptor(
  size: number,
  pa: number,
  prot: number,
  quirks: { ns: boolean; noPerms: boolean },
): number {
  const mmio = (prot & IOMMU_MMIO) !== 0;
  const nG = 1;
  const S = 1;
  const TEX = mmio ? 0 : 1;
  const AF = quirks.noPerms ? 0 : 1;
  const UNPRIV = !quirks.noPerms && !(prot & IOMMU_PRIV) ? 1 : 0;
  const RDONLY = !quirks.noPerms && !(prot & IOMMU_WRITE) ? 1 : 0;
  const XN = !quirks.noPerms && prot & IOMMU_NOEXEC ? 1 : 0;
  const B = mmio || prot & IOMMU_CACHE ? 1 : 0;
  const C = !mmio && prot & IOMMU_CACHE ? 1 : 0;
  let d: number;
  switch (size) {
    case SZ_1M:
    case SZ_16M:
      d =
        pa +
        (quirks.ns ? 2 ** 19 : 0) +
        (size === SZ_16M ? 2 ** 18 : 0) +
        nG * 2 ** 17 +
        S * 2 ** 16 +
        RDONLY * 2 ** 15 +
        TEX * 2 ** 12 +
        UNPRIV * 2 ** 11 +
        AF * 2 ** 10 +
        XN * 16 +
        C * 8 +
        B * 4 +
        2;
      break;
    case SZ_64K:
      d =
        pa +
        XN * 2 ** 15 +
        TEX * 2 ** 12 +
        nG * 2 ** 11 +
        S * 2 ** 10 +
        RDONLY * 2 ** 9 +
        UNPRIV * 32 +
        AF * 16 +
        C * 8 +
        B * 4 +
        1;
      break;
    default:
      d =
        pa +
        nG * 2 ** 11 +
        S * 2 ** 10 +
        RDONLY * 2 ** 9 +
        TEX * 64 +
        UNPRIV * 32 +
        AF * 16 +
        C * 8 +
        B * 4 +
        2 +
        XN;
  }
  return d;
}

describe("arm-v7s test vectors (hw-facts 2, V1-V4)", () => {
  const s = setup();
  for (const size of [SZ_4K, SZ_64K, SZ_1M, SZ_16M]) {
    const iova = Math.log2(size) === 12 ? 0 : (Math.log2(size) / 4 - 3) * SZ_16M;
    s.table.mapPages(iova, iova, size, 1, SELFTEST_PROT);
  }
  it("V1: 4K small page at pa 0 -> L2 0x00000C7F, L1 table | NS_TABLE (0x9)", () => {
    expect(l2(s, 0, 0)).toBe(0x0000_0c7f);
    expect(l1(s, 0) & 0x3ff).toBe(0x9);
    expect(l2Table(s, 0) % 1024).toBe(0);
  });
  it("V2: 64K large page at pa 16M -> 16 x 0x01009C3D", () => {
    for (let i = 0; i < 16; i++) expect(l2(s, 16, i)).toBe(0x0100_9c3d);
    expect(l2(s, 16, 16)).toBe(0);
  });
  it("V3: 1M section at pa 32M -> 0x020B1C1E", () => {
    expect(l1(s, 32)).toBe(0x020b_1c1e);
  });
  it("V4: 16M supersection at pa 48M -> L1[48..63] = 0x030F1C1E", () => {
    for (let i = 48; i < 64; i++) expect(l1(s, i)).toBe(0x030f_1c1e);
    expect(l1(s, 64)).toBe(0);
  });
});

describe("arm-v7s Linux selftest (arm_v7s_do_selftests)", () => {
  it("maps each size at 16M strides, refuses overlaps, unmaps and remaps", () => {
    const { table, allocator } = setup();
    expect(table.iovaToPhys(42)).toBe(0n);
    expect(table.iovaToPhys(0x4000_0000 + 42)).toBe(0n);
    expect(table.iovaToPhys(0x8000_0000 + 42)).toBe(0n);
    const sizes = [SZ_4K, SZ_64K, SZ_1M, SZ_16M];
    let iova = 0;
    for (const size of sizes) {
      table.mapPages(iova, iova, size, 1, SELFTEST_PROT);
      expect(code(() => table.mapPages(iova, iova + size, size, 1, IOMMU_READ | IOMMU_NOEXEC))).toBe(
        "EEXIST",
      );
      expect(table.iovaToPhys(iova + 42)).toBe(BigInt(iova + 42));
      iova += SZ_16M;
    }
    iova = 0;
    for (const size of sizes) {
      expect(table.unmapPages(iova, size, 1)).toBe(size);
      expect(table.iovaToPhys(iova + 42)).toBe(0n);
      table.mapPages(iova, iova, size, 1, IOMMU_WRITE);
      expect(table.iovaToPhys(iova + 42)).toBe(BigInt(iova + 42));
      iova += SZ_16M;
    }
    table.free();
    expect(allocator.pagesInUse).toBe(0);
  });
});

describe("arm-v7s prot -> descriptor, every size and prot", () => {
  const prots: number[] = [];
  for (let p = 0; p < 64; p++) if (p & (IOMMU_READ | IOMMU_WRITE)) prots.push(p);
  for (const quirks of [
    { ns: false, noPerms: false },
    { ns: true, noPerms: false },
    { ns: false, noPerms: true },
  ]) {
    it(`matches the spec layout (armNs=${quirks.ns}, noPerms=${quirks.noPerms})`, () => {
      const s = setup({ armNs: quirks.ns, noPerms: quirks.noPerms });
      for (const [k, prot] of prots.entries()) {
        const sizes: [number, number][] = [
          [SZ_4K, k * SZ_16M + 0x1000],
          [SZ_64K, k * SZ_16M + 0x2_0000],
          [SZ_1M, k * SZ_16M + 0x20_0000],
        ];
        for (const [size, iova] of sizes) {
          const pa = 0x8000_0000 - iova - size;
          s.table.mapPages(iova, pa, size, 1, prot);
          const idx = Math.floor(iova / SZ_1M);
          const raw = size === SZ_1M ? l1(s, idx) : l2(s, idx, (iova >>> 12) & 0xff);
          expect(raw >>> 0).toBe(expectedDescriptor(size, pa, prot, quirks));
          if (size !== SZ_1M) expect(l1(s, idx)).toBe((l2Table(s, idx) | 1 | (quirks.ns ? 8 : 0)) >>> 0);
          const dec = s.table.walk(iova + size - 1);
          expect(dec.outputAddress).toBe(BigInt(pa + size - 1));
        }
      }
      const ss = setup({ armNs: quirks.ns, noPerms: quirks.noPerms });
      for (const [k, prot] of prots.entries()) {
        if (k >= 64) break;
        const iova = k * SZ_16M;
        ss.table.mapPages(iova, 0x3000_0000, SZ_16M, 1, prot);
        for (let i = 0; i < 16; i++)
          expect(l1(ss, k * 16 + i)).toBe(expectedDescriptor(SZ_16M, 0x3000_0000, prot, quirks));
      }
    });
  }
});

describe("arm-v7s descriptors decode into named fields and encode back", () => {
  it("round-trips every 32-bit word at both levels", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(1, 2), (word, level) => {
        const d = decodeV7s(BigInt(word), { level });
        expect(encodeV7s(d, { level })).toBe(BigInt(word));
      }),
      { numRuns: 2000 },
    );
  });
  it("names the fields of V3 and V4", () => {
    const section = decodeV7s(0x020b_1c1en, { level: 1 });
    expect(section.type).toBe("section");
    expect(section.fields).toMatchObject({
      NS: true,
      nG: true,
      S: true,
      AP2: false,
      TEX: 1,
      AP: 3,
      XN: true,
      C: true,
      B: true,
    });
    expect(section.prot).toBe(SELFTEST_PROT);
    const sup = decodeV7s(0x030f_1c1en, { level: 1 });
    expect(sup.type).toBe("supersection");
    expect(sup.pageSize).toBe(BigInt(SZ_16M));
    const large = decodeV7s(0x0100_9c3dn, { level: 2 });
    expect(large.type).toBe("large-page");
    expect(large.fields).toMatchObject({ XN: true, TEX: 1, nG: true, S: true, AP: 3, C: true, B: true });
    expect(large.prot).toBe(SELFTEST_PROT);
    const table = decodeV7s(0x4000_0409n, { level: 1 });
    expect(table.type).toBe("table");
    expect(table.nextTable).toBe(0x4000_0400n);
    expect(table.fields.NS).toBe(true);
    expect(code(() => decodeV7s(0n, { level: 3 }))).toBe("EINVAL");
    expect(code(() => encodeV7s({ type: "table", fields: {} }, { level: 2 }))).toBe("EINVAL");
  });
  it("is reachable through the registry", () => {
    const f = getFormat("arm-v7s");
    expect(f.descriptorBytes).toBe(4);
    expect(f.geometry({ ias: 32, oas: 32 })).toMatchObject({
      levels: 2,
      startLevel: 1,
      leafLevel: 2,
      topTableBytes: 16384,
    });
    expect(f.geometry({ ias: 32, oas: 32, pgsizeBitmap: 0x20_1000 }).pgsizeBitmapNumber).toBe(SZ_4K);
  });
});

describe("arm-v7s hardware walker", () => {
  it("reports permissions, memory type, levels and faults from memory alone", () => {
    const s = setup({});
    s.table.mapPages(0x10_0000, 0x5000_0000, SZ_4K, 1, IOMMU_READ | IOMMU_MMIO | IOMMU_PRIV);
    s.table.mapPages(0x20_0000, 0x6000_0000, SZ_1M, 1, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC);
    s.table.mapPages(0x30_0000, 0x6010_0000, SZ_64K, 1, IOMMU_WRITE);
    const w = getFormat("arm-v7s").createWalker({ memory: s.memory, ias: 32, oas: 32 });
    const out = createWalkOut();
    w.translate(s.table.rootAddress, 0x10_0123, out);
    expect(out).toMatchObject({
      fault: 0,
      level: 2,
      outputAddress: 0x5000_0123,
      pageSize: SZ_4K,
      perm: IOMMU_READ | IOMMU_MMIO | IOMMU_PRIV,
    });
    w.translate(s.table.rootAddress, 0x2f_ffff, out);
    expect(out).toMatchObject({ fault: 0, level: 1, outputAddress: 0x600f_ffff, pageSize: SZ_1M });
    expect(out.perm).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC);
    w.translate(s.table.rootAddress, 0x30_fffe, out);
    expect(out).toMatchObject({
      fault: 0,
      level: 2,
      outputAddress: 0x6010_fffe,
      pageSize: SZ_64K,
      perm: IOMMU_READ | IOMMU_WRITE,
    });
    w.translate(s.table.rootAddress, 0x10_1000, out);
    expect(out).toMatchObject({ fault: WalkFault.TRANSLATION, level: 2 });
    w.translate(s.table.rootAddress, 0x4000_0000, out);
    expect(out).toMatchObject({ fault: WalkFault.TRANSLATION, level: 1, descriptorLo: 0 });
    w.translate(s.table.rootAddress, 2 ** 32, out);
    expect(out.fault).toBe(WalkFault.ADDRESS_SIZE);
    const trace = s.table.walk(0x10_0123);
    expect(trace.steps.map((st) => st.decoded.type)).toEqual(["table", "small-page"]);
    expect(trace.outputAddress).toBe(0x5000_0123n);
    expect(s.table.walk(0x4000_0000).fault).toBe("translation");
    // Nested fetch: the walker reads tables where the translator says.
    const seen: number[] = [];
    w.translate(s.table.rootAddress, 0x10_0123, out, (pa, level) => {
      seen.push(level);
      return pa;
    });
    expect(seen).toEqual([1, 2]);
    w.translate(s.table.rootAddress, 0x10_0123, out, () => -1);
    expect(out.fault).toBe(WalkFault.TRANSLATION);
  });
  it("ignores AP/XN under noPerms and reads the MediaTek PA bits", () => {
    const memory = createPhysMemory();
    const t = createV7sPageTable({ memory, ias: 32, oas: 35, quirks: { noPerms: true, armMtkExt: true } });
    t.mapPages(0, 0x5_4000_0000, SZ_4K, 1, IOMMU_READ | IOMMU_NOEXEC);
    t.mapPages(SZ_1M, 0x2_0010_0000, SZ_1M, 1, IOMMU_READ);
    const d = memory.readU32(memory.readU32(t.rootAddress) & 0xffff_fc00);
    // PA bit 32 -> bit 9, bit 34 -> bit 5; attr byte nG|S|TEX1 at [11:4]; small page type.
    expect(d).toBe(0x4000_0000 + 0x200 + 0x20 + 0xc40 + 2);
    expect(t.iovaToPhys(0x123)).toBe(0x5_4000_0123n);
    expect(memory.readU32(t.rootAddress + 4)).toBe(0x0010_0000 + 0x10 + 0x31000 + 2);
    expect(t.iovaToPhys(SZ_1M + 5)).toBe(0x2_0010_0005n);
    expect(code(() => createV7sPageTable({ memory, ias: 32, oas: 35, quirks: { armMtkExt: true } }))).toBe(
      "EINVAL",
    );
  });
});

describe("arm-v7s partial unmap", () => {
  it("refuses (returns 0, changes nothing) by default, like mainline since v6.14", () => {
    const s = setup();
    s.table.mapPages(0, 0x100_0000, SZ_64K, 1, IOMMU_READ);
    s.table.mapPages(SZ_1M, 0x200_0000, SZ_1M, 1, IOMMU_READ);
    s.table.mapPages(SZ_16M, 0x300_0000, SZ_16M, 1, IOMMU_READ);
    const hash = s.memory.contentHash();
    expect(s.table.unmapPages(SZ_4K, SZ_4K, 1)).toBe(0);
    expect(s.table.unmapPages(SZ_1M, SZ_4K, 1)).toBe(0);
    expect(s.table.unmapPages(SZ_1M + SZ_64K, SZ_64K, 1)).toBe(0);
    expect(s.table.unmapPages(SZ_16M + SZ_1M, SZ_1M, 1)).toBe(0);
    expect(s.memory.contentHash()).toBe(hash);
  });
  it("splits with partialUnmap 'split' (pre-6.14) and keeps the rest mapped", () => {
    const s = setup({ armNs: true }, { partialUnmap: "split" });
    s.table.mapPages(0, 0x100_0000, SZ_64K, 1, IOMMU_READ);
    s.table.mapPages(SZ_1M, 0x200_0000, SZ_1M, 1, IOMMU_READ | IOMMU_CACHE);
    s.table.mapPages(SZ_16M, 0x300_0000, SZ_16M, 1, IOMMU_READ | IOMMU_WRITE);
    const g = new UnmapGather();
    expect(s.table.unmapPages(SZ_4K, SZ_4K, 1, g)).toBe(SZ_4K);
    expect(s.table.iovaToPhys(SZ_4K)).toBe(0n);
    expect(s.table.iovaToPhys(2 * SZ_4K + 7)).toBe(0x100_2007n);
    expect(l2(s, 0, 0)).toBe(
      0x100_0000 + expectedDescriptor(SZ_4K, 0, IOMMU_READ, { ns: false, noPerms: false }),
    );
    expect(g.start).toBe(0);
    expect(g.end).toBe(SZ_64K);
    expect(s.table.unmapPages(SZ_1M + SZ_64K, SZ_64K, 1)).toBe(SZ_64K);
    expect(s.table.iovaToPhys(SZ_1M + SZ_64K)).toBe(0n);
    expect(s.table.iovaToPhys(SZ_1M + 2 * SZ_64K + 1)).toBe(0x202_0001n);
    expect(s.table.iovaToPhys(SZ_1M + 5)).toBe(0x200_0005n);
    expect(l1(s, 1) & 3).toBe(1);
    expect(l2(s, 1, 0)).toBe(
      0x200_0000 + expectedDescriptor(SZ_64K, 0, IOMMU_READ | IOMMU_CACHE, { ns: false, noPerms: false }),
    );
    expect(s.table.unmapPages(SZ_16M + 3 * SZ_1M + SZ_4K, SZ_4K, 1)).toBe(SZ_4K);
    expect(s.table.iovaToPhys(SZ_16M + 3 * SZ_1M + SZ_4K)).toBe(0n);
    expect(s.table.iovaToPhys(SZ_16M + 3 * SZ_1M + 2 * SZ_4K)).toBe(0x330_2000n);
    expect(s.table.iovaToPhys(SZ_16M + 15 * SZ_1M)).toBe(0x3f0_0000n);
    expect(l1(s, 31)).toBe(
      0x3f0_0000 + expectedDescriptor(SZ_1M, 0, IOMMU_READ | IOMMU_WRITE, { ns: true, noPerms: false }),
    );
  });
  it("unmapping a whole section over a level-2 table frees the table", () => {
    const s = setup();
    const before = s.allocator.allocations;
    s.table.mapPages(0, 0x100_0000, SZ_4K, 3, IOMMU_READ);
    expect(s.allocator.allocations).toBe(before + 1);
    const g = new UnmapGather();
    expect(s.table.unmapPages(0, SZ_1M, 1, g)).toBe(SZ_1M);
    expect(g.freedTables).toHaveLength(1);
    expect(g.leafOnly).toBe(false);
    expect(s.allocator.allocations).toBe(before);
    expect(l1(s, 0)).toBe(0);
  });
});

describe("arm-v7s bad input", () => {
  it("refuses with the errno Linux uses and leaves memory unchanged", () => {
    const s = setup();
    s.table.mapPages(0x40_0000, 0x40_0000, SZ_4K, 4, IOMMU_READ);
    s.table.mapPages(0x80_0000, 0x80_0000, SZ_1M, 1, IOMMU_READ);
    const hash = s.memory.contentHash();
    const pages = s.allocator.pagesInUse;
    const cases: [string, () => unknown][] = [
      ["EINVAL", () => s.table.mapPages(0, 0, 0x2000, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.mapPages(0, 0, 0x20_0000, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.mapPages(0x1000, 0, SZ_64K, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.mapPages(0, 0x1000, SZ_1M, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.mapPages(0, 0, SZ_4K, 0, IOMMU_READ)],
      ["EINVAL", () => s.table.mapPages(0, 0, SZ_4K, 1, IOMMU_CACHE | IOMMU_NOEXEC)],
      ["ERANGE", () => s.table.mapPages(0xffff_f000, 0, SZ_4K, 2, IOMMU_READ)],
      ["ERANGE", () => s.table.mapPages(0, 0xffff_f000, SZ_4K, 2, IOMMU_READ)],
      ["ERANGE", () => s.table.map(2n ** 32n, 0n, SZ_4K, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.map(-1, 0, SZ_4K, 1, IOMMU_READ)],
      // A page already mapped anywhere in the range refuses the whole call.
      ["EEXIST", () => s.table.mapPages(0x3f_e000, 0, SZ_4K, 3, IOMMU_READ)],
      ["EEXIST", () => s.table.mapPages(0x40_0000, 0, SZ_64K, 1, IOMMU_READ)],
      ["EEXIST", () => s.table.mapPages(0x80_0000, 0, SZ_4K, 1, IOMMU_READ)],
      ["EEXIST", () => s.table.mapPages(0, 0, SZ_16M, 1, IOMMU_READ)],
      ["EINVAL", () => s.table.unmapPages(0x1000, SZ_64K, 1)],
      ["EINVAL", () => s.table.unmapPages(0, 0x3000, 1)],
    ];
    for (const [errno, fn] of cases) {
      expect(code(fn)).toBe(errno);
      expect(s.memory.contentHash()).toBe(hash);
      expect(s.allocator.pagesInUse).toBe(pages);
    }
    expect(s.table.unmapPages(0x10_0000, SZ_4K, 1)).toBe(0);
    expect(s.table.unmapPages(2 ** 32, SZ_4K, 1)).toBe(0);
    expect(code(() => getFormat("arm-v7s").geometry({ ias: 33, oas: 32 }))).toBe("EINVAL");
    expect(code(() => getFormat("arm-v7s").geometry({ ias: 32, oas: 40 }))).toBe("EINVAL");
    expect(code(() => getFormat("arm-v7s").geometry({ ias: 32, oas: 32, granule: 0x4000 }))).toBe("EINVAL");
  });
  it("a section mapped over a level-2 table replaces and frees it (arm_v7s_init_pte)", () => {
    const s = setup();
    s.table.mapPages(0, 0x100_0000, SZ_4K, 1, IOMMU_READ);
    expect(s.table.unmapPages(0, SZ_4K, 1)).toBe(SZ_4K);
    const allocs = s.allocator.allocations;
    s.table.mapPages(0, 0x200_0000, SZ_1M, 1, IOMMU_READ);
    expect(s.allocator.allocations).toBe(allocs - 1);
    expect(s.table.iovaToPhys(0x1234)).toBe(0x200_1234n);
  });
});

describe("arm-v7s fault injection", () => {
  it("fails every allocation of a large map in turn: ENOMEM, nothing mapped, nothing leaked", () => {
    const s = setup();
    s.table.mapPages(0x30_0000, 0x30_0000, SZ_4K, 1, IOMMU_READ);
    const hash = s.memory.contentHash();
    const pages = s.allocator.pagesInUse;
    // 8 MiB of 4K pages starting inside an existing table: 8 new level-2 tables.
    const iova = 0x30_0000 + SZ_4K;
    const count = (8 * SZ_1M) / SZ_4K;
    for (let n = 1; n <= 8; n++) {
      s.allocator.failAfter(n);
      expect(code(() => s.table.mapPages(iova, 0x1000_0000, SZ_4K, count, IOMMU_READ | IOMMU_WRITE))).toBe(
        "ENOMEM",
      );
      s.allocator.failAfter(0);
      expect(s.memory.contentHash()).toBe(hash);
      expect(s.allocator.pagesInUse).toBe(pages);
      expect(s.table.iovaToPhys(iova)).toBe(0n);
    }
    s.table.mapPages(iova, 0x1000_0000, SZ_4K, count, IOMMU_READ | IOMMU_WRITE);
    expect(s.table.iovaToPhys(iova + count * SZ_4K - 1)).toBe(BigInt(0x1000_0000 + count * SZ_4K - 1));
    const memory = createPhysMemory();
    const allocator = createPageAllocator(memory);
    allocator.failAfter(1);
    expect(code(() => createV7sPageTable({ memory, allocator, ias: 32, oas: 32 }))).toBe("ENOMEM");
    expect(allocator.pagesInUse).toBe(0);
  });
});

// ---- model-based test against an obviously-right oracle ----

interface Leaf {
  size: number;
  pa: number;
  prot: number;
}

/** Linux v7s semantics over a flat list of leaves plus the set of level-1 slots holding tables. */
class Oracle {
  leaves = new Map<number, Leaf>();
  tables = new Set<number>();

  private bigLeafCovering(section: number): number | undefined {
    for (const [va, l] of this.leaves) {
      if (l.size >= SZ_1M && va <= section * SZ_1M && section * SZ_1M < va + l.size) return va;
    }
    return undefined;
  }

  private smallIn(start: number, end: number): number[] {
    const out: number[] = [];
    for (const [va, l] of this.leaves) if (l.size < SZ_1M && va < end && start < va + l.size) out.push(va);
    return out;
  }

  map(iova: number, size: number, pa: number, prot: number): "ok" | "EEXIST" {
    const first = Math.floor(iova / SZ_1M);
    if (size >= SZ_1M) {
      for (let i = first; i < first + size / SZ_1M; i++)
        if (this.bigLeafCovering(i) !== undefined) return "EEXIST";
      for (let i = first; i < first + size / SZ_1M; i++) {
        if (this.tables.delete(i))
          for (const va of this.smallIn(i * SZ_1M, (i + 1) * SZ_1M)) this.leaves.delete(va);
      }
    } else {
      if (this.bigLeafCovering(first) !== undefined || this.smallIn(iova, iova + size).length)
        return "EEXIST";
      this.tables.add(first);
    }
    this.leaves.set(iova, { size, pa, prot });
    return "ok";
  }

  unmap(iova: number, size: number): number {
    const first = Math.floor(iova / SZ_1M);
    if (size >= SZ_1M) {
      const n = size / SZ_1M;
      for (let i = first; i < first + n; i++)
        if (!this.tables.has(i) && this.bigLeafCovering(i) === undefined) return 0;
      const cover = this.bigLeafCovering(first);
      if (n === 1 && cover !== undefined && this.leaves.get(cover)!.size === SZ_16M) return 0;
      for (let i = first; i < first + n; i++) {
        if (this.tables.delete(i))
          for (const va of this.smallIn(i * SZ_1M, (i + 1) * SZ_1M)) this.leaves.delete(va);
        else this.leaves.delete(this.bigLeafCovering(i)!);
      }
      return size;
    }
    if (!this.tables.has(first)) return 0;
    const small = this.smallIn(iova, iova + size);
    let covered = 0;
    for (const va of small) covered += Math.min(this.leaves.get(va)!.size, size);
    if (covered < size) return 0;
    if (size === SZ_4K && this.leaves.get(small[0]!)!.size === SZ_64K) return 0;
    for (const va of small) this.leaves.delete(va);
    return size;
  }

  lookup(iova: number): number {
    for (const [va, l] of this.leaves) if (va <= iova && iova < va + l.size) return l.pa + (iova - va);
    return 0;
  }
}

describe("arm-v7s against an oracle (fast-check)", () => {
  const sizeArb = fc.constantFrom(SZ_4K, SZ_4K, SZ_64K, SZ_64K, SZ_1M, SZ_16M);
  const op = fc.record({
    unmap: fc.boolean(),
    size: sizeArb,
    slot: fc.integer({ min: 0, max: 47 }),
    sub: fc.integer({ min: 0, max: 4095 }),
    pa: fc.integer({ min: 0, max: 255 }),
    prot: fc.constantFrom(IOMMU_READ, IOMMU_WRITE | IOMMU_CACHE, IOMMU_READ | IOMMU_NOEXEC | IOMMU_MMIO),
  });
  it("map/unmap/iovaToPhys agree with the oracle and tables are accounted", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const s = setup();
        const oracle = new Oracle();
        // Addresses within 48 MiB so every size collides with every other now and then.
        for (const o of ops) {
          const span = 48 * SZ_1M;
          const iova = Math.floor(((o.slot * SZ_1M + o.sub * SZ_4K) % span) / o.size) * o.size;
          if (o.unmap) {
            expect(s.table.unmapPages(iova, o.size, 1)).toBe(oracle.unmap(iova, o.size));
          } else {
            const pa = o.pa * SZ_16M;
            const want = oracle.map(iova, o.size, pa, o.prot);
            expect(code(() => s.table.mapPages(iova, pa, o.size, 1, o.prot)) ?? "ok").toBe(want);
          }
        }
        for (const [va, l] of oracle.leaves) {
          expect(s.table.iovaToPhys(va)).toBe(BigInt(l.pa));
          expect(s.table.iovaToPhys(va + l.size - 1)).toBe(BigInt(l.pa + l.size - 1));
        }
        for (let va = 0; va < 48 * SZ_1M; va += SZ_64K + SZ_4K)
          expect(s.table.iovaToPhys(va)).toBe(BigInt(oracle.lookup(va)));
        let tables = 0;
        for (let i = 0; i < 64; i++) if ((l1(s, i) & 3) === 1) tables++;
        expect(tables).toBe(oracle.tables.size);
        s.table.free();
        expect(s.allocator.pagesInUse).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
