/**
 * Engine behaviour through the ARM LPAE formats: properties against an oracle, refusals that leave
 * memory untouched, fault injection, leaf-over-table replacement and the partial-unmap policies.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lpaeTableSpec } from "../formats/arm-lpae/format.js";
import { createPageAllocator } from "../memory/page-allocator.js";
import { createPhysMemory } from "../memory/phys-memory.js";
import { IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { UnmapGather } from "./gather.js";
import { createRadixPageTable } from "./radix-table.js";
import { createPageTable, getFormat } from "./registry.js";
import { createWalkOut, type FormatName, type PageTable, type PageTableConfig, WalkFault } from "./types.js";

const K = 1024;
const M = 1024 * K;
const G = 1024 * M;

function newTable(
  format: FormatName = "arm-lpae-s1",
  config: Partial<Omit<PageTableConfig, "memory">> = {},
): PageTable {
  const memory = createPhysMemory();
  return createPageTable(format, {
    memory,
    allocator: createPageAllocator(memory),
    ias: 48,
    oas: 48,
    granule: 4096,
    ...config,
  });
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** Oracle leaf: what one map page created. */
interface Leaf {
  iova: number;
  size: number;
  pa: number;
  prot: number;
}

const overlaps = (a: number, as: number, b: number, bs: number) => a < b + bs && b < a + as;

describe("random map/unmap sequences against an oracle", () => {
  const configs: [FormatName, number][] = [
    ["arm-lpae-s1", 4096],
    ["arm-lpae-s2", 4096],
    ["arm-lpae-s1", 16384],
    ["arm-lpae-s2", 65536],
  ];
  for (const [format, granule] of configs) {
    it(`${format} ${granule / K}K`, () => {
      const bitmap = getFormat(format).geometry({ granule, ias: 48, oas: 48 }).pgsizeBitmap;
      const pageSizes: number[] = [];
      for (let b = 0; b < 48; b++) if ((bitmap >> BigInt(b)) & 1n) pageSizes.push(2 ** b);
      const small = pageSizes[0]!;
      const window = pageSizes.at(-1)! * 4; // four of the largest blocks
      const op = fc.record({
        kind: fc.constantFrom("map", "map", "unmap-leaf", "unmap-any"),
        size: fc.integer({ min: 0, max: pageSizes.length - 1 }),
        slot: fc.integer({ min: 0, max: 1 << 20 }),
        count: fc.integer({ min: 1, max: 3 }),
        prot: fc.constantFrom(
          IOMMU_READ,
          IOMMU_WRITE,
          IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE,
          IOMMU_READ | IOMMU_NOEXEC,
        ),
        paSlot: fc.integer({ min: 0, max: 1 << 12 }),
      });
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
          const pt = newTable(format, { granule });
          let oracle: Leaf[] = [];
          const probes = new Set<number>();
          for (const o of ops) {
            const size = pageSizes[o.size]!;
            // Bias towards small sizes' neighbourhoods so pages land inside blocks and next to them.
            const iova = (o.slot * small) % window;
            const aligned = iova - (iova % size);
            if (o.kind === "map") {
              const count = Math.min(o.count, (window - aligned) / size);
              const pa = o.paSlot * size;
              // Linux: any page meeting a leaf at least as large fails the whole call (EEXIST);
              // smaller leaves under a new block go with the replaced table.
              const pages = Array.from(
                { length: count },
                (_, i): Leaf => ({ iova: aligned + i * size, size, pa: pa + i * size, prot: o.prot }),
              );
              const clash = pages.some((p) =>
                oracle.some((l) => overlaps(l.iova, l.size, p.iova, p.size) && l.size >= p.size),
              );
              const code = codeOf(() => pt.mapPages(aligned, pa, size, count, o.prot));
              expect(code).toBe(clash ? "EEXIST" : undefined);
              if (!clash) {
                oracle = oracle.filter((l) => !pages.some((p) => overlaps(l.iova, l.size, p.iova, p.size)));
                oracle.push(...pages);
              }
              for (const p of pages)
                probes
                  .add(p.iova)
                  .add(p.iova + p.size - small)
                  .add(p.iova + p.size);
            } else if (o.kind === "unmap-leaf" && oracle.length > 0) {
              const leaf = oracle[o.slot % oracle.length]!;
              expect(pt.unmapPages(leaf.iova, leaf.size, 1)).toBe(leaf.size);
              oracle = oracle.filter((l) => l !== leaf);
              probes.add(leaf.iova);
            } else {
              const hit = oracle.filter((l) => overlaps(l.iova, l.size, aligned, size));
              const n = pt.unmapPages(aligned, size, 1);
              if (hit.some((l) => l.size > size)) {
                expect(n).toBe(0); // partial unmap of a larger leaf: refused (mainline)
              } else if (hit.length > 0) {
                expect(n).toBe(size); // exact leaf, or a subtree of smaller leaves cleared
                oracle = oracle.filter((l) => !hit.includes(l));
              } else {
                expect([0, size]).toContain(n); // a hole, or an empty table kept by earlier unmaps
              }
              probes.add(aligned);
            }
          }
          const out = createWalkOut();
          const check = (addr: number) => {
            const leaf = oracle.find((l) => addr >= l.iova && addr < l.iova + l.size);
            pt.walker.translate(pt.rootAddress, addr, out);
            if (leaf) {
              const want = leaf.pa + (addr - leaf.iova);
              expect(pt.iovaToPhys(addr)).toBe(BigInt(want));
              expect([out.fault, out.outputAddress, out.pageSize]).toEqual([WalkFault.NONE, want, leaf.size]);
              const writable =
                format === "arm-lpae-s1"
                  ? leaf.prot !== IOMMU_READ && leaf.prot !== (IOMMU_READ | IOMMU_NOEXEC)
                  : !!(leaf.prot & IOMMU_WRITE);
              expect(!!(out.perm & IOMMU_WRITE)).toBe(writable);
            } else {
              expect(pt.iovaToPhys(addr)).toBe(0n);
              expect(out.fault).toBe(WalkFault.TRANSLATION);
            }
          };
          for (const p of probes) if (p < window) for (const d of [0, 8, small - 8]) check(p + d);
          for (const l of oracle) check(l.iova + l.size / 2);
          for (const l of oracle) expect(pt.unmapPages(l.iova, l.size, 1)).toBe(l.size);
          oracle = [];
          for (const p of probes) if (p < window) check(p);
          pt.free();
          expect(pt.allocator.pagesInUse).toBe(0);
        }),
        { numRuns: 80 },
      );
    });
  }
});

