import { describe, expect, it, vi } from "vitest";
import { runCli } from "./cli.js";

describe("iommu-sim command line", () => {
  it("exits 2 with one line for an unknown option", async () => {
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await runCli(["demo", "--no-such-option"])).toBe(2);
    expect(String(err.mock.calls[0]?.[0])).toMatch(/unknown option '--no-such-option'/);
    err.mockRestore();
  });
  it("runs the demo and exits 0", async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    expect(await runCli(["demo", "--json"])).toBe(0);
    expect(JSON.parse(String(out.mock.calls[0]?.[0]))).toHaveProperty("acts");
    out.mockRestore();
  });
});
