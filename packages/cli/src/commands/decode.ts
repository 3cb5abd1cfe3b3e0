import type { Command } from "commander";
import { decodeLog } from "../decode/decode-log.js";
import { readLogInput } from "../decode/read-input.js";
import { renderJson } from "../decode/render-json.js";
import { renderTable } from "../decode/render-table.js";
import { CliExit } from "../exit.js";
import { registerDecodePte } from "./decode-pte.js";

/** Exit status of `decode` when some recognised blocks could not be decoded (output is still complete). */
export const EXIT_UNDECODED = 3;

const HELP_AFTER = `
Reads kernel log text as pasted (dmesg, journalctl, syslog, ftrace; timestamps, prefixes, tabs,
CRLF and unrelated lines are fine) and decodes every IOMMU record in it:
  arm-smmu-v3 event dumps, arm-smmu context faults, Intel DMAR faults, AMD-Vi events and the
  iommu tracepoints (map, unmap, attach/detach, group add/remove, io_page_fault).
A record it recognises but cannot decode is still listed, with an error, and warned about.

Output: a table on stdout, or with --json a JSON array with one object per record in input order.
Warnings go to stderr as "iommu-sim: decode: line N: ...".

Exit status:
  0  every recognised record was decoded (also when there were none)
  1  the input could not be read or is not text
  2  usage error (unknown option, no input)
  3  some recognised records could not be decoded (they carry an "error" field)

Raw page-table descriptors: see "iommu-sim decode pte --help" (a log file named "pte" is
read with "iommu-sim decode ./pte").

Examples:
  $ dmesg | iommu-sim decode
  $ journalctl -k -b -1 | iommu-sim decode - --json
  $ iommu-sim decode serial-console.log
  $ cat /sys/kernel/tracing/trace | iommu-sim decode --json | jq '.[] | select(.event == "map")'
`;

/** `iommu-sim decode [FILE|-] [--json]`: decode the IOMMU records in kernel log text. */
export function registerDecode(program: Command): void {
  const decode = program
    .command("decode")
    .description("decode IOMMU fault and event records and iommu trace lines in kernel log text")
    .argument("[file]", "log file to read; - or nothing reads standard input")
    .option("--json", "print a JSON array, one object per record")
    .addHelpText("after", HELP_AFTER)
    .action(async (file: string | undefined, options: { json?: boolean }, command: Command) => {
      if (file === undefined && process.stdin.isTTY) {
        command.error("error: no input: give a FILE, or pipe a log into standard input (use - to type one)", {
          exitCode: 2,
          code: "iommu-sim.decode.noInput",
        });
      }
      const text = await readLogInput(file ?? "-");
      const { records, warnings } = decodeLog(text);
      process.stdout.write(options.json ? renderJson(records) : renderTable(records));
      for (const w of warnings) process.stderr.write(`iommu-sim: decode: line ${w.line}: ${w.message}\n`);
      if (records.some((r) => r.error !== undefined)) throw new CliExit(EXIT_UNDECODED);
    });
  // `decode pte ... --json` belongs to `pte`, not to `decode`.
  decode
    .enablePositionalOptions()
    .usage("[options] [file]\n       iommu-sim decode pte --format NAME [options] <value...>");
  registerDecodePte(decode);
}
