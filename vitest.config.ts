import { defineConfig } from "vitest/config";

/** One run for the whole repository: every package is a vitest project with its own config. */
export default defineConfig({
  test: {
    projects: [
      "packages/*/vitest.config.ts",
      "packages/backends/*/vitest.config.ts",
      "scripts/vitest.config.ts",
    ],
  },
});
