/**
 * Typed decoders over positioned scenario nodes. Each takes a location ({@link At}) and returns a
 * typed value or throws a {@link ScenarioError} that names the file, line and field path with the
 * value that was wrong. The step modules build their parameters from these.
 */
import { ScenarioError } from "./errors.js";
import type { SourceEntry, SourceNode } from "./source-node.js";

/** A node and where it is: the file and the field path that led to it. */
export interface At {
  readonly file: string;
  readonly path: string;
  readonly node: SourceNode;
}

/** Throws a {@link ScenarioError} at `at`. */
export function fail(at: At, detail: string): never {
  throw new ScenarioError(at.file, at.node.line, at.path, detail);
}

/** Renders a scalar value for a message: strings quoted, numbers as written. */
export function show(node: SourceNode): string {
  if (node.kind === "map") return "a map";
  if (node.kind === "seq") return "a list";
  const v = node.value;
  if (v === null) return "nothing";
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** The fields of a map node, read one by one; unknown fields are refused by {@link MapReader.done}. */
export interface MapReader {
  readonly at: At;
  /** Whether `key` is present. */
  has(key: string): boolean;
  /** The field `key`, or `undefined` when absent. */
  opt(key: string): At | undefined;
  /** The field `key`; a missing one is an error at the map. */
  req(key: string): At;
  /** Refuses every field not read with `opt`/`req`/`has` (a typo is an error, not silently ignored). */
  done(): void;
  /** Field names, in document order. */
  readonly keys: readonly string[];
}

const child = (at: At, key: string, entry: SourceEntry): At => ({
  file: at.file,
  path: at.path ? `${at.path}.${key}` : key,
  node: entry.node,
});

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Reads `at` as a map. */
export function map(at: At, what = "a map of fields"): MapReader {
  const node = at.node;
  if (node.kind !== "map") fail(at, `expected ${what}, got ${show(node)}`);
  const seen = new Set<string>();
  const reader: MapReader = {
    at,
    keys: [...node.entries.keys()],
    has(key) {
      seen.add(key);
      return node.entries.has(key);
    },
    opt(key) {
      seen.add(key);
      const entry = node.entries.get(key);
      return entry && child(at, key, entry);
    },
    req(key) {
      seen.add(key);
      const entry = node.entries.get(key);
      if (!entry) {
        // A typo of a required field is reported as the typo, not as the field missing.
        for (const [other, e] of node.entries) {
          if (!seen.has(other) && editDistance(other, key) <= 2)
            throw new ScenarioError(
              at.file,
              e.keyLine,
              at.path ? `${at.path}.${other}` : other,
              `unknown field "${other}" (did you mean "${key}"?)`,
            );
        }
        fail(at, `missing field "${key}"`);
      }
      return child(at, key, entry);
    },
    done() {
      for (const [key, entry] of node.entries) {
        if (seen.has(key)) continue;
        const known = [...seen].sort().join(", ");
        throw new ScenarioError(
          at.file,
          entry.keyLine,
          at.path ? `${at.path}.${key}` : key,
          `unknown field "${key}"${known ? ` (known: ${known})` : ""}`,
        );
      }
    },
  };
  return reader;
}

/** Reads `at` as a list, decoding each item with `item`. */
export function list<T>(at: At, item: (at: At, index: number) => T, what = "a list"): T[] {
  const node = at.node;
  if (node.kind !== "seq") fail(at, `expected ${what}, got ${show(node)}`);
  return node.items.map((n, i) => item({ file: at.file, path: `${at.path}[${i}]`, node: n }, i));
}

function scalar(at: At): string | number | bigint | boolean | null | undefined {
  return at.node.kind === "scalar" ? at.node.value : undefined;
}

/** A string. */
export function str(at: At, what = "a string"): string {
  const v = scalar(at);
  if (typeof v !== "string" || v === "") fail(at, `expected ${what}, got ${show(at.node)}`);
  return v;
}

/** A boolean. */
export function bool(at: At): boolean {
  const v = scalar(at);
  if (typeof v !== "boolean") fail(at, `expected true or false, got ${show(at.node)}`);
  return v;
}

/** An integer in `[min, max]` as a number. */
export function int(at: At, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = scalar(at);
  let n: number | undefined;
  if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "number" && Number.isInteger(v)) n = v;
  else if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim())) n = Number(BigInt(v.trim()));
  if (n === undefined || n < min || n > max)
    fail(at, `expected an integer from ${min} to ${max}, got ${show(at.node)}`);
  return n;
}

/** One of `values` (case-insensitive); returns the canonical spelling. */
export function oneOf<T extends string>(at: At, values: readonly T[]): T {
  const v = scalar(at);
  const found = typeof v === "string" ? values.find((x) => x.toLowerCase() === v.toLowerCase()) : undefined;
  if (found === undefined) fail(at, `expected one of ${values.join(", ")}, got ${show(at.node)}`);
  return found;
}

const SIZE_UNITS: Readonly<Record<string, bigint>> = {
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
};

