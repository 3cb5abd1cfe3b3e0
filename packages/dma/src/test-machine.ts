// Shared setup of this package's tests: machines on the reference backend.

import type { PageProvider } from "@iommu-sim/iommu";
import { createIommuCore, type IommuCap, type IommuCore, isIommuSimError } from "@iommu-sim/iommu";
import {
  createCountingAllocator,
  createReferenceBackend,
  createSparseMemory,
  type ReferenceBackend,
  type ReferenceBackendOptions,
  type SparseMemory,
} from "@iommu-sim/testkit";
import { createDmaApi, type DmaApi, type DmaApiOptions } from "./dma-api.js";
import type { DmaScenarioBackendFactory } from "./scenarios.js";

/** RAM below 4 GiB (1 GiB at 1 GiB); the reference backend's tables live at 4 GiB and up. */
export const ramAllocator = (): PageProvider =>
  createCountingAllocator({ base: 0x4000_0000, size: 0x4000_0000 });

/** A reference-backend factory for the scenarios. */
export function referenceFactory(options: ReferenceBackendOptions = {}): DmaScenarioBackendFactory {
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
  dma: DmaApi;
}

export const LAZY_CAPS: readonly IommuCap[] = ["cache-coherency", "noexec", "deferred-flush"];

/** A machine with one reference IOMMU and the DMA API (debug on, 1 MiB swiotlb). */
export function machine(
  o: {
    strict?: boolean;
    passthrough?: boolean;
    ref?: ReferenceBackendOptions;
    dma?: Partial<DmaApiOptions>;
  } = {},
): TestMachine {
  const memory = createSparseMemory();
  const core = createIommuCore({ strict: o.strict ?? true, passthrough: o.passthrough ?? false, memory });
  const ref = createReferenceBackend({ memory, ...o.ref });
  core.registerIommu(ref);
  const ram = ramAllocator();
  const dma = createDmaApi(core, { ram, swiotlb: { size: 1 << 20 }, debug: true, ...o.dma });
  return { core, ref, memory, ram, dma };
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
