import { Command, CommanderError } from "commander";
import { registerBench } from "./commands/bench.js";
import { registerDecode } from "./commands/decode.js";
import { registerDemo } from "./commands/demo.js";
import { registerDump } from "./commands/dump.js";
import { registerPlayground } from "./commands/playground.js";
import { registerReplay } from "./commands/replay.js";
import { registerRun } from "./commands/run.js";
import { isCliExit } from "./exit.js";

/** Builds the `iommu-sim` command tree (exported for tests and embedding). */
export function createProgram(): Command {
  const program = new Command("iommu-sim")
    .description(
      "A model of the Linux IOMMU stack: hardware page tables and IOTLBs, the IOMMU API, DMA and VFIO.",
    )
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions()
    .exitOverride();
  registerDemo(program);
  registerBench(program);
  registerDecode(program);
  registerRun(program);
  registerReplay(program);
  registerDump(program);
  registerPlayground(program);
  return program;
}

/**
 * Runs the command line with `argv` (without node and script) and returns the exit code: 0 on
 * success, 1 when a command fails, 2 for a usage error, or a status a command chose itself (see
 * `decode`). Errors are one clear line on stderr.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (isCliExit(error)) return error.status;
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`iommu-sim: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
