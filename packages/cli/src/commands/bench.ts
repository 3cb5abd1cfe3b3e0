import type { Command } from "commander";
import { BENCH_SUITES } from "../bench/suites.js";

/** `iommu-sim bench [--json] [--only suites]`: run the benchmark workloads. */
export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("run the benchmark workloads (one JSON object per line with --json)")
    .option("--json", "print one JSON object per workload per line")
    .option("--only <suites>", `comma-separated suites: ${BENCH_SUITES.map((s) => s.name).join(", ")}`)
    .addHelpText(
      "after",
      "\nExamples:\n  iommu-sim bench\n  iommu-sim bench --json --only page-table,iotlb\n  node ../shared/baselines/compare.mjs   # ratio to the native C baseline",
    )
    .action((options: { json?: boolean; only?: string }) => {
      const only = options.only?.split(",").map((s) => s.trim());
      const unknown = only?.filter((n) => !BENCH_SUITES.some((s) => s.name === n)) ?? [];
      if (unknown.length)
        throw new Error(
          `unknown benchmark suite "${unknown[0]}" (known: ${BENCH_SUITES.map((s) => s.name).join(", ")})`,
        );
      for (const suite of BENCH_SUITES) {
        if (only && !only.includes(suite.name)) continue;
        for (const r of suite.run()) {
          process.stdout.write(
            options.json
              ? `${JSON.stringify(r)}\n`
              : `${r.workload.padEnd(28)} ${r.ns_per_op.toFixed(2).padStart(12)} ns/op  (${r.ops} ops)\n`,
          );
        }
      }
    });
}
