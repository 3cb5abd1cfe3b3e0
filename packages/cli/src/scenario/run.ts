/**
 * `runScenario(scenario, options)`: builds the machine, runs the steps in order and returns a
 * step-by-step trace with a snapshot of the machine after each step, so a viewer can replay it.
 */
import { createRunContext, type RunContext } from "./context.js";
import { buildMachine } from "./machine.js";
import { type MachineSnapshot, takeSnapshot } from "./snapshot.js";
import type { Scenario, ScenarioStep } from "./types.js";

/**
 * How a step ended: `ok`; `failed` (an expectation did not hold, or the expected error did not
 * come); `error` (an operation failed unexpectedly: the run stops there); `skipped` (after an error).
 */
export type StepStatus = "ok" | "failed" | "error" | "skipped";

/** One step of a run. */
export interface StepTrace {
  readonly index: number;
  readonly kind: string;
  /** Field path (`steps[3]`) and line of the step in the scenario. */
  readonly path: string;
  readonly line: number;
  readonly note: string | undefined;
  readonly status: StepStatus;
  /** What happened, one line. */
  readonly summary: string;
  /** What did not hold (status `failed`) or the unexpected error (status `error`). */
  readonly failures: readonly string[];
  /** The errno of the operation's error, when it threw. */
  readonly errorCode: string | undefined;
  /** Machine-readable extras of the step (DMA data, dumps). */
  readonly detail: unknown;
  /** Multi-line text for the table report (dumps). */
  readonly text: string | undefined;
  /** The machine after the step (absent with `snapshots: false` and for skipped steps). */
  readonly snapshot: MachineSnapshot | undefined;
}

/** A whole run. */
export interface ScenarioTrace {
  readonly file: string;
  readonly name: string;
  readonly description: string | undefined;
  /** True when every step is `ok`. */
  readonly ok: boolean;
  /** The machine before the first step (after probing). */
  readonly initial: MachineSnapshot | undefined;
  readonly steps: readonly StepTrace[];
}

/** Options of {@link runScenario}. */
export interface RunScenarioOptions {
  /** Take a snapshot after every step. @default true */
  snapshots?: boolean;
  /** Called after each step (progress, streaming viewers). */
  onStep?: (step: StepTrace) => void;
  /** Called once after the last step with the live machine (end-of-run dumps, custom checks). */
  atEnd?: (ctx: RunContext) => void;
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Runs `scenario` on a fresh machine. Never throws for a failing step: the trace says what failed.
 * Throws a `ScenarioError` when the machine itself cannot be built (at the offending part's line).
 */
export function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): ScenarioTrace {
  const snapshots = options.snapshots ?? true;
  const machine = buildMachine(scenario.machine, scenario.file);
  const ctx = createRunContext(machine);
  const initial = snapshots ? takeSnapshot(ctx) : undefined;
  const steps: StepTrace[] = [];
  let stopped = false;
  const base = (s: ScenarioStep) => ({
    index: s.index,
    kind: s.definition.kind,
    path: s.path,
    line: s.line,
    note: s.note,
  });
  for (const s of scenario.steps) {
    let trace: StepTrace;
    if (stopped) {
      trace = {
        ...base(s),
        status: "skipped",
        summary: "not run",
        failures: [],
        errorCode: undefined,
        detail: undefined,
        text: undefined,
        snapshot: undefined,
      };
    } else {
      let status: StepStatus = "ok";
      let summary = "";
      let failures: string[] = [];
      let errorCode: string | undefined;
      let detail: unknown;
      let text: string | undefined;
      try {
        const outcome = s.definition.run(s.params, ctx);
        summary = outcome.summary;
        failures = [...(outcome.failures ?? [])];
        detail = outcome.detail;
        text = outcome.text;
        if (s.error !== undefined) failures.push(`succeeded, but was expected to fail with ${s.error}`);
        if (failures.length) status = "failed";
      } catch (error) {
        errorCode = codeOf(error);
        const message = messageOf(error);
        if (s.error !== undefined && errorCode === s.error) {
          summary = `failed with ${errorCode} as expected: ${message}`;
        } else if (s.error !== undefined) {
          status = "failed";
          summary = `failed with ${errorCode ?? "an error"}: ${message}`;
          failures = [`expected ${s.error}, got ${errorCode ?? "an error without errno"}: ${message}`];
        } else {
          status = "error";
          summary = `error: ${message}`;
          failures = [`${errorCode ? `${errorCode}: ` : ""}${message}`];
          stopped = true;
        }
      }
      trace = {
        ...base(s),
        status,
        summary,
        failures,
        errorCode,
        detail,
        text,
        snapshot: snapshots ? takeSnapshot(ctx) : undefined,
      };
    }
    steps.push(trace);
    options.onStep?.(trace);
  }
  options.atEnd?.(ctx);
  return {
    file: scenario.file,
    name: scenario.name,
    description: scenario.description,
    ok: steps.every((t) => t.status === "ok"),
    initial,
    steps,
  };
}
