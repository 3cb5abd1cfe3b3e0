/**
 * The step extension point: one module per step kind, each a {@link StepDefinition}, listed in
 * `registry.ts`. A new kind (the coming `dma.map_single`, `vfio.map_dma`...) is a new module and
 * one registry line; the loader, the runner, the report and the JSON Schema pick it up.
 */
import type { RunContext } from "../context.js";
import type { At } from "../decoders.js";

/** A JSON Schema fragment (draft 2020-12), kept as plain data. */
export type JsonSchema = { readonly [key: string]: unknown };

/** What a step did. */
export interface StepOutcome {
  /** One line: what happened (`mapped 0x1000 bytes at 0x100000`). */
  readonly summary: string;
  /** Expectations that did not hold; the step failed when there is at least one. */
  readonly failures?: readonly string[];
  /** Machine-readable extras (DMA data, a dump), printed by `--json`. */
  readonly detail?: unknown;
  /** Multi-line text the table report prints under the step (a dump). */
  readonly text?: string;
}

/** One step kind. */
export interface StepDefinition<P> {
  /** The key that names the step in a scenario (`map`, `dma.read`, `clock.advance`). */
  readonly kind: string;
  /** One line for the docs and the schema's description. */
  readonly summary: string;
  /** Schema of the step's body (the value under its key). */
  readonly schema: JsonSchema;
  /** Whether the step calls an operation that may fail, so `error: ERRNO` may be expected of it. */
  readonly canFail: boolean;
  /** Decodes the body; throws a located `ScenarioError`. */
  decode(at: At): P;
  /**
   * Runs the step. Throws when an operation fails (the runner compares the error's `code` with the
   * step's `error`); returns failures for expectations that did not hold.
   */
  run(params: P, ctx: RunContext): StepOutcome;
}
