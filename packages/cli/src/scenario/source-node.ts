import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ScenarioError } from "./errors.js";

/**
 * A scenario document as a tree of positioned nodes: what the typed decoders read. YAML and JSON
 * (a subset of YAML 1.2) both parse into it, so a mistake in either names its line.
 */
export type SourceNode =
  | { readonly kind: "map"; readonly line: number; readonly entries: ReadonlyMap<string, SourceEntry> }
  | { readonly kind: "seq"; readonly line: number; readonly items: readonly SourceNode[] }
  | {
      readonly kind: "scalar";
      readonly line: number;
      readonly value: string | number | bigint | boolean | null;
    };

/** One key of a map node, with the line of its key. */
export interface SourceEntry {
  readonly keyLine: number;
  readonly node: SourceNode;
}

/** The parsed document and the name diagnostics use for it. */
export interface SourceDocument {
  readonly fileName: string;
  readonly root: SourceNode;
}

/**
 * Parses scenario text (YAML or JSON) keeping 1-based line numbers. Integers are read as `bigint`
 * so 64-bit addresses keep every bit. A syntax error, a duplicate key, an alias or a tag becomes a
 * {@link ScenarioError} naming the file and line.
 */
export function parseSource(text: string, fileName: string): SourceDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, intAsBigInt: true, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line ?? lineCounter.linePos(first.pos[0]).line;
    throw new ScenarioError(fileName, line, "", `syntax error: ${first.message.split("\n")[0]}`);
  }
  const lineOf = (node: { range?: readonly number[] | null } | null | undefined, fallback: number): number =>
    node?.range ? lineCounter.linePos(node.range[0]!).line : fallback;
  const convert = (node: unknown, fallback: number, path: string): SourceNode => {
    if (node === null || node === undefined) return { kind: "scalar", line: fallback, value: null };
    const line = lineOf(node as Node, fallback);
    if (isMap(node)) {
      const entries = new Map<string, SourceEntry>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        const keyLine = lineOf(pair.key as Node, line);
        if (typeof key !== "string" && typeof key !== "number" && typeof key !== "bigint")
          throw new ScenarioError(fileName, keyLine, path, "map keys must be plain names");
        const name = String(key);
        entries.set(name, { keyLine, node: convert(pair.value, keyLine, path ? `${path}.${name}` : name) });
      }
      return { kind: "map", line, entries };
    }
    if (isSeq(node)) {
      return { kind: "seq", line, items: node.items.map((item, i) => convert(item, line, `${path}[${i}]`)) };
    }
    if (isScalar(node)) {
      const v = node.value;
      if (
        v === null ||
        typeof v === "string" ||
        typeof v === "number" ||
        typeof v === "bigint" ||
        typeof v === "boolean"
      )
        return { kind: "scalar", line, value: v };
      throw new ScenarioError(fileName, line, path, `unsupported value ${String(v)}`);
    }
    throw new ScenarioError(fileName, line, path, "aliases and tags are not supported in scenarios");
  };
  return { fileName, root: convert(doc.contents, 1, "") };
}
