/**
 * @iommu-sim/testkit - the backend conformance suite, a reference software backend, a mapping
 * oracle, fast-check arbitraries and the IOMMU API benchmark workloads.
 */
export * from "./arbitraries.js";
export * from "./conformance.js";
export * from "./oracle.js";
export * from "./reference/counting-allocator.js";
export * from "./reference/reference-backend.js";
export type { Leaf, PartialUnmapPolicy, ReferenceStats } from "./reference/reference-domain.js";
export * from "./reference/sparse-memory.js";
export * from "./workloads.js";
