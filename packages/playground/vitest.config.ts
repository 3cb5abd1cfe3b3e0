import { defineProject } from "vitest/config";
import { sourceConditions } from "../../vitest.shared.ts";

export default defineProject({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: {
    name: "@iommu-sim/playground",
    include: ["src/**/*.test.ts"],
    // The browser test builds the page and drives Chromium: give it room on a busy CI machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
