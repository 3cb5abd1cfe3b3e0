import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { runCli } from "../cli.js";
import { readLogInput } from "../decode/read-input.js";
import { fixturePath } from "../decode/test-fixtures.js";

let out: MockInstance;
let err: MockInstance;
const stdout = () => out.mock.calls.map((c) => String(c[0])).join("");
const stderr = () => err.mock.calls.map((c) => String(c[0])).join("");

beforeEach(() => {
  out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(() => {
  out.mockRestore();
  err.mockRestore();
});

describe("iommu-sim decode", () => {
  it("prints a JSON array for a file with --json and exits 0", async () => {
    expect(await runCli(["decode", fixturePath("arm-smmu-v3-new.log"), "--json"])).toBe(0);
    const records = JSON.parse(stdout()) as Record<string, unknown>[];
    expect(records.map((r) => r.event)).toEqual(["F_TRANSLATION", "F_STE_FETCH"]);
    expect(records[0]).toMatchObject({ kind: "arm-smmu-v3-event", line: 1, device: "0000:03:00.0" });
    expect(stderr()).toBe("");
  });

  it("prints the table by default", async () => {
    expect(await runCli(["decode", fixturePath("iommu-trace.log")])).toBe(3);
    expect(stdout()).toMatch(/^LINE +KIND +EVENT/);
    expect(stdout()).toContain("io_page_fault");
  });

  it("exits 3 and warns on stderr, one line each, when a recognised block cannot be decoded", async () => {
    expect(await runCli(["decode", fixturePath("amd-vi.log"), "--json"])).toBe(3);
    const records = JSON.parse(stdout()) as Record<string, unknown>[];
    expect(records.filter((r) => r.error !== undefined)).toHaveLength(2);
    expect(stderr()).toBe(
      "iommu-sim: decode: line 12: amd-vi-event: cannot decode: truncated: no closing ']'\n" +
        "iommu-sim: decode: line 13: amd-vi-event: cannot decode: split event line: the line with the event name and fields is missing\n",
    );
  });

  it("exits 1 with one line for a file it cannot read", async () => {
    expect(await runCli(["decode", "/no/such/dir/kern.log"])).toBe(1);
    expect(stderr()).toBe("iommu-sim: cannot read '/no/such/dir/kern.log': no such file or directory\n");
    expect(stdout()).toBe("");
  });

  it("exits 1 with one line for binary input", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iommu-sim-decode-"));
    const file = join(dir, "core.bin");
    writeFileSync(file, Buffer.from("line one\nline two\n\u0000\u0001\u0002"));
    expect(await runCli(["decode", file])).toBe(1);
    expect(stderr()).toBe(`iommu-sim: '${file}' is not text: NUL byte on line 3\n`);
  });

  it("exits 2 for an unknown option", async () => {
    expect(await runCli(["decode", "--jsn"])).toBe(2);
    expect(stderr().split("\n")[0]).toBe("error: unknown option '--jsn'");
  });

  it("has --help with the exit statuses and examples", async () => {
    expect(await runCli(["decode", "--help"])).toBe(0);
    const help = stdout();
    expect(help).toContain("Usage: iommu-sim decode [options] [file]");
    expect(help).toContain("--json");
    expect(help).toMatch(/Exit status:[\s\S]*3 +some recognised records could not be decoded/);
    expect(help).toContain("$ dmesg | iommu-sim decode");
  });
});

describe("readLogInput", () => {
  it("reads standard input for -", async () => {
    const stdin = Readable.from([Buffer.from("DMAR: x\r\n"), Buffer.from("more\n")]);
    expect(await readLogInput("-", stdin)).toBe("DMAR: x\r\nmore\n");
  });
  it("names standard input in its errors", async () => {
    await expect(readLogInput("-", Readable.from([Buffer.from([0x61, 0])]))).rejects.toThrow(
      "standard input is not text: NUL byte on line 1",
    );
  });
  it("says a directory is a directory", async () => {
    await expect(readLogInput(tmpdir())).rejects.toThrow(`cannot read '${tmpdir()}': is a directory`);
  });
});
