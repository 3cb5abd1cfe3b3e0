#!/usr/bin/env node
// Enforces the layer rules (scripts/layers.mjs) on every workspace package: its package.json
// dependencies and every import in its sources, including deep imports into another package's files.
// Exit 1 with one line per forbidden edge, naming the file, the import and the rule it breaks.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { LAYER_RULES, REASONS, UNRESTRICTED } from "./layers.mjs";

const SOURCE = /\.(?:[cm]?[jt]sx?)$/;
// Static imports/exports with `from`, side-effect imports, dynamic import() and require().
const IMPORT =
  /(?:^|[^.\w$])(?:import|export)\s[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1|(?:^|[^.\w$])import\s*(['"])([^'"]+)\3|\bimport\s*\(\s*(['"])([^'"]+)\5\s*\)|\brequire\s*\(\s*(['"])([^'"]+)\7\s*\)/g;

/** Lists workspace package folders (packages/*, packages/backends/*) under `root`. */
export function findPackages(root) {
  const found = [];
  const visit = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(dir, name);
      if (name === "node_modules" || name === "dist" || !statSync(path).isDirectory()) continue;
      try {
        const pkg = JSON.parse(readFileSync(join(path, "package.json"), "utf8"));
        found.push({ dir: path, name: pkg.name, pkg });
      } catch {
        visit(path);
      }
    }
  };
  visit(join(root, "packages"));
  return found;
}

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(name) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`). */
function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

// Test files, test-only helpers (`test-*.ts`, excluded from builds like tests) and test folders.
function isTestFile(path) {
  const base = path.split(sep).pop() ?? "";
  return (
    /\.(test|spec|bench)\.[cm]?[jt]sx?$/.test(base) ||
    base.startsWith("test-") ||
    path.split(sep).includes("test")
  );
}

function reasonFor(name) {
  return REASONS[name] ?? REASONS.backend;
}

/**
 * Checks every package under `root`. Returns the violations as
 * `{ file, line, from, to, kind, message }` (empty when the tree keeps the rules).
 */
export function checkLayers(root) {
  const packages = findPackages(root);
  const ours = new Set(packages.map((p) => p.name).concat(Object.keys(LAYER_RULES)));
  const byDir = packages.map((p) => ({ ...p, abs: resolve(p.dir) }));
  const violations = [];
  for (const p of packages) {
    if (UNRESTRICTED.has(p.name)) continue;
    const rule = LAYER_RULES[p.name];
    const rel = (f) => relative(root, f);
    if (!rule) {
      violations.push({
        file: rel(join(p.dir, "package.json")),
        line: 1,
        from: p.name,
        to: "",
        kind: "unknown-package",
        message: `${p.name} has no layer rule in scripts/layers.mjs: add one`,
      });
      continue;
    }
    const runtime = new Set(rule.runtime);
    const dev = new Set([...rule.runtime, ...rule.dev]);
    const manifest = rel(join(p.dir, "package.json"));
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies", "devDependencies"]) {
      for (const dep of Object.keys(p.pkg[field] ?? {})) {
        if (!ours.has(dep)) continue;
        const allowed = field === "devDependencies" ? dev : runtime;
        if (!allowed.has(dep)) {
          violations.push({
            file: manifest,
            line: 1,
            from: p.name,
            to: dep,
            kind: field,
            message: `${manifest}: ${field} of ${p.name} names ${dep}, which is forbidden: ${reasonFor(p.name)}`,
          });
        }
      }
    }
    for (const file of sourceFiles(p.dir)) {
      const text = readFileSync(file, "utf8");
      const allowed = isTestFile(file) ? dev : runtime;
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[2] ?? m[4] ?? m[6] ?? m[8];
        const line = text.slice(0, m.index + m[0].lastIndexOf(spec)).split("\n").length;
        const where = `${rel(file)}:${line}`;
        if (spec.startsWith(".")) {
          // A relative path must stay inside its own package.
          const target = resolve(dirname(file), spec);
          const owner = byDir.find((q) => target === q.abs || target.startsWith(q.abs + sep));
          if (owner && owner.name !== p.name) {
            violations.push({
              file: rel(file),
              line,
              from: p.name,
              to: owner.name,
              kind: "deep-import",
              message: `${where}: import "${spec}" reaches into ${owner.name}'s files; import the package by name through its exports instead`,
            });
          }
          continue;
        }
        const target = packageOf(spec);
        if (!ours.has(target) || target === p.name) continue;
        if (spec !== target) {
          violations.push({
            file: rel(file),
            line,
            from: p.name,
            to: target,
            kind: "deep-import",
            message: `${where}: import "${spec}" reaches inside ${target}; only its public entry point may be imported`,
          });
        }
        if (!allowed.has(target)) {
          violations.push({
            file: rel(file),
            line,
            from: p.name,
            to: target,
            kind: "import",
            message: `${where}: ${p.name} imports ${target}, which is forbidden: ${reasonFor(p.name)}`,
          });
        }
      }
    }
  }
  return violations;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const violations = checkLayers(root);
  if (violations.length) {
    for (const v of violations) console.error(`layer violation: ${v.message}`);
    console.error(
      `${violations.length} layer violation(s); the rules are in scripts/layers.mjs and ARCHITECTURE.md`,
    );
    process.exit(1);
  }
  console.log(`layers: ${findPackages(root).length} packages keep the layer rules`);
}
