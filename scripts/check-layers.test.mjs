import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkLayers } from "./check-layers.mjs";

/** Builds a throw-away workspace with the given packages: { dir: { pkg, files: { path: text } } }. */
function workspace(spec) {
  const root = mkdtempSync(join(tmpdir(), "layers-"));
  for (const [dir, { pkg, files = {} }] of Object.entries(spec)) {
    mkdirSync(join(root, "packages", dir, "src"), { recursive: true });
    writeFileSync(join(root, "packages", dir, "package.json"), JSON.stringify(pkg));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, "packages", dir, path)), { recursive: true });
      writeFileSync(join(root, "packages", dir, path), text);
    }
  }
  return root;
}

const hw = { pkg: { name: "@iommu-sim/hw" }, files: { "src/index.ts": "export const x = 1;\n" } };

describe("layer check", () => {
  it("passes on this repository", () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
    expect(checkLayers(root)).toEqual([]);
  });

  it("fails when iommu imports hw, naming file, line and rule", () => {
    const root = workspace({
      hw,
      iommu: {
        pkg: { name: "@iommu-sim/iommu" },
        files: {
          "src/core.ts":
            'import type { X } from "./x.js";\nimport { createPhysMemory } from "@iommu-sim/hw";\n',
        },
      },
    });
    const v = checkLayers(root);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ from: "@iommu-sim/iommu", to: "@iommu-sim/hw", kind: "import", line: 2 });
    expect(v[0].message).toContain("packages/iommu/src/core.ts:2");
    expect(v[0].message).toContain("IommuDriver");
  });

  it("fails when a backend depends on another backend in package.json", () => {
    const root = workspace({
      hw,
      a: { pkg: { name: "@iommu-sim/amd-vi", dependencies: { "@iommu-sim/intel-vtd": "workspace:^" } } },
      b: { pkg: { name: "@iommu-sim/intel-vtd" } },
    });
    const v = checkLayers(root);
    expect(v.map((x) => [x.from, x.to, x.kind])).toEqual([
      ["@iommu-sim/amd-vi", "@iommu-sim/intel-vtd", "dependencies"],
    ]);
  });

  it("fails on dma importing vfio dynamically and on deep imports", () => {
    const root = workspace({
      dma: {
        pkg: { name: "@iommu-sim/dma" },
        files: {
          "src/a.ts":
            'const v = await import("@iommu-sim/vfio");\nexport * from "@iommu-sim/iommu/src/core.js";\n',
        },
      },
      vfio: { pkg: { name: "@iommu-sim/vfio" } },
      iommu: { pkg: { name: "@iommu-sim/iommu" } },
    });
    const kinds = checkLayers(root).map((x) => `${x.kind}:${x.to}`);
    expect(kinds).toEqual(["import:@iommu-sim/vfio", "deep-import:@iommu-sim/iommu"]);
  });

  it("fails on a relative path into another package and allows testkit only in tests and test helpers", () => {
    const root = workspace({
      hw,
      vfio: {
        pkg: { name: "@iommu-sim/vfio" },
        files: {
          "src/a.ts": 'import { x } from "../../hw/src/index.js";\n',
          "src/a.test.ts": 'import { createReferenceBackend } from "@iommu-sim/testkit";\n',
          "src/test-machine.ts": 'import { createReferenceBackend } from "@iommu-sim/testkit";\n',
          "src/b.ts": 'import { createReferenceBackend } from "@iommu-sim/testkit";\n',
        },
      },
      testkit: { pkg: { name: "@iommu-sim/testkit" } },
    });
    const v = checkLayers(root).map((x) => `${x.file}:${x.kind}:${x.to}`);
    expect(v).toEqual([
      "packages/vfio/src/a.ts:deep-import:@iommu-sim/hw",
      "packages/vfio/src/b.ts:import:@iommu-sim/testkit",
    ]);
  });

  it("refuses a package with no rule", () => {
    const root = workspace({ x: { pkg: { name: "@iommu-sim/new-thing" } } });
    expect(checkLayers(root)[0]?.kind).toBe("unknown-package");
  });
});
