#!/usr/bin/env node
// Scaffolds a workspace package with the house shape (package.json, tsconfig, vitest project, README).
// Usage: node scripts/new-package.mjs <dir> <name> "<description>" [dep ...]
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const [dir, name, description, ...deps] = process.argv.slice(2);
if (!dir || !name || !description) {
  console.error('usage: new-package.mjs <dir> <name> "<description>" [dep ...]');
  process.exit(2);
}
const root = relative(dir, ".") || ".";
const depDirs = {
  "@iommu-sim/hw": "packages/hw",
  "@iommu-sim/iommu": "packages/iommu",
  "@iommu-sim/dma": "packages/dma",
  "@iommu-sim/vfio": "packages/vfio",
  "@iommu-sim/testkit": "packages/testkit",
  "@iommu-sim/arm-smmu-v3": "packages/backends/arm-smmu-v3",
  "@iommu-sim/intel-vtd": "packages/backends/intel-vtd",
  "@iommu-sim/amd-vi": "packages/backends/amd-vi",
  "@iommu-sim/arm-smmu": "packages/backends/arm-smmu",
};
mkdirSync(join(dir, "src"), { recursive: true });
const pkg = {
  name,
  version: "0.0.0",
  description,
  license: "MIT",
  type: "module",
  sideEffects: false,
  files: ["dist", "!dist/**/*.test.*", "!dist/**/*.bench.*"],
  exports: {
    ".": {
      "@iommu-sim/source": "./src/index.ts",
      types: "./dist/index.d.ts",
      import: "./dist/index.js",
    },
    "./package.json": "./package.json",
  },
  main: "./dist/index.js",
  types: "./dist/index.d.ts",
  scripts: {
    build: "tsc -b",
    typecheck: "tsc -p tsconfig.check.json",
    test: "vitest run",
  },
  dependencies: Object.fromEntries(deps.map((d) => [d, "workspace:^"])),
  devDependencies: {},
};
const write = (f, s) => {
  if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), s);
};
write("package.json", `${JSON.stringify(pkg, null, 2)}\n`);
write(
  "tsconfig.json",
  `${JSON.stringify(
    {
      extends: `${root}/tsconfig.base.json`,
      compilerOptions: { rootDir: "src", outDir: "dist", tsBuildInfoFile: "tsconfig.tsbuildinfo" },
      include: ["src"],
      exclude: ["src/**/*.test.ts", "src/**/*.bench.ts", "src/**/test-*.ts"],
      references: deps.map((d) => ({ path: relative(dir, depDirs[d]) })),
    },
    null,
    2,
  )}\n`,
);
write(
  "tsconfig.check.json",
  `${JSON.stringify(
    {
      extends: `${root}/tsconfig.base.json`,
      compilerOptions: {
        noEmit: true,
        composite: false,
        declaration: false,
        declarationMap: false,
        types: ["node"],
      },
      include: ["src"],
    },
    null,
    2,
  )}\n`,
);
write(
  "vitest.config.ts",
  `import { defineProject } from "vitest/config";
import { sourceConditions } from "${root}/vitest.shared.ts";

export default defineProject({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: { name: "${name}", include: ["src/**/*.test.ts"] },
});
`,
);
write("README.md", `# ${name}\n\n${description}\n`);
console.log(`scaffolded ${name} in ${dir}`);
