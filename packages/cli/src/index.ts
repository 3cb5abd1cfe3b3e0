/** iommu-sim - the command line as a library: `runCli(argv)` and the command tree. */
export { createProgram, runCli } from "./cli.js";
export { BENCH_SUITES, type BenchResult } from "./commands/bench.js";
