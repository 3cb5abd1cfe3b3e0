import { describe, expect, it } from "vitest";
import { createPageTable } from "../page-table/registry.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createPageAllocator } from "./page-allocator.js";
import { createPhysMemory } from "./phys-memory.js";

describe("memory footprint tracks what is mapped", () => {
  it("64 GiB mapped in 4 KiB pages costs the tables themselves: 32768 leaf tables (128 MiB) + 66", () => {
    const memory = createPhysMemory();
    const allocator = createPageAllocator(memory);
    const table = createPageTable("arm-lpae-s1", { memory, allocator, ias: 48, oas: 48 });
    const base = 0x80_0000_0000; // 512 GiB: one level-0 entry covers the whole range
    // One call per leaf table (512 x 4 KiB): still 16M 4 KiB descriptors, written by the engine.
    for (let t = 0; t < 32768; t++) {
      table.mapPages(
        base + t * 0x20_0000,
        0x1_0000_0000 + t * 0x20_0000,
        4096,
        512,
        IOMMU_READ | IOMMU_WRITE,
      );
    }
    // 4K granule, 48-bit: 1 level-0 table, 1 level-1, 64 level-2 (one per GiB), 32768 level-3.
    expect(allocator.pagesInUse).toBe(1 + 1 + 64 + 32768);
    expect(memory.framesResident).toBe(allocator.pagesInUse);
    expect(memory.bytesResident).toBe(32834 * 4096); // 128.26 MiB for 64 GiB mapped
    expect(table.iovaToPhys(base + 0xf_ffff_f123)).toBe(0x1_0000_0000n + 0xf_ffff_f123n);
    table.free();
    expect(allocator.pagesInUse).toBe(0);
    expect(memory.framesResident).toBe(0);
  });
});
