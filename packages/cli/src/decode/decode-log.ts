import { splitLogLines } from "./log-line.js";
import type { LogParser, ParseContext } from "./parser.js";
import { amdViParser } from "./parsers/amd-vi.js";
import { armSmmuParser } from "./parsers/arm-smmu.js";
import { armSmmuV3Parser } from "./parsers/arm-smmu-v3.js";
import { intelDmarParser } from "./parsers/intel-dmar.js";
import { iommuTraceParser } from "./parsers/iommu-trace.js";
import type { DecodedRecord } from "./record.js";

/** A note about the input that is not a record: an undecodable block, a suspicious header. */
export interface DecodeWarning {
  /** 1-based input line the warning is about. */
  line: number;
  /** One-line description. */
  message: string;
}

/** What {@link decodeLog} found. */
export interface DecodeResult {
  /** Every IOMMU record, in input order (by first line). */
  records: DecodedRecord[];
  /** One warning per record with an `error`, plus any other notes, in input order. */
  warnings: DecodeWarning[];
}

/** The parsers, in the order each line is offered to them. */
export const LOG_PARSERS: readonly LogParser[] = [
  iommuTraceParser,
  armSmmuV3Parser,
  armSmmuParser,
  intelDmarParser,
  amdViParser,
];

/**
 * Decodes every IOMMU record in pasted kernel log text (dmesg, journal, syslog, ftrace output;
 * LF or CRLF; unrelated lines anywhere). Each line not yet taken by an earlier record is offered
 * to the parsers in turn; a multi-line record takes its later lines so they are not read twice.
 */
export function decodeLog(text: string, parsers: readonly LogParser[] = LOG_PARSERS): DecodeResult {
  const lines = splitLogLines(text);
  const consumed = new Uint8Array(lines.length);
  const ctx: ParseContext = { lines, isConsumed: (i) => consumed[i] === 1 };
  const records: DecodedRecord[] = [];
  const warnings: DecodeWarning[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (consumed[i]) continue;
    for (const parser of parsers) {
      const result = parser.parse(ctx, i);
      if (!result) continue;
      for (const c of result.consumed) consumed[c] = 1;
      consumed[i] = 1;
      const { record } = result;
      records.push(record);
      if (record.error !== undefined) {
        warnings.push({ line: record.line, message: `${record.kind}: cannot decode: ${record.error}` });
      }
      for (const note of result.warnings ?? []) {
        warnings.push({ line: record.line, message: `${record.kind}: ${note}` });
      }
      break;
    }
  }
  return { records, warnings };
}
