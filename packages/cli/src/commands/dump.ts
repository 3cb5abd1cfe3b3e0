import type { Command } from "commander";
import { readLogInput } from "../decode/read-input.js";
import { CliExit } from "../exit.js";
import {
  type DomainDump,
  dumpDomains,
  type IotlbDump,
  loadScenario,
  renderIotlbDump,
  renderPageTableDump,
  runScenario,
} from "../scenario/index.js";

const HELP_AFTER = `
Runs a scenario (see "iommu-sim run --help"), then dumps domains as they are at the end: the page
table as a tree of the entries the hardware walker reads (level, index, raw descriptor, decoded
type, output address, size, permissions and every architectural field), and the IOTLB contents of
their IOMMUs with statistics. A "dump" step inside a scenario shows the same at that point.

DOMAIN is a name from a domain.alloc step, default:DEVICE (a device's default domain) or
current:DEVICE (the domain its group is attached to). Without --domain every live paging domain is
dumped. Backends that keep no page-table bytes (the reference backend) show none.

Exit status:
  0  dumped, and every step of the scenario passed
  1  a step failed (the dump is still printed), an unknown domain, or an unreadable scenario
  2  usage error

Examples:
  $ iommu-sim dump examples/01-smmuv3-page-table.yaml --domain d1
  $ iommu-sim dump examples/03-default-domains-dma-faults.yaml --domain default:nic --json
`;

function render(domains: readonly DomainDump[], iotlbs: readonly IotlbDump[]): string {
  const out: string[] = [];
  for (const d of domains) {
    out.push(
      `domain ${d.domain} (#${d.id}, ${d.iommu}): ${d.pageTable ? renderPageTableDump(d.pageTable) : "no page-table bytes to show"}`,
    );
  }
  for (const t of iotlbs) out.push(renderIotlbDump(t));
  return `${out.join("\n")}\n`;
}

/** `iommu-sim dump SCENARIO [--domain D]... [--json]`: run a scenario and dump domains at the end. */
export function registerDump(program: Command): void {
  program
    .command("dump")
    .description("run a scenario, then dump domains' page tables as trees and the IOTLBs with statistics")
    .argument("<scenario>", "scenario file (.yaml or .json); - reads standard input")
    .option(
      "--domain <domain>",
      "a domain to dump (repeatable): NAME, default:DEVICE or current:DEVICE",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--limit <leaves>", "walk at most this many leaves per domain", "4096")
    .option("--json", "print { domains: [...], iotlbs: [...] } as JSON")
    .addHelpText("after", HELP_AFTER)
    .action(
      async (
        file: string,
        options: { domain?: string[]; limit: string; json?: boolean },
        command: Command,
      ) => {
        const limit = Number(options.limit);
        if (!Number.isSafeInteger(limit) || limit < 1)
          command.error(`error: --limit must be a positive integer, got "${options.limit}"`, {
            exitCode: 2,
            code: "iommu-sim.dump.limit",
          });
        const name = file === "-" ? "<stdin>" : file;
        const scenario = loadScenario(await readLogInput(file), name);
        let result: ReturnType<typeof dumpDomains> | undefined;
        let failure: unknown;
        const trace = runScenario(scenario, {
          snapshots: false,
          atEnd: (ctx) => {
            try {
              result = dumpDomains(ctx, options.domain ?? [], limit);
            } catch (error) {
              failure = error;
            }
          },
        });
        if (failure !== undefined || result === undefined)
          throw new Error(`dump: ${failure instanceof Error ? failure.message : String(failure)}`);
        process.stdout.write(
          options.json ? `${JSON.stringify(result, null, 2)}\n` : render(result.domains, result.iotlbs),
        );
        if (!trace.ok) {
          const bad = trace.steps.find((s) => s.status === "failed" || s.status === "error");
          process.stderr.write(
            `iommu-sim: dump: ${name}:${bad?.line}: ${bad?.path} (${bad?.kind}) ${bad?.status}: ${bad?.failures[0] ?? ""}\n`,
          );
          throw new CliExit(1);
        }
      },
    );
}