describe("refusals leave memory untouched", () => {
  const pt = newTable("arm-lpae-s1", { ias: 40, oas: 40 });
  pt.mapPages(0x200000, 0x1000, 4096, 4, IOMMU_READ);
  const cases: [string, () => void, string, RegExp][] = [
    ["misaligned iova", () => pt.mapPages(0x1800, 0, 4096, 1, 1), "EINVAL", /0x1800/],
    ["misaligned paddr", () => pt.mapPages(0x1000, 0x2800, 4096, 1, 1), "EINVAL", /0x2800/],
    ["misaligned block", () => pt.mapPages(0x1000, 0, 2 * M, 1, 1), "EINVAL", /0x1000/],
    ["size not in bitmap", () => pt.mapPages(0, 0, 8192, 1, 1), "EINVAL", /0x2000/],
    ["size not a power of two", () => pt.mapPages(0, 0, 12288, 1, 1), "EINVAL", /0x3000/],
    ["iova beyond ias", () => pt.mapPages(2 ** 40, 0, 4096, 1, 1), "ERANGE", /0x10000000000/],
    ["range crossing ias", () => pt.mapPages(2 ** 40 - 4096, 0, 4096, 2, 1), "ERANGE", /0xfffffff000/],
    ["paddr beyond oas", () => pt.mapPages(0, 2 ** 40, 4096, 1, 1), "ERANGE", /0x10000000000/],
    ["zero count", () => pt.mapPages(0, 0, 4096, 0, 1), "EINVAL", /count 0/],
    ["negative count", () => pt.mapPages(0, 0, 4096, -1, 1), "EINVAL", /-1/],
    ["fractional count", () => pt.mapPages(0, 0, 4096, 1.5, 1), "EINVAL", /1\.5/],
    ["overflowing count", () => pt.mapPages(0, 0, 4096, 2 ** 53, 1), "EINVAL", /9007199254740992/],
    ["huge count", () => pt.mapPages(0, 0, 4096, 2 ** 40, 1), "ERANGE", /1099511627776x0x1000/],
    ["negative iova", () => pt.map(-4096, 0, 4096, 1, 1), "EINVAL", /-4096/],
    ["non-integer iova", () => pt.mapPages(4096.5, 0, 4096, 1, 1), "EINVAL", /4096\.5/],
    ["wrong type", () => pt.map("0x1000" as unknown as number, 0, 4096, 1, 1), "EINVAL", /string/],
    ["bigint beyond 2^53", () => pt.map(2n ** 60n, 0, 4096, 1, 1), "ERANGE", /0x1000000000000000/],
    ["no access", () => pt.mapPages(0, 0, 4096, 1, IOMMU_CACHE), "EINVAL", /0x4/],
    ["existing leaf", () => pt.mapPages(0x1f0000, 0, 4096, 32, 1), "EEXIST", /0x200000/],
    [
      "existing leaf above (block over pages is fine, page under block is not)",
      () => pt.mapPages(0x200000, 0, 4096, 1, 1),
      "EEXIST",
      /0x200000/,
    ],
    ["unmap misaligned", () => pt.unmapPages(0x1800, 4096, 1), "EINVAL", /0x1800/],
    ["unmap bad size", () => pt.unmapPages(0, 8192, 1), "EINVAL", /0x2000/],
    ["unmap zero count", () => pt.unmapPages(0, 4096, 0), "EINVAL", /count 0/],
    ["unmap beyond ias", () => pt.unmap(2n ** 40n, 4096, 1), "ERANGE", /0x10000000000/],
  ];
  for (const [name, f, code, message] of cases) {
    it(name, () => {
      const hash = pt.memory.contentHash();
      const pages = pt.allocator.pagesInUse;
      let error: { code?: string; message?: string } | undefined;
      try {
        f();
      } catch (e) {
        error = e as typeof error;
      }
      expect(error?.code).toBe(code);
      expect(error?.message).toMatch(message);
      expect(pt.memory.contentHash()).toBe(hash);
      expect(pt.allocator.pagesInUse).toBe(pages);
    });
  }
});

