import { describe, expect, it } from "vitest";
import { createPhysMemory } from "../memory/phys-memory.js";
import { createPageTable } from "../page-table/registry.js";
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createTranslationUnit } from "./translation-unit.js";
import { DmaAccess, type StageConfig, type TranslationFault } from "./types.js";

// Descriptors below are written by hand from the Arm ARM / hw-facts 1.2-1.3, not by the encoder:
// table = next | 0b11; S1 4K page RW+CACHE = pa | 0xF47 (nG, AF, SH_IS, AP_UNPRIV, AttrIndx 1, PAGE);
// S1 read-only adds AP_RDONLY (0x80): 0xFC7; S2 block RW+CACHE without XN = pa | 0x7FD.
const T = (pa: number) => BigInt(pa) | 3n;

function stage1Tables() {
  const memory = createPhysMemory();
  const faults: TranslationFault[] = [];
  const tu = createTranslationUnit({ memory, faults: { record: (f) => faults.push(f) } });
  // IOVA 0x12345000: L0 index 0, L1 0, L2 0x91, L3 0x145 (hw-facts A6).
  memory.writeU64(0x100000, T(0x101000));
  memory.writeU64(0x101000, T(0x102000));
  memory.writeU64(0x102000 + 0x91 * 8, T(0x103000));
  memory.writeU64(0x103000 + 0x145 * 8, 0x0000_0000_8765_4fc7n); // read-only
  memory.writeU64(0x103000 + 0x146 * 8, 0x0000_0000_9000_0f47n); // read-write
  const s1: StageConfig = { format: "arm-lpae-s1", root: 0x100000n, ias: 48, oas: 48 };
  tu.setStream(0x10, { mode: "translate", stage1: s1, asid: 1 });
  return { memory, tu, faults };
}

