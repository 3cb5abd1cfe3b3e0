import { createAmdVi } from "@iommu-sim/amd-vi";
import { createArmSmmu } from "@iommu-sim/arm-smmu";
import { createArmSmmuV3 } from "@iommu-sim/arm-smmu-v3";
import { createPageAllocator, createPhysMemory, type PageAllocator, type PhysMemory } from "@iommu-sim/hw";
import { createIntelVtd } from "@iommu-sim/intel-vtd";
import type { IommuBackend } from "@iommu-sim/iommu";
import { createReferenceBackend, createSparseMemory } from "@iommu-sim/testkit/workloads";

/** A backend in a machine whose memory is laid out for the layers above: tables and RAM apart. */
export interface SimMachine {
  readonly backend: IommuBackend;
  /** System RAM for DMA buffers, coherent allocations and user pages: [2 GiB, 3 GiB). */
  readonly ram: PageAllocator;
}

/** Page tables live at 8 GiB and up, away from RAM and from fixed buffers scenarios write. */
const TABLES = { base: 0x2_0000_0000, size: 0x4000_0000 };
const RAM = { base: 0x8000_0000, size: 0x4000_0000 };

function layout(make: (memory: PhysMemory, tables: PageAllocator) => IommuBackend): () => SimMachine {
  return () => {
    const memory = createPhysMemory();
    const tables = createPageAllocator(memory, { ...TABLES, name: "page tables" });
    const ram = createPageAllocator(memory, { ...RAM, name: "system RAM" });
    return { backend: make(memory, tables), ram };
  };
}

/**
 * Every backend as a fresh-machine factory, by name: what the benchmarks and the end-to-end tests
 * run (the same story must give the same observable results on each).
 */
export const MACHINE_FACTORIES: ReadonlyArray<readonly [string, () => SimMachine]> = [
  [
    "reference",
    () => {
      // The reference backend keeps its own flat memory; the RAM allocator only hands out addresses.
      const memory = createSparseMemory();
      const ram = createPageAllocator(createPhysMemory(), { ...RAM, name: "system RAM (addresses only)" });
      return { backend: createReferenceBackend({ memory }), ram };
    },
  ],
  ["arm-smmu-v3", layout((memory, tableAllocator) => createArmSmmuV3({ memory, tableAllocator }))],
  ["arm-smmu", layout((memory, tableAllocator) => createArmSmmu({ memory, tableAllocator }))],
  ["intel-vtd", layout((memory, tableAllocator) => createIntelVtd({ memory, tableAllocator }))],
  ["amd-vi", layout((memory, tableAllocator) => createAmdVi({ memory, tableAllocator }))],
];
