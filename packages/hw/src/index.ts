/**
 * @iommu-sim/hw - the hardware model: physical memory, bit-exact page-table formats, walkers,
 * IOTLBs, translation units and architecture records. Imports no other iommu-sim package.
 */
export * from "./address.js";
export { type BenchResult, benchNow } from "./bench/clock.js";
export {
  benchIotlbHit,
  type IotlbWorkloadOptions,
  type IotlbWorkloadResult,
  runIotlbWorkloads,
} from "./bench/iotlb.bench-workloads.js";
export {
  type PageTableWorkloadOptions,
  type PageTableWorkloadResult,
  runPageTableWorkloads,
} from "./bench/page-table.bench-workloads.js";
export { benchTranslateMiss } from "./bench/translate.bench-workloads.js";
export * from "./errors.js";
export * from "./formats/amd-v1/index.js";
export * from "./formats/arm-lpae/index.js";
export * from "./formats/arm-v7s/index.js";
export * from "./formats/intel-vtd/index.js";
export * from "./iotlb/iotlb.js";
export * from "./iotlb/types.js";
export * from "./iotlb/walk-cache.js";
export * from "./memory/page-allocator.js";
export * from "./memory/phys-memory.js";
export * from "./page-table/gather.js";
export * from "./page-table/radix-table.js";
export * from "./page-table/registry.js";
export * from "./page-table/types.js";
export * from "./prot.js";
export * from "./records/amd-command.js";
export * from "./records/amd-event.js";
export * from "./records/queue.js";
export * from "./records/record-codec.js";
export * from "./records/smmu-command.js";
export * from "./records/smmu-event.js";
export * from "./records/smmu-range-invalidation.js";
export * from "./records/vtd-descriptor.js";
export * from "./records/vtd-fault.js";
export * from "./records/vtd-psi.js";
export * from "./translation/translation-unit.js";
export * from "./translation/types.js";
export { walkCacheLevelsFor, walkCacheOptionFor } from "./translation/walk-cache-levels.js";
