import { createAmdVi } from "@iommu-sim/amd-vi";
import { createArmSmmu } from "@iommu-sim/arm-smmu";
import { createArmSmmuV3 } from "@iommu-sim/arm-smmu-v3";
import { benchIovaAllocFree } from "@iommu-sim/dma";
import {
  type BenchResult,
  benchTranslateMiss,
  runIotlbWorkloads,
  runPageTableWorkloads,
} from "@iommu-sim/hw";
import { createIntelVtd } from "@iommu-sim/intel-vtd";
import type { IommuBackend } from "@iommu-sim/iommu";
import { createReferenceBackend, runIommuWorkloads } from "@iommu-sim/testkit/workloads";

export type { BenchResult };

/** A named group of workloads. */
export interface BenchSuite {
  readonly name: string;
  readonly description: string;
  run(): BenchResult[];
}

/** Backends the IOMMU-API workloads run on, by the name their workloads carry. */
export const BENCH_BACKENDS: Array<[string, () => IommuBackend]> = [
  ["reference", () => createReferenceBackend()],
  ["arm-smmu-v3", () => createArmSmmuV3()],
  ["arm-smmu", () => createArmSmmu()],
  ["intel-vtd", () => createIntelVtd()],
  ["amd-vi", () => createAmdVi()],
];

/** Runs `iommu-map4k` / `iommu-unmap4k` on one backend, suffixing the names with the backend's. */
function iommuWorkloads(name: string, make: () => IommuBackend): BenchResult[] {
  return runIommuWorkloads(make).map((r) => ({
    ...r,
    workload: name === "reference" ? r.workload : `${r.workload}-${name}`,
  }));
}

/** Every suite `iommu-sim bench` runs, in order. */
export const BENCH_SUITES: readonly BenchSuite[] = [
  {
    name: "page-table",
    description: "ARM LPAE stage-1 map/walk/unmap, as the native baseline (map4k, walk, unmap4k, map-range)",
    run: () => runPageTableWorkloads(),
  },
  {
    name: "iotlb",
    description: "IOTLB lookups on a warm 1024-entry 4-way LRU IOTLB (iotlb-hit)",
    run: () => runIotlbWorkloads(),
  },
  {
    name: "translate",
    description: "IOTLB miss, walk and fill through the translation unit (translate-miss)",
    run: () => [benchTranslateMiss()],
  },
  {
    name: "iommu",
    description:
      "262144 single-page maps then unmaps through the IOMMU API, per backend (iommu-map4k, iommu-unmap4k)",
    run: () => BENCH_BACKENDS.flatMap(([name, make]) => iommuWorkloads(name, make)),
  },
  {
    name: "dma",
    description: "IOVA allocator pairs of alloc/free, cache warm (iova-alloc-free)",
    run: () => [benchIovaAllocFree()],
  },
];
