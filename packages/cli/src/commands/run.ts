import type { Command } from "commander";
import { readLogInput } from "../decode/read-input.js";
import { CliExit } from "../exit.js";
import { loadScenario, renderScenarioReport, runScenario, traceToJson } from "../scenario/index.js";

const HELP_AFTER = `
Builds the machine a scenario describes (IOMMUs of any backend, PCI topology, platform devices,
memory), runs its steps (domain.alloc, attach, detach, map, unmap, invalidate, flush, dma.read,
dma.write, memory.write, clock.advance, expect, dump) and reports what happened, step by step.
The format is documented in docs/scenarios.md; its JSON Schema is scenario.schema.json.

Output: a table on stdout (notes, failures and dumps under their steps), or with --json one JSON
object: { file, name, ok, steps: [{ index, kind, path, line, status, summary, failures, ... }],
final: <machine snapshot> } (--snapshots adds the snapshot after every step).

Exit status:
  0  every step passed
  1  a step failed (an expectation did not hold, an operation failed unexpectedly), or the
     scenario could not be read or has a mistake (reported as FILE:LINE: FIELD: message)
  2  usage error

Examples:
  $ iommu-sim run examples/01-smmuv3-page-table.yaml
  $ iommu-sim run my-scenario.json --json | jq '.steps[] | select(.status != "ok")'
  $ cat scenario.yaml | iommu-sim run -
`;

/** `iommu-sim run SCENARIO [--json] [--snapshots]`: run a declarative scenario. */
export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a scenario (YAML or JSON): a machine and steps, with expectations")
    .argument("<scenario>", "scenario file (.yaml, .yml or .json); - reads standard input")
    .option("--json", "print the run as one JSON object")
    .option("--snapshots", "with --json: include the machine snapshot after every step")
    .addHelpText("after", HELP_AFTER)
    .action(async (file: string, options: { json?: boolean; snapshots?: boolean }) => {
      const name = file === "-" ? "<stdin>" : file;
      const scenario = loadScenario(await readLogInput(file), name);
      const trace = runScenario(scenario, { snapshots: options.json === true });
      process.stdout.write(
        options.json
          ? `${JSON.stringify(traceToJson(trace, { snapshots: options.snapshots === true }), null, 2)}\n`
          : renderScenarioReport(trace),
      );
      if (!trace.ok) {
        const bad = trace.steps.find((s) => s.status === "failed" || s.status === "error");
        if (bad)
          process.stderr.write(
            `iommu-sim: run: ${name}:${bad.line}: ${bad.path} (${bad.kind}) ${bad.status}: ${bad.failures[0] ?? bad.summary}\n`,
          );
        throw new CliExit(1);
      }
    });
}
