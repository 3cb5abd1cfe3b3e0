import type { Command } from "commander";
import { readLogInput } from "../decode/read-input.js";
import { createProgressBar } from "../progress.js";
import { renderReplay } from "../replay/render-replay.js";
import { replayTrace } from "../replay/replay-trace.js";
import { BACKEND_KINDS } from "../scenario/backends.js";

const HELP_AFTER = `
Replays iommu tracepoint output (ftrace: map, unmap and io_page_fault lines; anything else is
ignored) through the IOMMU API on a model machine: every map and unmap is applied to one
unmanaged domain (the tracepoints name no domain) on the chosen backend. Reports:
  - live mappings over time (count and bytes), and the peak
  - a histogram of map sizes, and the IOVA span
  - for each recorded fault, its explanation: never mapped; use after unmap (the unmap's event
    number, line and time); mapped read-only when the trace prints prot=; or still mapped
Events the model refuses (an overlapping map from a partial trace) are listed as warnings.
A progress bar is drawn on stderr for large traces when stderr is a terminal.

Exit status:
  0  replayed
  1  the trace could not be read
  2  usage error

Examples:
  $ iommu-sim replay /sys/kernel/tracing/trace
  $ trace-cmd report | iommu-sim replay - --json | jq '.faults'
  $ iommu-sim replay trace.txt --backend arm-smmu-v3
`;

/** `iommu-sim replay TRACE [--backend B] [--json]`: replay iommu tracepoints and explain faults. */
export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("replay iommu tracepoint output on a model machine and explain each fault")
    .argument("<trace>", "ftrace output file; - reads standard input")
    .option("--backend <kind>", `model backend: ${BACKEND_KINDS.map((k) => k.name).join(", ")}`, "reference")
    .option("--json", "print the report as JSON")
    .addHelpText("after", HELP_AFTER)
    .action(async (file: string, options: { backend: string; json?: boolean }, command: Command) => {
      if (!BACKEND_KINDS.some((k) => k.name === options.backend))
        command.error(
          `error: unknown backend "${options.backend}" (known: ${BACKEND_KINDS.map((k) => k.name).join(", ")})`,
          { exitCode: 2, code: "iommu-sim.replay.backend" },
        );
      const text = await readLogInput(file);
      const bar = createProgressBar(process.stderr, "events");
      let report: ReturnType<typeof replayTrace>;
      try {
        report = replayTrace(text, { backend: options.backend, onProgress: (d, t) => bar.update(d, t) });
      } finally {
        bar.done();
      }
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReplay(report));
    });
}
