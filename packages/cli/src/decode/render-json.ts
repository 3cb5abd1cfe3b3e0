import { type DecodedRecord, RECORD_KEYS } from "./record.js";

/** Copies a record into a plain object with the keys in {@link RECORD_KEYS} order, absent keys left out. */
export function orderedRecord(record: DecodedRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of RECORD_KEYS) {
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Renders records as the `decode --json` output: one JSON array, one object per record in input
 * order, keys in a fixed order, two-space indentation, trailing newline.
 */
export function renderJson(records: readonly DecodedRecord[]): string {
  return `${JSON.stringify(records.map(orderedRecord), null, 2)}\n`;
}
