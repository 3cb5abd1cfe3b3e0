import type { LogLine } from "./log-line.js";
import type { DecodedRecord } from "./record.js";

/**
 * How far past a record's first line a parser looks for the rest of it (the raw words after an
 * SMMUv3 header, the second line of a split DMAR or AMD message). Lines of other records and
 * unrelated messages may be interleaved in between when several CPUs print at once.
 * @default 32
 */
export const LOOKAHEAD_LINES = 32;

/** What a parser sees: every input line and which ones earlier records already claimed. */
export interface ParseContext {
  /** All input lines. */
  readonly lines: readonly LogLine[];
  /** True when an earlier record already took line `index` (0-based). */
  isConsumed(index: number): boolean;
}

/** A record a parser decoded, the lines it took and anything worth a warning. */
export interface ParseResult {
  /** The decoded (or partially decoded, with `error`) record. */
  record: DecodedRecord;
  /** 0-based indices of the lines that belong to the record, its first line included. */
  consumed: readonly number[];
  /** Notes about the record that are not errors (a header that disagrees with its words). */
  warnings?: readonly string[];
}

/**
 * One log family's parser. The driver offers it every line not yet taken, in order; the parser
 * returns `null` unless the line starts a record of its family.
 */
export interface LogParser {
  /** Tries to decode a record that starts at `lines[index]`. */
  parse(ctx: ParseContext, index: number): ParseResult | null;
}

/**
 * Scans the lines after `start` (skipping taken ones) for up to {@link LOOKAHEAD_LINES} lines and
 * returns the indices for which `accept` says `"take"`, stopping at the first `"stop"` or once
 * `limit` lines were taken.
 */
export function scanAhead(
  ctx: ParseContext,
  start: number,
  limit: number,
  accept: (line: LogLine, index: number) => "take" | "skip" | "stop",
): number[] {
  const taken: number[] = [];
  const end = Math.min(ctx.lines.length, start + 1 + LOOKAHEAD_LINES);
  for (let i = start + 1; i < end && taken.length < limit; i++) {
    if (ctx.isConsumed(i)) continue;
    const verdict = accept(ctx.lines[i]!, i);
    if (verdict === "stop") break;
    if (verdict === "take") taken.push(i);
  }
  return taken;
}

/** True when two lines may come from the same device (either has no dev prefix, or they match). */
export function sameSource(a: LogLine, b: LogLine): boolean {
  return a.device === undefined || b.device === undefined || a.device === b.device;
}
