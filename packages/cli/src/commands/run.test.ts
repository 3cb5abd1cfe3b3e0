import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES_DIR, FIXTURES_DIR } from "../scenario/test-helpers.js";
import { capture } from "./test-capture.js";

const example = join(EXAMPLES_DIR, "04-stale-iotlb.yaml");

function failing(): string {
  const dir = mkdtempSync(join(tmpdir(), "iommu-sim-run-"));
  const file = join(dir, "failing.yaml");
  writeFileSync(
    file,
    "name: f\nmachine:\n  iommus: [{ backend: reference }]\n  platform: [{ name: d, iommu: ref0, streamIds: [1] }]\nsteps:\n  - expect:\n      faults: { count: 3 }\n",
  );
  return file;
}

describe("iommu-sim run", () => {
  it("runs a scenario, prints the table and exits 0", async () => {
    const r = await capture(["run", example]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^scenario: A stale IOTLB entry and its invalidation/);
    expect(r.out).toContain("note: The device still reads the old page through the stale IOTLB entry.");
    expect(r.out).toMatch(/12 steps: 12 ok, 0 failed, 0 error, 0 skipped\n$/);
  });
  it("prints JSON with --json, snapshots with --snapshots", async () => {
    const r = await capture(["run", example, "--json", "--snapshots"]);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ ok: true, name: "A stale IOTLB entry and its invalidation" });
    expect(json.steps[3].snapshot.iotlbs[0].validEntries).toBe(1);
    expect(json.final.faultCount).toBe(1);
  });
  it("exits 1 naming the step whose expectation failed", async () => {
    const file = failing();
    const r = await capture(["run", file]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `iommu-sim: run: ${file}:6: steps[0] (expect) failed: fault count is 0, expected == 3\n`,
    );
  });
  it("exits 1 with FILE:LINE: FIELD for a scenario with a mistake", async () => {
    const r = await capture(["run", join(FIXTURES_DIR, "bad.yaml")]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `iommu-sim: ${join(FIXTURES_DIR, "bad.yaml")}:14: steps[2].map.size: expected a size like 0x1000 or "4K", got "4Q"\n`,
    );
  });
  it("exits 1 with one line for an unreadable file, 2 for an unknown option or no scenario", async () => {
    const a = await capture(["run", "/nonexistent/s.yaml"]);
    expect([a.code, a.err]).toEqual([
      1,
      "iommu-sim: cannot read '/nonexistent/s.yaml': no such file or directory\n",
    ]);
    const b = await capture(["run", example, "--frobnicate"]);
    expect(b.code).toBe(2);
    expect(b.err.split("\n")[0]).toBe("error: unknown option '--frobnicate'");
    expect((await capture(["run"])).code).toBe(2);
  });
  it("has --help with exit statuses and examples for run, replay, dump and decode pte", async () => {
    for (const cmd of [["run"], ["replay"], ["dump"], ["decode", "pte"]]) {
      const r = await capture([...cmd, "--help"]);
      expect(r.code, cmd.join(" ")).toBe(0);
      expect(r.out, cmd.join(" ")).toMatch(/Exit status:[\s\S]*Examples:\n {2}\$ iommu-sim /);
    }
  });
});

describe("iommu-sim dump", () => {
  it("runs a scenario and dumps the named domain's table as a tree with the IOTLB", async () => {
    const r = await capture(["dump", join(EXAMPLES_DIR, "01-smmuv3-page-table.yaml"), "--domain", "d1"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^domain d1 \(#\d+, smmu0\): arm-lpae-s1, 4 levels, granule 4K, root 0x[0-9a-f]+\n/,
    );
    expect(r.out).toContain("L3[256] 0x80000f47 page 0x100000 -> 0x80000000 4K READ|WRITE|CACHE");
    expect(r.out).toContain("L2[0] 0x90000ec1 block 0x40000000 -> 0x90000000 2M READ");
    expect(r.out).toMatch(/IOTLB of smmu0: 1 valid; lookups 3, hits 1, misses 2/);
  });
  it("dumps every live paging domain as JSON without --domain", async () => {
    const r = await capture(["dump", join(EXAMPLES_DIR, "05-cross-backend.yaml"), "--json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out) as { domains: { domain: string; pageTable: { format: string } | null }[] };
    const formats = Object.fromEntries(json.domains.map((d) => [d.domain, d.pageTable?.format]));
    expect(formats).toMatchObject({
      arm: "arm-lpae-s1",
      v7: "arm-v7s",
      intel: "intel-vtd-ss",
      amd: "amd-v1",
    });
  });
  it("exits 1 with one line for an unknown domain, and when a step failed (still dumping)", async () => {
    const a = await capture(["dump", example, "--domain", "nope"]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/^iommu-sim: dump: no domain named "nope" \(named so far: d\)\n$/);
    const b = await capture(["dump", failing()]);
    expect(b.code).toBe(1);
    expect(b.out).toBe("domain default:d (#1, ref0): no page-table bytes to show\n");
    expect(b.err).toMatch(/steps\[0\] \(expect\) failed: fault count is 0/);
  });
});