describe("fault injection", () => {
  it("every failing allocation of a large multi-table map is rolled back", () => {
    // 2 GiB + 8 MiB of 4K pages across a 1 GiB boundary: L1, several L2 and many L3 tables.
    const iova = G - 4 * M;
    const count = (8 * M) / 4096;
    const probe = newTable();
    const start = probe.allocator.pagesInUse;
    probe.mapPages(iova, 0, 4096, count, IOMMU_READ);
    const needed = probe.allocator.pagesInUse - start;
    expect(needed).toBe(1 + 2 + 4); // one L1, two L2, four L3
    for (let n = 1; n <= needed; n++) {
      const pt = newTable();
      pt.mapPages(0x7000_0000_0000, 0, 4096, 1, IOMMU_READ); // unrelated existing state
      const hash = pt.memory.contentHash();
      const pages = pt.allocator.pagesInUse;
      pt.allocator.failAfter(n);
      expect(codeOf(() => pt.mapPages(iova, 0, 4096, count, IOMMU_READ))).toBe("ENOMEM");
      expect(pt.allocator.pagesInUse).toBe(pages);
      expect(pt.memory.contentHash()).toBe(hash);
      expect(pt.iovaToPhys(iova)).toBe(0n);
      expect(pt.iovaToPhys(iova + count * 4096 - 4096)).toBe(0n);
      pt.allocator.failAfter(0);
      pt.mapPages(iova, 0, 4096, count, IOMMU_READ);
      expect(pt.iovaToPhys(iova + 5 * M)).toBe(BigInt(5 * M));
    }
  });

  it("EEXIST half way undoes pages and tables of this call only", () => {
    const pt = newTable();
    pt.mapPages(G + 2 * M, 0x5000, 4096, 1, IOMMU_READ);
    const hash = pt.memory.contentHash();
    const pages = pt.allocator.pagesInUse;
    expect(codeOf(() => pt.mapPages(G - 4 * M, 0, 4096, 2048, IOMMU_READ))).toBe("EEXIST");
    expect(pt.memory.contentHash()).toBe(hash);
    expect(pt.allocator.pagesInUse).toBe(pages);
  });
});

