/**
 * Physical memory: the flat arena at the start of the dense window behaves exactly like the
 * per-frame storage it replaces (contents, residency, release, hashing), grows on demand, and page
 * tables built over either give the same bytes and the same walks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPageTable } from "../page-table/registry.js";
import { createWalkOut } from "../page-table/types.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createPageAllocator } from "./page-allocator.js";
import { createPhysMemory, PAGE_SIZE, type PhysMemory } from "./phys-memory.js";

const BASE = 0x4000_0000;

/** The same operations on a memory with the arena and one without give equal observations. */
function both(): [PhysMemory, PhysMemory] {
  return [createPhysMemory(), createPhysMemory({ arenaSize: 0 })];
}

describe("arena", () => {
  it("starts empty and covers nothing until a frame in it is written", () => {
    const m = createPhysMemory();
    expect(m.arenaBytes).toBe(0);
    expect(m.arenaBase).toBe(BASE);
    expect(m.readU32(BASE)).toBe(0);
    expect(m.framesResident).toBe(0);
    m.writeU32(BASE + 8, 0xdead_beef);
    expect(m.arenaBytes).toBeGreaterThan(0);
    expect(m.arenaWords[2]).toBe(0xdead_beef);
    expect(m.framesResident).toBe(1);
  });

  it("returns the shared zero array for unwritten frames and a live view for written ones", () => {
    const m = createPhysMemory();
    m.writeU32(BASE, 1);
    const pfn = BASE / PAGE_SIZE;
    expect(m.frameWords(pfn + 1)).toBe(m.frameWords(pfn + 2));
    const view = m.frameWords(pfn);
    expect(view[0]).toBe(1);
    m.writeU32(BASE + 4, 7);
    expect(view[1]).toBe(7);
    expect(m.frameWordsForWrite(pfn)).toBe(view);
  });

  it("zero-fills released frames and keeps residency exact", () => {
    const m = createPhysMemory();
    m.fill(BASE + PAGE_SIZE, 64, 0xab);
    expect(m.framesResident).toBe(1);
    // A zero fill of an unwritten frame allocates nothing, as before.
    m.fill(BASE + 2 * PAGE_SIZE, PAGE_SIZE, 0);
    expect(m.framesResident).toBe(1);
    const gen = m.generation;
    m.releaseFrame(BASE / PAGE_SIZE + 1);
    expect(m.generation).not.toBe(gen);
    expect(m.framesResident).toBe(0);
    expect(m.readU8(BASE + PAGE_SIZE)).toBe(0);
    expect(Array.from(m.arenaWords.subarray(PAGE_SIZE / 4, PAGE_SIZE / 2)).every((w) => w === 0)).toBe(true);
    m.releaseFrame(BASE / PAGE_SIZE + 1);
    expect(m.framesResident).toBe(0);
  });

  it("counts a frame written through arenaWords once touchArena is called", () => {
    const m = createPhysMemory();
    m.writeU32(BASE, 1);
    const w = (3 * PAGE_SIZE) / 4 + 5;
    expect(w).toBeLessThan(m.arenaWords.length);
    m.touchArena(w);
    m.arenaWords[w] = 42;
    m.touchArena(w);
    expect(m.framesResident).toBe(2);
    expect(m.readU32(BASE + w * 4)).toBe(42);
  });

  it("grows (copying, bumping the generation) when a frame beyond it is first written", () => {
    const m = createPhysMemory();
    m.writeU32(BASE, 0x1234_5678);
    const before = m.arenaBytes;
    const words = m.arenaWords;
    const gen = m.generation;
    m.writeU32(BASE + before + 16, 9);
    expect(m.arenaBytes).toBeGreaterThan(before);
    expect(m.arenaWords).not.toBe(words);
    expect(m.generation).not.toBe(gen);
    expect(m.readU32(BASE)).toBe(0x1234_5678);
    expect(m.readU32(BASE + before + 16)).toBe(9);
    expect(m.framesResident).toBe(2);
  });

  it("stops at arenaSize: later frames of the dense window use per-frame storage", () => {
    const m = createPhysMemory({ arenaSize: 2 * PAGE_SIZE });
    m.writeU32(BASE + 3 * PAGE_SIZE, 5);
    m.writeU32(BASE + PAGE_SIZE, 6);
    expect(m.arenaBytes).toBe(2 * PAGE_SIZE);
    expect(m.arenaMaxBytes).toBe(2 * PAGE_SIZE);
    expect(m.readU32(BASE + 3 * PAGE_SIZE)).toBe(5);
    expect(m.readU32(BASE + PAGE_SIZE)).toBe(6);
    expect(m.framesResident).toBe(2);
    m.releaseFrame(BASE / PAGE_SIZE + 3);
    expect(m.framesResident).toBe(1);
  });

  it("falls back to per-frame storage when the host refuses a larger arena", () => {
    const m = createPhysMemory();
    m.writeU32(BASE + 4, 11);
    const reached = m.arenaBytes;
    const Real = globalThis.Uint32Array;
    // A host whose buffers stop at the current arena size (a browser's limit, say).
    class Limited extends Real {
      constructor(...args: unknown[]) {
        if (typeof args[0] === "number" && args[0] * 4 > reached) throw new RangeError("too large");
        super(...(args as [number]));
      }
    }
    globalThis.Uint32Array = Limited as unknown as Uint32ArrayConstructor;
    try {
      m.writeU32(BASE + reached + 8, 22);
    } finally {
      globalThis.Uint32Array = Real;
    }
    expect(m.arenaBytes).toBe(reached);
    expect(m.arenaMaxBytes).toBe(reached);
    expect(m.readU32(BASE + 4)).toBe(11);
    expect(m.readU32(BASE + reached + 8)).toBe(22);
    expect(m.framesResident).toBe(2);
    const plain = createPhysMemory({ arenaSize: 0 });
    plain.writeU32(BASE + 4, 11);
    plain.writeU32(BASE + reached + 8, 22);
    expect(m.contentHash()).toBe(plain.contentHash());
  });

  it("can be turned off, and refuses an unaligned size", () => {
    const m = createPhysMemory({ arenaSize: 0 });
    m.writeU32(BASE, 3);
    expect(m.arenaBytes).toBe(0);
    expect(m.readU32(BASE)).toBe(3);
    expect(() => createPhysMemory({ arenaSize: 100 })).toThrow(/4 KiB aligned/);
  });

  it("hashes, reads and counts like per-frame storage for any writes and releases", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("w" as const),
        frame: fc.nat(700),
        off: fc.nat(4095),
        byte: fc.nat(255),
      }),
      fc.record({ kind: fc.constant("r" as const), frame: fc.nat(700) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const [a, b] = both();
        for (const o of ops) {
          for (const m of [a, b]) {
            if (o.kind === "w") m.writeU8(BASE + o.frame * PAGE_SIZE + o.off, o.byte);
            else m.releaseFrame(BASE / PAGE_SIZE + o.frame);
          }
        }
        expect(a.contentHash()).toBe(b.contentHash());
        expect(a.framesResident).toBe(b.framesResident);
        for (const o of ops) {
          const pa = BASE + o.frame * PAGE_SIZE;
          expect(a.read(pa, 64)).toEqual(b.read(pa, 64));
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("page tables over the arena", () => {
  it("write the same bytes and walk the same as over per-frame storage", () => {
    const results = both().map((memory) => {
      const table = createPageTable("arm-lpae-s1", {
        memory,
        allocator: createPageAllocator(memory),
        ias: 48,
        oas: 48,
        granule: 4096,
      });
      const prot = IOMMU_READ | IOMMU_WRITE;
      for (let i = 0; i < 1500; i++)
        table.mapPages(0x1_0000_0000 + i * 4096, 0x8_0000_0000 + i * 4096, 4096, 1, prot);
      table.mapPages(0x2_0000_0000, 0x9_0000_0000, 2 ** 21, 3, IOMMU_READ);
      const unmapped = [0, 7, 511, 512, 1499].map((i) => table.unmapPages(0x1_0000_0000 + i * 4096, 4096, 1));
      const walks: number[] = [];
      const out = createWalkOut();
      for (const iova of [0x1_0000_0000, 0x1_0000_1008, 0x1_0020_0000, 0x2_0012_3456, 0x3_0000_0000]) {
        table.walker.translate(table.rootAddress, iova, out);
        walks.push(out.fault, out.outputAddress, out.pageSize, out.perm, out.level, out.descriptorAddress);
      }
      return { hash: memory.contentHash(), frames: memory.framesResident, unmapped, walks };
    });
    expect(results[0]).toEqual(results[1]);
  });

  it("forgets a cached leaf table when the table is freed or its parent entry changes", () => {
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48, granule: 4096 });
    const out = createWalkOut();
    const iova = 0x1_0000_0000;
    table.mapPages(iova, 0x8_0000_0000, 4096, 1, IOMMU_READ);
    // Unmapping the 2 MiB around it frees the leaf table; the next 4 KiB map needs a new one.
    expect(table.unmapPages(iova, 2 ** 21, 1)).toBe(2 ** 21);
    table.mapPages(iova + 4096, 0x8_0000_1000, 4096, 1, IOMMU_READ);
    table.walker.translate(table.rootAddress, iova + 4096, out);
    expect(out.outputAddress).toBe(0x8_0000_1000);
    table.walker.translate(table.rootAddress, iova, out);
    expect(out.fault).not.toBe(0);
    // Clear the level-2 entry behind the engine's back: the next map must not use the old table.
    table.walker.translate(table.rootAddress, iova + 4096, out);
    const l3Entry = out.descriptorAddress;
    const trace = table.walk(iova + 4096);
    const l2Entry = Number(trace.steps[2]!.descriptorAddress);
    memory.writeU64(l2Entry, 0n);
    table.mapPages(iova + 8192, 0x8_0000_2000, 4096, 1, IOMMU_READ);
    table.walker.translate(table.rootAddress, iova + 8192, out);
    expect(out.outputAddress).toBe(0x8_0000_2000);
    expect(out.descriptorAddress).not.toBe(l3Entry + 8);
    expect(table.unmapPages(iova + 4096, 4096, 1)).toBe(0);
  });

  it("the one-page unmap fast path follows a parent entry rewritten behind the engine's back", () => {
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48, granule: 4096 });
    const out = createWalkOut();
    const iova = 0x1_0000_0000;
    table.mapPages(iova, 0x8_0000_0000, 4096, 4, IOMMU_READ | IOMMU_WRITE);
    // A first unmap caches the leaf table; a write elsewhere (a device's DMA) leaves it valid.
    expect(table.unmapPages(iova, 4096, 1)).toBe(4096);
    const writesBefore = memory.writes;
    memory.writeU32(0x9000_0000, 0xdead_beef);
    expect(memory.writes).toBeGreaterThan(writesBefore);
    expect(table.unmapPages(iova + 4096, 4096, 1)).toBe(4096);
    // Point the level-2 entry at a copy of the leaf table: the next unmap must clear the copy.
    const l2Entry = Number(table.walk(iova + 8192).steps[2]!.descriptorAddress);
    const oldLeafTable = Number(table.walk(iova + 8192).steps[3]!.tableAddress);
    const copy = 0x7000_0000;
    memory.write(copy, memory.read(oldLeafTable, 4096));
    const l2 = memory.readU64(l2Entry);
    memory.writeU64(l2Entry, (l2 & ~0xffff_ffff_f000n) | BigInt(copy));
    expect(table.unmapPages(iova + 8192, 4096, 1)).toBe(4096);
    expect(memory.readU64(copy + 2 * 8)).toBe(0n);
    expect(memory.readU64(oldLeafTable + 2 * 8)).not.toBe(0n);
    // Clear the level-2 entry: nothing left to unmap there.
    memory.writeU64(l2Entry, 0n);
    expect(table.unmapPages(iova + 3 * 4096, 4096, 1)).toBe(0);
    table.walker.translate(table.rootAddress, iova + 3 * 4096, out);
    expect(out.fault).not.toBe(0);
  });

  it("a map descent does not reuse the previous descent's tables once memory was written", () => {
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48, granule: 4096 });
    const out = createWalkOut();
    const iova = 0x1_0000_0000;
    table.mapPages(iova, 0x8_0000_0000, 4096, 1, IOMMU_READ);
    // Point the level-1 entry at a copy of the level-2 table (the walker now sees the copy).
    const steps = table.walk(iova).steps;
    const l1Entry = Number(steps[1]!.descriptorAddress);
    const l2Table = Number(steps[2]!.tableAddress);
    const copy = 0x7000_0000;
    memory.write(copy, memory.read(l2Table, 4096));
    const l1 = memory.readU64(l1Entry);
    memory.writeU64(l1Entry, (l1 & ~0xffff_ffff_f000n) | BigInt(copy));
    // A map in another 2 MiB of the same 1 GiB needs a new leaf table: linked into the copy.
    table.mapPages(iova + 2 ** 21, 0x8_0020_0000, 4096, 1, IOMMU_READ);
    table.walker.translate(table.rootAddress, iova + 2 ** 21, out);
    expect(out.fault).toBe(0);
    expect(out.outputAddress).toBe(0x8_0020_0000);
    expect(memory.readU64(copy + 8)).not.toBe(0n);
    expect(memory.readU64(l2Table + 8)).toBe(0n);
  });

  it("a map does not take the previous descent's leaf table once its parent entry was rewritten", () => {
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48, granule: 4096 });
    const out = createWalkOut();
    const iova = 0x1_0000_0000;
    // Two sizes in turn, so every map takes the full path and ends with a descent to remember.
    table.mapPages(iova + 2 ** 30, 0x9_0000_0000, 2 ** 21, 1, IOMMU_READ);
    table.mapPages(iova, 0x8_0000_0000, 4096, 1, IOMMU_READ);
    const steps = table.walk(iova).steps;
    const l2Entry = Number(steps[2]!.descriptorAddress);
    const l3Table = Number(steps[3]!.tableAddress);
    const copy = 0x7000_0000;
    memory.write(copy, memory.read(l3Table, 4096));
    const l2 = memory.readU64(l2Entry);
    memory.writeU64(l2Entry, (l2 & ~0xffff_ffff_f000n) | BigInt(copy));
    table.mapPages(iova + 4096, 0x8_0000_1000, 4096, 1, IOMMU_READ);
    expect(memory.readU64(copy + 8)).not.toBe(0n);
    expect(memory.readU64(l3Table + 8)).toBe(0n);
    table.walker.translate(table.rootAddress, iova + 4096, out);
    expect(out.outputAddress).toBe(0x8_0000_1000);
    // Without a write in between, the next map of that leaf table caches it and maps into it.
    table.mapPages(iova + 8192, 0x8_0000_2000, 4096, 1, IOMMU_READ);
    table.mapPages(iova + 12288, 0x8_0000_3000, 4096, 1, IOMMU_READ);
    expect(memory.readU64(copy + 24)).not.toBe(0n);
  });

  it("a map does not descend through tables a block replaced since an earlier descent", () => {
    // fast-check's counterexample: the 1 GiB blocks at 1 GiB replace the tables the first map
    // made at 2 GiB; a later descent must not start from those freed tables.
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s2", { memory, ias: 48, oas: 48, granule: 4096 });
    const G = 2 ** 30;
    table.mapPages(2 * G, 0, 4096, 1, IOMMU_READ);
    table.mapPages(G, 0, G, 2, IOMMU_READ);
    table.mapPages(0, 0, G, 1, IOMMU_READ);
    expect(() => table.mapPages(2 * G + 4096, 0, 4096, 1, IOMMU_READ)).toThrow(/already mapped/);
    expect(() => table.mapPages(0, 0, 4096, 1, IOMMU_READ)).toThrow(/already mapped/);
    expect(table.iovaToPhys(2 * G + 4096)).toBe(BigInt(G + 4096));
  });

  it("keeps the fast map path's template when a map with another prot fails", () => {
    const memory = createPhysMemory();
    const table = createPageTable("arm-lpae-s2", { memory, ias: 48, oas: 48, granule: 65536 });
    const block = 2 ** 29;
    const out = createWalkOut();
    table.mapPages(0, 0, block, 1, IOMMU_READ | IOMMU_WRITE);
    expect(() => table.mapPages(0, 0, block, 1, IOMMU_READ)).toThrow(/already mapped/);
    expect(table.unmapPages(0, block, 1)).toBe(block);
    table.mapPages(0, 0, block, 1, IOMMU_READ | IOMMU_WRITE);
    table.walker.translate(table.rootAddress, 0, out);
    expect(out.perm & (IOMMU_READ | IOMMU_WRITE)).toBe(IOMMU_READ | IOMMU_WRITE);
  });
});
