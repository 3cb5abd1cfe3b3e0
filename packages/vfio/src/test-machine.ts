// Shared setup of this package's tests: a machine with one reference IOMMU and VFIO over it.
import {
  createIommuCore,
  type IommuCore,
  type IommuDevice,
  type IommuGroup,
  isIommuSimError,
  type PageProvider,
} from "@iommu-sim/iommu";
import {
  createCountingAllocator,
  createReferenceBackend,
  createSparseMemory,
  type ReferenceBackend,
  type ReferenceBackendOptions,
  type SparseMemory,
} from "@iommu-sim/testkit";
import { createVfio, type Vfio, type VfioOptions } from "./container/vfio.js";
import type { VfioScenarioBackendFactory } from "./scenarios.js";

/** System RAM: 4 GiB at 8 GiB (the reference backend's tables live at [4 GiB, 5 GiB)). */
export const ramAllocator = (): PageProvider =>
  createCountingAllocator({ base: 0x2_0000_0000, size: 0x1_0000_0000 });

/** A reference-backend factory for the scenarios and workloads. */
export function referenceFactory(options: ReferenceBackendOptions = {}): VfioScenarioBackendFactory {
  return () => {
    const memory = createSparseMemory();
    return { backend: createReferenceBackend({ memory, ...options }), ram: ramAllocator() };
  };
}

export interface TestMachine {
  core: IommuCore;
  ref: ReferenceBackend;
  memory: SparseMemory;
  ram: PageProvider;
  vfio: Vfio;
  /** Adds a PCIe endpoint at 00:slot.0 behind `iommu` (default "ref0"), alone in its group. */
  addDevice(slot: number, iommu?: string): { device: IommuDevice; group: IommuGroup };
}

/** A machine with one reference IOMMU, VFIO with unsafe interrupts allowed unless told otherwise. */
export function machine(o: { ref?: ReferenceBackendOptions; vfio?: Partial<VfioOptions> } = {}): TestMachine {
  const memory = createSparseMemory();
  const core = createIommuCore({ memory });
  const ref = createReferenceBackend({ memory, ...o.ref });
  core.registerIommu(ref);
  const ram = ramAllocator();
  const vfio = createVfio(core, { ram, memory, allowUnsafeInterrupts: true, ...o.vfio });
  return {
    core,
    ref,
    memory,
    ram,
    vfio,
    addDevice(slot, iommu = ref.name) {
      const device = core.addPciDevice({ bus: 0, slot, kind: "rc-endpoint", iommu });
      const group = core.groupGet(device);
      if (!group) throw new Error("no group");
      return { device, group };
    },
  };
}

/** The errno `fn` throws, or undefined. */
export function errno(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isIommuSimError(error)) return error.code;
    throw error;
  }
  return undefined;
}
