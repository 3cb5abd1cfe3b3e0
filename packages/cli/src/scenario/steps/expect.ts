import { fail, map } from "../decoders.js";
import { type Check, EXPECTATIONS } from "../expectations.js";
import type { StepDefinition } from "./step.js";

/**
 * `expect`: checks the machine's state; each key is one expectation (see `expectations.ts`). The
 * step fails, naming what differed, when any does not hold.
 */
export const expectStep: StepDefinition<readonly { readonly key: string; readonly check: Check }[]> = {
  kind: "expect",
  summary: "check translations, faults, groups, domains, IOTLB statistics, stale entries and memory",
  schema: {
    type: "object",
    properties: Object.fromEntries(EXPECTATIONS.map((e) => [e.key, { description: e.summary, ...e.schema }])),
    additionalProperties: false,
    minProperties: 1,
  },
  canFail: false,
  decode(at) {
    const m = map(at, "a map of expectations");
    const checks = EXPECTATIONS.flatMap((e) => {
      const body = m.opt(e.key);
      return body ? [{ key: e.key, check: e.decode(body) }] : [];
    });
    m.done();
    if (checks.length === 0)
      fail(at, `expected at least one of ${EXPECTATIONS.map((e) => e.key).join(", ")}`);
    return checks;
  },
  run(checks, ctx) {
    const failures = checks.flatMap((c) => c.check(ctx));
    return {
      summary: `${checks.map((c) => c.key).join(", ")}: ${failures.length ? `${failures.length} failed` : "hold"}`,
      failures,
    };
  },
};
