/**
 * Rendering a run: a table for people, plain JSON for machines.
 */
import type { ScenarioTrace, StepTrace } from "./run.js";

/** Options of {@link renderScenarioReport}. */
export interface ReportOptions {
  /** Print step notes under their steps. @default true */
  notes?: boolean;
}

const indent = (text: string, pad: string) =>
  text
    .split("\n")
    .map((l) => `${pad}${l}`)
    .join("\n");

/**
 * Renders a run as a table (step number, line, kind, status, what happened), with notes, dumps
 * and failures under their steps, then a summary naming every step that did not pass.
 */
export function renderScenarioReport(trace: ScenarioTrace, options: ReportOptions = {}): string {
  const notes = options.notes ?? true;
  const out: string[] = [`scenario: ${trace.name} (${trace.file})`];
  if (trace.description) out.push(indent(trace.description.trim(), "  "));
  const rows = trace.steps.map((s) => [
    String(s.index),
    String(s.line),
    s.kind,
    s.status.toUpperCase(),
    s.summary,
  ]);
  const header = ["#", "LINE", "STEP", "STATUS", "WHAT HAPPENED"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (r: readonly string[]) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  out.push(fmt(header));
  const pad = " ".repeat(widths.slice(0, 4).reduce((a, w) => a + w + 2, 0));
  trace.steps.forEach((s, i) => {
    out.push(fmt(rows[i]!));
    if (notes && s.note) out.push(indent(`note: ${s.note.trim()}`, pad));
    for (const f of s.failures) out.push(`${pad}! ${f}`);
    if (s.text) out.push(indent(s.text, pad));
  });
  const bad = trace.steps.filter((s) => s.status !== "ok" && s.status !== "skipped");
  const count = (st: StepTrace["status"]) => trace.steps.filter((s) => s.status === st).length;
  out.push("");
  for (const s of bad)
    out.push(
      `${s.status.toUpperCase()}: ${trace.file}:${s.line}: ${s.path} (${s.kind}): ${s.failures[0] ?? s.summary}`,
    );
  out.push(
    `${trace.steps.length} steps: ${count("ok")} ok, ${count("failed")} failed, ${count("error")} error, ${count("skipped")} skipped`,
  );
  return `${out.join("\n")}\n`;
}

/** Options of {@link traceToJson}. */
export interface TraceJsonOptions {
  /** Keep the snapshot after every step (large); else only the final one. @default false */
  snapshots?: boolean;
}

/** The run as plain JSON data (`--json`): steps with status, failures and details; the final snapshot. */
export function traceToJson(trace: ScenarioTrace, options: TraceJsonOptions = {}): unknown {
  const last = [...trace.steps].reverse().find((s) => s.snapshot !== undefined)?.snapshot ?? trace.initial;
  return {
    file: trace.file,
    name: trace.name,
    ok: trace.ok,
    steps: trace.steps.map((s) => {
      const { snapshot, text: _text, ...rest } = s;
      return options.snapshots ? { ...rest, snapshot } : rest;
    }),
    final: last,
  };
}
