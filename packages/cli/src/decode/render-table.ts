import { type DecodedRecord, RECORD_KEYS } from "./record.js";

/** Keys that have their own column in the table; the rest go to DETAILS as `key=value`. */
const COLUMN_KEYS = new Set<string>([
  "kind",
  "line",
  "event",
  "device",
  "requester",
  "iova",
  "address",
  "error",
]);

function who(record: DecodedRecord): string {
  if (record.device !== undefined) return record.device;
  if (record.requester !== undefined) return record.requester;
  if (record.sid !== undefined) return `sid ${record.sid}`;
  return "-";
}

function where(record: DecodedRecord): string {
  return record.iova ?? record.address ?? "-";
}

function details(record: DecodedRecord): string {
  const parts: string[] = [];
  for (const key of RECORD_KEYS) {
    if (COLUMN_KEYS.has(key)) continue;
    const value = record[key];
    if (value === undefined || (key === "requester" && record.device === undefined)) continue;
    if (typeof value === "boolean") {
      if (value) parts.push(key);
    } else if (key === "reasonText") parts.push(`"${value}"`);
    else if (Array.isArray(value)) parts.push(`${key}=${value.join("|") || "-"}`);
    else parts.push(`${key}=${value === null ? "none" : String(value)}`);
  }
  if (record.requester !== undefined && record.device !== undefined)
    parts.unshift(`requester=${record.requester}`);
  if (record.iova !== undefined && record.address !== undefined) parts.push(`address=${record.address}`);
  if (record.error !== undefined) parts.push(`ERROR: ${record.error}`);
  return parts.join(" ");
}

/**
 * Renders records as a readable table: LINE, KIND, EVENT, DEVICE (device, requester or stream),
 * ADDRESS (IOVA or other address) and DETAILS (every other field as `key=value`, true booleans as
 * their bare name, the reason text quoted, and `ERROR: ...` for a record that could not be
 * decoded). No records gives a one-line note.
 */
export function renderTable(records: readonly DecodedRecord[]): string {
  if (records.length === 0) return "no IOMMU records found\n";
  const header = ["LINE", "KIND", "EVENT", "DEVICE", "ADDRESS", "DETAILS"];
  const rows = records.map((r) => [String(r.line), r.kind, r.event ?? "-", who(r), where(r), details(r)]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const format = (row: readonly string[]) =>
    row
      .map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return `${[format(header), ...rows.map(format)].join("\n")}\n`;
}
