/** iommu-sim - the command line as a library: `runCli(argv)` and the command tree. */
export { MACHINE_FACTORIES, type SimMachine } from "./bench/machines.js";
export { BENCH_SUITES, type BenchResult, type BenchSuite } from "./bench/suites.js";
export { createProgram, runCli } from "./cli.js";
export { type StaticServer, serveStatic } from "./commands/playground.js";
