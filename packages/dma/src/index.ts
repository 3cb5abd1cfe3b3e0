/**
 * @iommu-sim/dma - the Linux DMA API over the IOMMU API: the IOVA allocator and its range caches,
 * dma-iommu's allocation policy and flush queue, swiotlb slot bookkeeping and the ARM32
 * `arm_iommu_*` bitmap allocator.
 */
export * from "./arm/bitmap-allocator.js";
export type { ArmIommuMapping } from "./arm/mapping.js";
export * from "./bench/dma.bench-workloads.js";
export {
  type BenchResult as IovaBenchResult,
  benchIovaAllocFree,
  IOVA_BENCH_WORKLOADS,
} from "./bench/iova.bench-workloads.js";
export * from "./debug/dma-debug.js";
export * from "./direction.js";
export * from "./dma-api.js";
export * from "./flush-queue/flush-queue.js";
export * from "./iommu-dma/sg-layout.js";
export {
  createIovaDomain,
  fls,
  IOVA_ANCHOR,
  type Iova,
  type IovaDomain,
  type IovaDomainOptions,
  type IovaDomainSnapshot,
  MAX_IOVA_PFN,
} from "./iova/iova-domain.js";
export * from "./iova/policy.js";
export * from "./iova/rcache.js";
export * from "./scatterlist.js";
export * from "./scenarios.js";
export * from "./swiotlb/pool.js";
export { createSwiotlb, type Swiotlb, type SwiotlbBounceStats } from "./swiotlb/swiotlb.js";
