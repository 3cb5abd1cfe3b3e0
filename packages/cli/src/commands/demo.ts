import type { Command } from "commander";
import { type Act, groupActs } from "../demo/acts.js";
import { narrate } from "../demo/narrate.js";
import { createStyle, wantColor } from "../demo/style.js";
import { CliExit } from "../exit.js";
import { DEMO_BACKENDS, demoScenario, isDemoBackend, runScenario, traceToJson } from "../scenario/index.js";

const HELP_AFTER = `
The story, in acts: devices probed into groups with default DMA domains; a driver using the DMA API
without knowing about the IOMMU (the mapping, the device's DMA through the hardware, the page-table
walk level by level, IOTLB hits and misses); two bus masters sharing one ARM-style mapping; a driver
taking its device into its own domain (the DMA API refused) and detaching (back on the default
domain); a process mapping its memory for a device through VFIO; and an access to unmapped memory
producing the architecture's fault record, decoded.

The story is the scenario demoScenario(backend) of iommu-sim/scenario, which the playground runs too.
Colour only when standard output is a terminal (and NO_COLOR is unset).

Exit status:
  0  the story ran as told
  1  a step did not go as the story says
  2  usage error (unknown backend or option)

Examples:
  $ iommu-sim demo
  $ iommu-sim demo --backend intel-vtd
  $ iommu-sim demo --backend amd-vi --json | jq '.acts[].title'
`;

/** `iommu-sim demo [--backend B] [--json]`: the story, run on a simulated machine and narrated. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("narrate the IOMMU story on a simulated machine")
    .option("--backend <kind>", `the IOMMU: ${DEMO_BACKENDS.join(", ")}`, "arm-smmu-v3")
    .option("--json", "print the trace, grouped into acts, as JSON")
    .addHelpText("after", HELP_AFTER)
    .action((options: { backend: string; json?: boolean }) => {
      const backend = options.backend;
      if (!isDemoBackend(backend)) {
        process.stderr.write(
          `iommu-sim: demo: unknown backend "${backend}" (known: ${DEMO_BACKENDS.join(", ")})\n`,
        );
        throw new CliExit(2);
      }
      const trace = runScenario(demoScenario(backend));
      if (options.json) {
        const json = traceToJson(trace) as { steps: unknown[]; final: unknown };
        const acts = groupActs(trace.steps).map((a: Act) => ({
          number: a.number,
          title: a.title,
          note: a.note,
          steps: json.steps.filter((s) => a.steps.some((t) => t.index === (s as { index: number }).index)),
        }));
        const doc = { name: trace.name, backend, ok: trace.ok, acts, final: json.final };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } else {
        const style = createStyle(wantColor(process.stdout, process.env));
        process.stdout.write(narrate(trace, { style, backend }));
      }
      if (!trace.ok) {
        const first = trace.steps.find((s) => s.status !== "ok");
        throw new Error(
          `demo: ${first?.path} (${first?.kind}) did not go as the story says: ${first?.failures.join("; ")}`,
        );
      }
    });
}
