import type { Command } from "commander";

/** One benchmark result line, the format `../shared/baselines/compare.mjs` reads. */
export interface BenchResult {
  workload: string;
  ops: number;
  ns_per_op: number;
}

/** Every workload suite the project has; each returns its results. */
export const BENCH_SUITES: Array<{ name: string; run: () => BenchResult[] | Promise<BenchResult[]> }> = [];

/** `iommu-sim bench [--json]`: run the benchmark workloads. */
export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("run the benchmark workloads (one JSON object per line with --json)")
    .option("--json", "print one JSON object per workload per line")
    .option("--only <names>", "comma-separated workload suites to run")
    .action(async (options: { json?: boolean; only?: string }) => {
      const only = options.only?.split(",");
      for (const suite of BENCH_SUITES) {
        if (only && !only.includes(suite.name)) continue;
        for (const r of await suite.run()) {
          process.stdout.write(
            options.json
              ? `${JSON.stringify(r)}\n`
              : `${r.workload.padEnd(22)} ${r.ns_per_op.toFixed(2).padStart(12)} ns/op  (${r.ops} ops)\n`,
          );
        }
      }
    });
}
