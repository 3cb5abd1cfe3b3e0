import { map, str } from "../decoders.js";
import { object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly title: string;
}

/**
 * `act`: a heading that starts a new part of a scenario's story; it changes nothing. Viewers (the
 * `demo` narration, the playground) group the following steps under it and show its note as the
 * act's introduction.
 */
export const actStep: StepDefinition<Params> = {
  kind: "act",
  summary: "a heading: starts a new act of the story (changes nothing)",
  schema: object({ title: { type: "string", minLength: 1 } }, ["title"]),
  canFail: false,
  decode(at) {
    const m = map(at);
    const p = { title: str(m.req("title")) };
    m.done();
    return p;
  },
  run(p) {
    return { summary: p.title, detail: { title: p.title } };
  },
};
