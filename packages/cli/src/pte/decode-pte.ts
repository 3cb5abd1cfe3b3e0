/**
 * Decoding raw page-table descriptors of any registered format (`iommu-sim decode pte`), with the
 * hardware model's decoder: entry type, output or next-table address, size, permissions and every
 * architectural field.
 */
import {
  type DecodedDescriptor,
  decodeDescriptor,
  type FormatName,
  formatNames,
  protToString,
} from "@iommu-sim/hw";
import { hex, sizeText } from "../scenario/format.js";

/** A decoded descriptor in the shape `decode pte --json` prints. */
export interface PteDecoding {
  readonly format: string;
  readonly level: number;
  readonly granule: number;
  /** The raw value as given, normalised to hex. */
  readonly descriptor: string;
  readonly type: string;
  readonly outputAddress?: string;
  readonly nextTable?: string;
  readonly size?: string;
  /** IOMMU_* permission and memory-type names (`READ|WRITE|CACHE|NOEXEC`). */
  readonly prot?: string;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

/** The level a format's leaf page entries are at, when `--level` is not given. */
export const DEFAULT_LEAF_LEVEL: Readonly<Record<FormatName, number>> = {
  "arm-lpae-s1": 3,
  "arm-lpae-s2": 3,
  "arm-v7s": 2,
  "amd-v1": 0,
  "intel-vtd-ss": 0,
  "intel-vtd-fs": 0,
};

/** Parses a descriptor given on the command line (`0x...` or decimal, `_` allowed). */
export function parseDescriptorValue(text: string): bigint | undefined {
  const t = text.trim().replaceAll("_", "");
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) return undefined;
  const v = BigInt(t);
  return v < 1n << 64n ? v : undefined;
}

/** Checks a format name against the registry; returns it typed, or `undefined`. */
export function asFormatName(name: string): FormatName | undefined {
  return (formatNames() as string[]).includes(name) ? (name as FormatName) : undefined;
}

/** Decodes one descriptor. Throws the hardware model's `EINVAL` for a level the format lacks. */
export function decodePte(format: FormatName, value: bigint, level: number, granule: number): PteDecoding {
  const d: DecodedDescriptor = decodeDescriptor(format, value, { level, granule });
  const fields: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(d.fields)) fields[k] = typeof v === "bigint" ? hex(v) : v;
  const leaf = d.type !== "table" && d.type !== "invalid";
  return {
    format,
    level,
    granule,
    descriptor: hex(value),
    type: d.type,
    ...(d.outputAddress !== undefined && leaf && { outputAddress: hex(d.outputAddress) }),
    ...(d.nextTable !== undefined && { nextTable: hex(d.nextTable) }),
    ...(d.pageSize !== undefined && leaf && { size: sizeText(d.pageSize) }),
    ...(d.prot !== undefined && leaf && { prot: protToString(d.prot) }),
    fields,
  };
}

/** Renders decodings as text blocks: a headline per descriptor, then its fields. */
export function renderPteTable(rows: readonly PteDecoding[]): string {
  const out: string[] = [];
  for (const r of rows) {
    const what =
      r.type === "table"
        ? `table -> ${r.nextTable ?? "?"}`
        : r.type === "invalid"
          ? "invalid (not present)"
          : `${r.type} -> ${r.outputAddress ?? "?"}${r.size ? ` ${r.size}` : ""}${r.prot ? ` ${r.prot}` : ""}`;
    out.push(
      `${r.descriptor}  ${r.format} level ${r.level}${r.format.startsWith("arm-lpae") ? ` granule ${sizeText(r.granule)}` : ""}: ${what}`,
    );
    const fields = Object.entries(r.fields).map(
      ([k, v]) => `${k}=${typeof v === "boolean" ? (v ? 1 : 0) : v}`,
    );
    if (fields.length) out.push(`  ${fields.join(" ")}`);
  }
  return `${out.join("\n")}\n`;
}