describe("translation unit, stage 1", () => {
  it("walks hand-built tables, fills the IOTLB and hits it next time", () => {
    const { tu } = stage1Tables();
    const out = { fault: -1, outputAddress: 0, pageSize: 0, perm: 0, hit: true };
    expect(tu.translate(0x10, 0x12345678, DmaAccess.READ, out)).toBe(true);
    expect(out).toMatchObject({ fault: 0, outputAddress: 0x87654678, pageSize: 4096, hit: false });
    expect(out.perm & (IOMMU_READ | IOMMU_WRITE)).toBe(IOMMU_READ);
    expect(tu.translate(0x10, 0x12345ffc, DmaAccess.READ, out)).toBe(true);
    expect(out).toMatchObject({ outputAddress: 0x87654ffc, hit: true });
    expect(tu.stats()).toMatchObject({ translations: 2, walks: 1, iotlbHits: 1, faults: 0 });
  });

  it("reports a permission fault for a write to a read-only page, from the walk and from the IOTLB", () => {
    const { tu, faults } = stage1Tables();
    expect(tu.translate(0x10, 0x12345000, DmaAccess.WRITE)).toBe(false);
    expect(faults[0]).toMatchObject({
      kind: "permission",
      stream: 0x10,
      pasid: -1,
      iova: 0x12345000,
      stage: 1,
      level: 3,
      class: "in",
    });
    expect(faults[0]?.descriptor).toBe(0x8765_4fc7n);
    tu.translate(0x10, 0x12345000, DmaAccess.READ); // fills the IOTLB
    expect(tu.translate(0x10, 0x12345000, DmaAccess.WRITE)).toBe(false);
    expect(faults).toHaveLength(2);
    expect(faults[1]).toMatchObject({ kind: "permission", level: 3 });
  });

  it("reports translation faults with the level of the invalid entry, and configuration faults", () => {
    const { tu, faults } = stage1Tables();
    expect(tu.translate(0x10, 0x12347000, DmaAccess.READ)).toBe(false); // L3[0x147] empty
    expect(tu.translate(0x10, 0x4000_0000, DmaAccess.READ)).toBe(false); // L1[1] empty
    expect(tu.translate(0x11, 0x1000, DmaAccess.READ)).toBe(false); // no such stream
    tu.setStream(0x12, { mode: "abort" });
    expect(tu.translate(0x12, 0x1000, DmaAccess.READ)).toBe(false);
    expect(tu.translate(0x10, 0x12346000, DmaAccess.READ, undefined, 3)).toBe(false); // no PASID table
    expect(faults.map((f) => [f.kind, f.level, f.stage])).toEqual([
      ["translation", 3, 1],
      ["translation", 1, 1],
      ["bad-stream", -1, 0],
      ["stream-disabled", -1, 0],
      ["bad-substream", -1, 0],
    ]);
    tu.setStream(0x13, { mode: "bypass" });
    const out = { fault: 0, outputAddress: 0, pageSize: 0, perm: 0, hit: false };
    expect(tu.translate(0x13, 0xabc000, DmaAccess.WRITE, out)).toBe(true);
    expect(out.outputAddress).toBe(0xabc000);
  });

  it("moves DMA bytes across pages, and a faulting DMA leaves memory untouched with one record", () => {
    const { memory, tu, faults } = stage1Tables();
    const before = memory.contentHash();
    // 0x12345ff0..0x12346010 crosses from the read-only page into the read-write one: a write faults.
    const w = tu.dmaWrite(0x10, 0x12345ff0n, new Uint8Array(32).fill(0xaa));
    expect(w.ok).toBe(false);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ kind: "permission", iova: 0x12345ff0 });
    expect(memory.contentHash()).toBe(before);
    expect(tu.dmaWrite(0x10, 0x12346ffen, new Uint8Array([1, 2])).ok).toBe(true);
    expect(memory.readU8(0x90000ffe)).toBe(1);
    expect(memory.readU8(0x90000fff)).toBe(2);
    memory.writeU32(0x87654ffc, 0x04030201);
    const r = tu.dmaRead(0x10, 0x12345ffc, 8);
    expect(r.ok).toBe(true);
    expect([...(r.data ?? [])]).toEqual([1, 2, 3, 4, 0, 0, 0, 0]); // the second page (PA 0x90000000) is zero
  });
});

