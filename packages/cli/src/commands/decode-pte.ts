import { formatNames } from "@iommu-sim/hw";
import type { Command } from "commander";
import {
  asFormatName,
  DEFAULT_LEAF_LEVEL,
  decodePte,
  parseDescriptorValue,
  renderPteTable,
} from "../pte/decode-pte.js";

const GRANULES: Readonly<Record<string, number>> = { "4k": 4096, "16k": 16384, "64k": 65536 };

const HELP_AFTER = `
Decodes raw page-table descriptors with the hardware model's decoder: entry type (table, page,
block, section, supersection, large-page, small-page, invalid), next-table or output address, size,
permissions and memory type as IOMMU_* names, and every architectural field by its spec name.

Levels are in each format's own numbering: ARM LPAE 0..3 (3 = 4K pages with a 4K granule),
ARMv7s 1..2, AMD v1 and Intel VT-d 0 = the 4K leaf level, 1 = 2M, 2 = 1G. Without --level the
leaf-page level is used (LPAE 3, v7s 2, AMD/VT-d 0).

Exit status:
  0  every value decoded
  1  a value could not be decoded at that level
  2  usage error (unknown format or granule, a value that is not a number, no value)

Examples:
  $ iommu-sim decode pte --format arm-lpae-s1 0x0060000000000F47
  $ iommu-sim decode pte --format arm-lpae-s1 --level 2 0x0060000040000F45 --json
  $ iommu-sim decode pte --format arm-v7s --level 1 0x020B1C1E
  $ iommu-sim decode pte --format amd-v1 0x7000000012345001 0x7000000020007E01
  $ iommu-sim decode pte --format intel-vtd-ss --level 1 0x40000083
`;

/** Adds `decode pte --format NAME [--granule G] [--level N] VALUE... [--json]` under `decode`. */
export function registerDecodePte(decode: Command): void {
  decode
    .command("pte")
    .description("decode raw page-table descriptors of a format (type, address, permissions, fields)")
    .argument("<value...>", "descriptor values, hex (0x...) or decimal")
    .requiredOption("--format <name>", `page-table format: ${formatNames().join(", ")}`)
    .option("--granule <size>", "ARM LPAE translation granule: 4k, 16k or 64k", "4k")
    .option("--level <n>", "table level of the descriptors (format's numbering)")
    .option("--json", "print a JSON array, one object per value")
    .addHelpText("after", HELP_AFTER)
    .action(
      (
        values: string[],
        options: { format: string; granule: string; level?: string; json?: boolean },
        command: Command,
      ) => {
        const usage = (message: string): never =>
          command.error(`error: ${message}`, { exitCode: 2, code: "iommu-sim.decode.pte.usage" });
        const format =
          asFormatName(options.format) ??
          usage(`unknown format "${options.format}" (known: ${formatNames().join(", ")})`);
        const granule =
          GRANULES[options.granule.toLowerCase()] ??
          usage(`unknown granule "${options.granule}" (use 4k, 16k or 64k)`);
        let level = DEFAULT_LEAF_LEVEL[format];
        if (options.level !== undefined) {
          if (!/^\d$/.test(options.level))
            usage(`--level must be a level number like 3, got "${options.level}"`);
          level = Number(options.level);
        }
        const parsed = values.map(
          (v) =>
            parseDescriptorValue(v) ??
            usage(`"${v}" is not a descriptor value (hex like 0x0060000000000F47, or decimal)`),
        );
        const rows = parsed.map((v) => {
          try {
            return decodePte(format, v, level, granule);
          } catch (error) {
            throw new Error(
              `decode pte: ${format} level ${level}: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
        });
        process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : renderPteTable(rows));
      },
    );
}
