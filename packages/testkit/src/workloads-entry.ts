/**
 * `@iommu-sim/testkit/workloads`: the benchmark workloads and the reference backend, without the
 * conformance suite, so a program can run them without vitest installed.
 */
export * from "./reference/reference-backend.js";
export * from "./reference/sparse-memory.js";
export * from "./workloads.js";
