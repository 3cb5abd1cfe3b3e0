import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's `examples/` folder. */
export const EXAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../../examples");
/** This package's root. */
export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** Scenario test fixtures. */
export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

/** Every example scenario file, sorted. */
export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(EXAMPLES_DIR, f));
}