describe("leaf over table (arm_lpae_init_pte)", () => {
  it("a block mapped over a table frees the subtree and flushes the walk", () => {
    const flushes: [number, number, number][] = [];
    const memory = createPhysMemory();
    const pt = createPageTable("arm-lpae-s1", {
      memory,
      allocator: createPageAllocator(memory),
      ias: 48,
      oas: 48,
      tlbFlushWalk: (iova, size, granule) => flushes.push([iova, size, granule]),
    });
    pt.mapPages(2 * M, 0x1000, 4096, 1, IOMMU_READ);
    pt.unmapPages(2 * M, 4096, 1);
    const pages = pt.allocator.pagesInUse; // root, L1, L2, L3 (kept although empty)
    expect(pages).toBe(4);
    pt.mapPages(2 * M, 64 * M, 2 * M, 1, IOMMU_WRITE);
    expect(pt.allocator.pagesInUse).toBe(3);
    expect(flushes).toEqual([[2 * M, 2 * M, 4096]]);
    expect(pt.iovaToPhys(2 * M + 5)).toBe(BigInt(64 * M + 5));
    expect(pt.walk(2 * M).level).toBe(2);
  });

  it("a rolled-back map restores the replaced table", () => {
    const pt = newTable();
    pt.mapPages(2 * M, 0x1000, 4096, 1, IOMMU_READ);
    pt.unmapPages(2 * M, 4096, 1);
    pt.mapPages(6 * M, 0, 2 * M, 1, IOMMU_READ); // a block leaf in the way of the third block
    const hash = pt.memory.contentHash();
    expect(codeOf(() => pt.mapPages(2 * M, 0, 2 * M, 3, IOMMU_READ))).toBe("EEXIST");
    expect(pt.memory.contentHash()).toBe(hash);
    expect(pt.walk(2 * M).steps.at(-1)!.level).toBe(3);
  });
});

