import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { isScenarioError, loadScenario, runScenario } from "./index.js";
import { exampleFiles, FIXTURES_DIR } from "./test-helpers.js";

describe("examples/", () => {
  const files = exampleFiles();
  it("holds at least five scenarios", () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });
  for (const file of files) {
    it(`${basename(file)} runs and every step passes`, () => {
      const trace = runScenario(loadScenario(readFileSync(file, "utf8"), file));
      const bad = trace.steps
        .filter((s) => s.status !== "ok")
        .map((s) => `${s.path} line ${s.line}: ${s.failures.join("; ")}`);
      expect(bad).toEqual([]);
      expect(trace.ok).toBe(true);
      // Every step leaves a snapshot the playground can show.
      expect(trace.steps.every((s) => s.snapshot !== undefined)).toBe(true);
    });
  }
});

describe("a broken scenario", () => {
  it("is refused with an error naming the file, the line and the field", () => {
    const file = "examples/bad.yaml";
    const text = readFileSync(join(FIXTURES_DIR, "bad.yaml"), "utf8");
    let error: unknown;
    try {
      loadScenario(text, file);
    } catch (e) {
      error = e;
    }
    expect(isScenarioError(error)).toBe(true);
    expect((error as Error).message).toBe(
      'examples/bad.yaml:14: steps[2].map.size: expected a size like 0x1000 or "4K", got "4Q"',
    );
    expect(error).toMatchObject({ code: "EINVAL", file, line: 14, path: "steps[2].map.size" });
  });
});
