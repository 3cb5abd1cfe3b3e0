import { createAmdVi } from "@iommu-sim/amd-vi";
import { createArmSmmu } from "@iommu-sim/arm-smmu";
import { createArmSmmuV3 } from "@iommu-sim/arm-smmu-v3";
import { createPageAllocator, createPhysMemory, type PageAllocator, type PhysMemory } from "@iommu-sim/hw";
import { createIntelVtd } from "@iommu-sim/intel-vtd";
import type { IommuBackend } from "@iommu-sim/iommu";
import { createReferenceBackend, createSparseMemory } from "@iommu-sim/testkit";

/** A backend with its machine's memory laid out: page tables and system RAM apart. */
export interface E2eMachine {
  readonly backend: IommuBackend;
  /** System RAM for DMA buffers, below 4 GiB: [2 GiB, 3 GiB). */
  readonly ram: PageAllocator;
}

/** Page tables live at 8 GiB and up, well away from the RAM and the fixed buffers scenarios use. */
const TABLES = { base: 0x2_0000_0000, size: 0x4000_0000 };
const RAM = { base: 0x8000_0000, size: 0x4000_0000 };

function layout(make: (memory: PhysMemory, tables: PageAllocator) => IommuBackend): () => E2eMachine {
  return () => {
    const memory = createPhysMemory();
    const tables = createPageAllocator(memory, { ...TABLES, name: "page tables" });
    const ram = createPageAllocator(memory, { ...RAM, name: "system RAM" });
    return { backend: make(memory, tables), ram };
  };
}

/** Every backend, by name, as the end-to-end tests run them (same story, same expectations). */
export const E2E_BACKENDS: ReadonlyArray<readonly [string, () => E2eMachine]> = [
  [
    "reference",
    () => {
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