describe("unmap", () => {
  it("stops at the first hole and reports what it removed to the gather", () => {
    const pt = newTable();
    pt.mapPages(0, 0, 4096, 3, IOMMU_READ);
    pt.mapPages(5 * 4096, 0, 4096, 1, IOMMU_READ);
    const g = new UnmapGather();
    expect(pt.unmapPages(0, 4096, 6, g)).toBe(3 * 4096);
    expect([g.start, g.end, g.pgsize, g.levels, g.leafOnly]).toEqual([0, 3 * 4096, 4096, 1 << 3, true]);
    expect(pt.iovaToPhys(5 * 4096)).toBe(0n + 0n);
    expect(pt.walk(5 * 4096).fault).toBeUndefined();
  });

  it("a coarser unmap over a table clears and frees the subtree", () => {
    const pt = newTable();
    pt.mapPages(2 * M, 0, 4096, 10, IOMMU_READ);
    const pages = pt.allocator.pagesInUse;
    const g = new UnmapGather();
    expect(pt.unmapPages(2 * M, 2 * M, 1, g)).toBe(2 * M);
    expect(pt.allocator.pagesInUse).toBe(pages - 1);
    expect(g.leafOnly).toBe(false);
    expect(g.freedTables).toHaveLength(1);
    expect(pt.iovaToPhys(2 * M)).toBe(0n);
  });

  it("partial unmap: refuse (mainline), split (pre-6.14), whole (x86 rule)", () => {
    const refuse = newTable();
    refuse.mapPages(G, 0, G, 1, IOMMU_READ);
    expect(refuse.unmapPages(G + 4096, 4096, 1)).toBe(0);
    expect(refuse.iovaToPhys(G + 4096)).toBe(4096n);

    const split = newTable("arm-lpae-s1", { partialUnmap: "split" });
    split.mapPages(G, 0, G, 1, IOMMU_READ | IOMMU_CACHE);
    const before = split.walk(G).steps.at(-1)!.descriptor;
    const g = new UnmapGather();
    expect(split.unmapPages(G + 4096, 4096, 2, g)).toBe(2 * 4096);
    expect(split.iovaToPhys(G + 4096)).toBe(0n);
    expect(split.iovaToPhys(G + 3 * 4096)).toBe(BigInt(3 * 4096));
    expect(split.iovaToPhys(G + 512 * M)).toBe(BigInt(512 * M));
    expect(split.walk(G + 512 * M).level).toBe(2);
    // Split leaves keep the block's attributes (bits 11:2, 54:53) with the new level's type.
    expect(split.walk(G).steps.at(-1)!.descriptor).toBe((before & ~3n) | 3n);
    expect([g.pgsize, g.start]).toEqual([4096, G + 4096]);

    const memory = createPhysMemory();
    const spec = { ...lpaeTableSpec(1, { ias: 48, oas: 48 }), partialUnmap: "whole" as const };
    const whole = createRadixPageTable(spec, { memory });
    whole.mapPages(G, 0, 2 * M, 2, IOMMU_READ);
    expect(whole.unmapPages(G, 4096, 1)).toBe(2 * M);
    expect(whole.iovaToPhys(G + 8192)).toBe(0n);
    expect(whole.iovaToPhys(G + 2 * M)).toBe(BigInt(2 * M));
  });

  it("a split that cannot allocate unmaps nothing", () => {
    const pt = newTable("arm-lpae-s1", { partialUnmap: "split" });
    pt.mapPages(G, 0, G, 1, IOMMU_READ);
    pt.allocator.failAfter(1);
    expect(pt.unmapPages(G, 4096, 1)).toBe(0);
    expect(pt.iovaToPhys(G)).toBe(0n + 0n);
    expect(pt.walk(G).level).toBe(1);
  });
});

describe("walker", () => {
  it("translates through a nested fetch translator and faults when it fails", () => {
    const pt = newTable();
    pt.mapPages(0x4000, 0x9000, 4096, 1, IOMMU_READ);
    const out = createWalkOut();
    const seen: number[] = [];
    pt.walker.translate(pt.rootAddress, 0x4010, out, (a, level) => {
      seen.push(level);
      return a;
    });
    expect([out.fault, out.outputAddress, out.pageSize]).toEqual([0, 0x9010, 4096]);
    expect(seen).toEqual([0, 1, 2, 3]);
    pt.walker.translate(pt.rootAddress, 0x4010, out, (a, level) => (level === 2 ? -1 : a));
    expect([out.fault, out.level]).toEqual([WalkFault.TRANSLATION, 2]);
  });

  it("is built from the config alone and reads only memory", () => {
    const pt = newTable("arm-lpae-s2", { ias: 40, oas: 40 });
    pt.mapPages(0xffc0000000, 0x40000000, G, 1, IOMMU_READ | IOMMU_WRITE);
    const walker = getFormat("arm-lpae-s2").createWalker({ memory: pt.memory, ias: 40, oas: 40 });
    const out = createWalkOut();
    walker.translate(pt.rootAddress, 0xffc0001234, out);
    expect([out.fault, out.outputAddress, out.level, out.perm]).toEqual([
      0,
      0x40001234,
      1,
      IOMMU_READ | IOMMU_WRITE,
    ]);
  });
});
