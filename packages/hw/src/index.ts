/**
 * @iommu-sim/hw - the hardware model: physical memory, bit-exact page-table formats, walkers,
 * IOTLBs, translation units and architecture records. Imports no other iommu-sim package.
 */
export * from "./address.js";
export * from "./errors.js";
export * from "./memory/page-allocator.js";
export * from "./memory/phys-memory.js";
export * from "./page-table/gather.js";
export * from "./page-table/registry.js";
export * from "./page-table/types.js";
export * from "./prot.js";
