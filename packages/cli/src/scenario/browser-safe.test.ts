import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === "fixtures"
        ? []
        : sources(join(dir, e.name))
      : e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.startsWith("test-")
        ? [join(dir, e.name)]
        : [],
  );
}

describe("the scenario engine and the replay engine", () => {
  it("import nothing Node-only, so a browser playground can bundle them", () => {
    for (const file of [...sources(here), ...sources(join(here, "../replay"))]) {
      const text = readFileSync(file, "utf8");
      expect(text, file).not.toMatch(/from "node:|from "(fs|path|os|url|process)"|process\./);
    }
  });
});
