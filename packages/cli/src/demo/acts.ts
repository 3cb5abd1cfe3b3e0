/**
 * A scenario trace grouped into acts: every `act` step opens one, and the steps up to the next
 * belong to it. Used by the narration and by `demo --json`.
 */
import type { StepTrace } from "../scenario/index.js";

/** One act of a story. */
export interface Act {
  /** 1-based number. */
  readonly number: number;
  readonly title: string;
  /** The act's introduction (the `act` step's note). */
  readonly note: string | undefined;
  /** The steps after the `act` step, up to the next one. */
  readonly steps: readonly StepTrace[];
}

/** Groups `steps` into acts; steps before the first `act` form an untitled act 0. */
export function groupActs(steps: readonly StepTrace[]): Act[] {
  const acts: { number: number; title: string; note: string | undefined; steps: StepTrace[] }[] = [];
  for (const s of steps) {
    if (s.kind === "act") {
      acts.push({ number: acts.length + 1, title: s.summary, note: s.note, steps: [] });
      continue;
    }
    if (acts.length === 0) acts.push({ number: 0, title: "", note: undefined, steps: [] });
    acts.at(-1)!.steps.push(s);
  }
  return acts;
}
