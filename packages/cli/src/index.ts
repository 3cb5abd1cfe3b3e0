/** iommu-sim - the command line as a library: `runCli(argv)` and the command tree. */
export { BENCH_BACKENDS, BENCH_SUITES, type BenchResult, type BenchSuite } from "./bench/suites.js";
export { createProgram, runCli } from "./cli.js";