/** Parses `0x1000`, `4096`, `4K`, `2M`, `1GiB`; `undefined` when the text is none of these. */
export function parseSize(text: string): bigint | undefined {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t) || /^\d+$/.test(t)) return BigInt(t);
  const m = /^(\d+)\s*([KMGT])(?:i?B)?$/i.exec(t);
  return m ? BigInt(m[1]!) * SIZE_UNITS[m[2]!.toUpperCase()]! : undefined;
}

/** A size in bytes (> 0): an integer, `0x1000`, or `4K` / `2M` / `1G` (powers of 1024). */
export function size(at: At): bigint {
  const v = scalar(at);
  const n =
    typeof v === "bigint"
      ? v
      : typeof v === "number" && Number.isSafeInteger(v)
        ? BigInt(v)
        : typeof v === "string"
          ? parseSize(v)
          : undefined;
  if (n === undefined || n <= 0n) fail(at, `expected a size like 0x1000 or "4K", got ${show(at.node)}`);
  return n;
}

/** An address (>= 0, < 2^64): an integer or a hex string `0x...`. */
export function addr(at: At): bigint {
  const v = scalar(at);
  let n: bigint | undefined;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && /^(0x[0-9a-f_]+|\d+)$/i.test(v.trim()))
    n = BigInt(v.trim().replaceAll("_", ""));
  if (n === undefined || n < 0n || n >= 1n << 64n)
    fail(at, `expected an address like 0x100000, got ${show(at.node)}`);
  return n;
}

/**
 * Bytes: a hex string (`"de ad be ef"`, `"deadbeef"`, `"0xdeadbeef"` in memory order) or a list
 * of byte values.
 */
export function bytes(at: At): Uint8Array {
  if (at.node.kind === "seq") return Uint8Array.from(list(at, (item) => int(item, 0, 255)));
  const v = scalar(at);
  if (typeof v === "string") {
    const hex = v.replace(/^0x/i, "").replace(/[\s:_-]/g, "");
    if (hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-f]+$/i.test(hex)) {
      const out = new Uint8Array(hex.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
      return out;
    }
  }
  return fail(at, `expected bytes as hex like "de ad be ef" or a list of 0..255, got ${show(at.node)}`);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/** A duration in ns: an integer (ns) or `"10us"`, `"1ms"`, `"2s"`. */
export function duration(at: At): number {
  const v = scalar(at);
  if (typeof v === "bigint" || typeof v === "number") return int(at);
  const m = typeof v === "string" ? /^(\d+)\s*(ns|us|ms|s)$/.exec(v.trim()) : null;
  if (!m) fail(at, `expected a duration like 1000 (ns), "10us", "1ms" or "2s", got ${show(at.node)}`);
  const ns = Number(m[1]) * DURATION_UNITS[m[2]!]!;
  if (!Number.isSafeInteger(ns)) fail(at, `duration ${show(at.node)} is too long`);
  return ns;
}

/** A count comparison: `3` (equal) or `">= 1"`, `"< 4"`, `"!= 0"`. */
export interface Comparison {
  readonly op: "==" | "!=" | ">=" | "<=" | ">" | "<";
  readonly value: number;
}

/** Reads a {@link Comparison}. */
export function comparison(at: At): Comparison {
  const v = scalar(at);
  if (typeof v === "bigint" || typeof v === "number") return { op: "==", value: int(at) };
  const m = typeof v === "string" ? /^(==|!=|>=|<=|>|<)\s*(\d+)$/.exec(v.trim()) : null;
  if (!m) fail(at, `expected a count like 3 or a comparison like ">= 1", got ${show(at.node)}`);
  return { op: m[1] as Comparison["op"], value: Number(m[2]) };
}

/** Whether `actual` satisfies `c`. */
export function compare(actual: number, c: Comparison): boolean {
  switch (c.op) {
    case "==":
      return actual === c.value;
    case "!=":
      return actual !== c.value;
    case ">=":
      return actual >= c.value;
    case "<=":
      return actual <= c.value;
    case ">":
      return actual > c.value;
    case "<":
      return actual < c.value;
  }
}

/** Renders a comparison (`== 3`). */
export function showComparison(c: Comparison): string {
  return `${c.op} ${c.value}`;
}

const PROT_BITS: Readonly<Record<string, number>> = {
  read: 1,
  write: 2,
  cache: 4,
  noexec: 8,
  mmio: 16,
  priv: 32,
};

/** Protection flags: `[read, write]`, `"read|write"`, `"r"`, `"w"` or `"rw"`; Linux's IOMMU_* values. */
export function prot(at: At): number {
  const names =
    at.node.kind === "seq"
      ? list(at, (item) => str(item))
      : (() => {
          const s = str(at, 'prot flags like "read|write" or [read, write]');
          if (s === "r") return ["read"];
          if (s === "w") return ["write"];
          if (s === "rw") return ["read", "write"];
          return s.split("|").map((x) => x.trim());
        })();
  let bits = 0;
  for (const n of names) {
    const bit = PROT_BITS[n.toLowerCase()];
    if (bit === undefined) fail(at, `unknown prot flag "${n}" (known: ${Object.keys(PROT_BITS).join(", ")})`);
    bits |= bit;
  }
  return bits;
}
