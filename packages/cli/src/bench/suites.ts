import { benchIovaAllocFree, DMA_BENCH_WORKLOADS } from "@iommu-sim/dma";
import {
  type BenchResult,
  benchTranslateMiss,
  runIotlbWorkloads,
  runPageTableWorkloads,
} from "@iommu-sim/hw";
import { runIommuWorkloads } from "@iommu-sim/testkit/workloads";
import { VFIO_BENCH_WORKLOADS } from "@iommu-sim/vfio";
import { MACHINE_FACTORIES, type SimMachine } from "./machines.js";

export type { BenchResult };

/** A named group of workloads. */
export interface BenchSuite {
  readonly name: string;
  readonly description: string;
  run(): BenchResult[];
}

/** `name` on the reference backend, `name-backend` on the others. */
function named(workload: string, backend: string): string {
  return backend === "reference" ? workload : `${workload}-${backend}`;
}

/** Runs `run` on every machine, renaming its results per backend. */
function perBackend(run: (make: () => SimMachine) => BenchResult[]): BenchResult[] {
  return MACHINE_FACTORIES.flatMap(([backend, make]) =>
    run(make).map((r) => ({ workload: named(r.workload, backend), ops: r.ops, ns_per_op: r.ns_per_op })),
  );
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
    run: () => perBackend((make) => runIommuWorkloads(() => make().backend)),
  },
  {
    name: "dma",
    description:
      "IOVA alloc/free pairs (iova-alloc-free); DMA-API map+unmap of 4 KiB strict and lazy, 64-segment sg, per backend",
    run: () => [
      benchIovaAllocFree(),
      ...perBackend((make) => Object.values(DMA_BENCH_WORKLOADS).map((bench) => bench(make))),
    ],
  },
  {
    name: "vfio",
    description: "VFIO map+unmap of 1 GiB of process memory in one call, 4 KiB and 2 MiB pages, per backend",
    run: () =>
      perBackend((make) =>
        Object.entries(VFIO_BENCH_WORKLOADS).flatMap(([name, bench]) => {
          try {
            return [bench(make)];
          } catch (error) {
            // A backend without 2 MiB pages refuses the 2 MiB workload (EOPNOTSUPP): no figure.
            if ((error as { code?: string }).code === "EOPNOTSUPP") return [];
            throw new Error(`${name}: ${(error as Error).message}`, { cause: error });
          }
        }),
      ),
  },
];
