import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type DecodeResult, decodeLog } from "./decode-log.js";

/** Absolute path of a log fixture in ./fixtures. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Reads a log fixture as text. */
export function readFixture(name: string): string {
  return readFileSync(fixturePath(name), "utf8");
}

/** Decodes a log fixture. */
export function decodeFixture(name: string): DecodeResult {
  return decodeLog(readFixture(name));
}