describe("translation unit, stage 2 and nested", () => {
  function nested() {
    const memory = createPhysMemory();
    const faults: TranslationFault[] = [];
    const tu = createTranslationUnit({ memory, faults: { record: (f) => faults.push(f) } });
    // Stage 2 (4K granule, ias = oas = 40: concatenated level-1 start, 1024 entries over 2 pages).
    // IPA 0x10000000: L1 index 0, L2 index 128 -> 2 MiB block at PA 0x30000000.
    memory.writeU64(0x200000, T(0x202000));
    memory.writeU64(0x202000 + 128 * 8, 0x3000_07fdn);
    // IPA 0x40000000 -> 2 MiB block at PA 0x40000000 (hw-facts A10, with XN): L1 index 1.
    memory.writeU64(0x200000 + 8, T(0x203000));
    memory.writeU64(0x203000, 0x0060_0000_4000_07fdn);
    const s2: StageConfig = { format: "arm-lpae-s2", root: 0x200000n, ias: 40, oas: 40 };
    // Stage-1 tables live at IPAs 0x10000000.. (so at PAs 0x30000000..); descriptors hold IPAs.
    memory.writeU64(0x3000_0000, T(0x1000_1000));
    memory.writeU64(0x3000_1000, T(0x1000_2000));
    memory.writeU64(0x3000_2000 + 0x91 * 8, T(0x1000_3000));
    memory.writeU64(0x3000_3000 + 0x145 * 8, 0x1010_0f47n); // IOVA 0x12345000 -> IPA 0x10100000, RW
    memory.writeU64(0x3000_3000 + 0x146 * 8, 0x5000_0f47n); // IOVA 0x12346000 -> IPA 0x50000000 (no S2)
    const s1: StageConfig = { format: "arm-lpae-s1", root: 0x1000_0000n, ias: 48, oas: 48 };
    tu.setStream(1, { mode: "translate", stage1: s1, stage2: s2, asid: 7, vmid: 3 });
    tu.setStream(2, { mode: "translate", stage2: s2, vmid: 3 });
    tu.setStream(3, {
      mode: "translate",
      stage1: { ...s1, root: 0x2000_0000n },
      stage2: s2,
      asid: 8,
      vmid: 3,
    });
    return { memory, tu, faults };
  }

  it("translates stage 2 alone through a concatenated first level", () => {
    const { tu } = nested();
    const out = { fault: 0, outputAddress: 0, pageSize: 0, perm: 0, hit: false };
    expect(tu.translate(2, 0x4001_2345, DmaAccess.READ, out)).toBe(true);
    expect(out).toMatchObject({ outputAddress: 0x4001_2345, pageSize: 0x20_0000 });
  });

  it("translates every stage-1 table address through stage 2, then the output", () => {
    const { tu } = nested();
    const out = { fault: 0, outputAddress: 0, pageSize: 0, perm: 0, hit: false };
    expect(tu.translate(1, 0x1234_5abc, DmaAccess.WRITE, out)).toBe(true);
    expect(out).toMatchObject({ outputAddress: 0x3010_0abc, pageSize: 4096 });
    expect(out.perm & (IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE)).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    expect(tu.iotlb?.snapshot()[0]).toMatchObject({
      stage: 3,
      asid: 7,
      vmid: 3,
      iova: 0x1234_5000n,
      output: 0x3010_0000n,
    });
  });

  it("reports a stage-2 fault on a stage-1 table fetch as S2, CLASS=TT with the table's IPA", () => {
    const { tu, faults } = nested();
    expect(tu.translate(3, 0x1234_5000, DmaAccess.READ)).toBe(false);
    expect(faults[0]).toMatchObject({
      kind: "translation",
      stage: 2,
      class: "tt",
      ipa: 0x2000_0000,
      iova: 0x1234_5000,
    });
  });

  it("reports a stage-2 fault on the stage-1 output as S2, CLASS=IN with the IPA", () => {
    const { tu, faults } = nested();
    expect(tu.translate(1, 0x1234_6008, DmaAccess.READ)).toBe(false);
    expect(faults[0]).toMatchObject({ kind: "translation", stage: 2, class: "in", ipa: 0x5000_0008 });
  });
});

describe("stale IOTLB entries", () => {
  it("shows a cached translation outliving its page-table entry until invalidated", () => {
    const memory = createPhysMemory();
    const tu = createTranslationUnit({ memory });
    const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48 });
    table.map(0x10000n, 0x800000n, 4096n, 1, IOMMU_READ | IOMMU_WRITE);
    tu.setStream(5, {
      mode: "translate",
      stage1: { format: "arm-lpae-s1", root: table.root, ias: 48, oas: 48 },
      asid: 2,
    });
    expect(tu.probeStale(5, 0x10000n)).toEqual({
      cached: false,
      mapped: true,
      walkOutput: 0x800000n,
      stale: false,
    });
    expect(tu.translate(5, 0x10000, DmaAccess.READ)).toBe(true);
    expect(table.unmap(0x10000n, 4096n, 1)).toBe(4096n);
    expect(tu.probeStale(5, 0x10010n)).toEqual({
      cached: true,
      cachedOutput: 0x800010n,
      mapped: false,
      stale: true,
    });
    expect(tu.translate(5, 0x10000, DmaAccess.WRITE)).toBe(true); // the device still reaches the page
    tu.iotlb?.invalidateRange({ start: 0x10000, size: 4096, filter: { asid: 2 } });
    expect(tu.probeStale(5, 0x10000n).stale).toBe(false);
    expect(tu.translate(5, 0x10000, DmaAccess.READ)).toBe(false);
  });
});
