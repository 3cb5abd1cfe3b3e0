import { describe, expect, it } from "vitest";
import { capture } from "./test-capture.js";

const pte = async (...args: string[]) => {
  const r = await capture(["decode", "pte", ...args, "--json"]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as Record<string, unknown>[];
};

describe("iommu-sim decode pte", () => {
  it("decodes the LPAE stage-1 page of hw-facts 1.11 A1: page, RW, CACHE, XN", async () => {
    const [d] = await pte("--format", "arm-lpae-s1", "0x0060000000000F47");
    expect(d).toMatchObject({
      level: 3,
      type: "page",
      outputAddress: "0x0",
      size: "4K",
      prot: "READ|WRITE|CACHE|NOEXEC",
    });
    expect(d!.fields).toMatchObject({ AF: true, SH: 3, AttrIndx: 1, AP: 1, nG: true, UXN: true, PXN: true });
  });
  it("decodes LPAE blocks (A2, A6 read-only) and stage 2 (A9) and a table", async () => {
    const [block] = await pte("--format", "arm-lpae-s1", "--level", "2", "0x0060000040000F45");
    expect(block).toMatchObject({ type: "block", outputAddress: "0x40000000", size: "2M" });
    const [ro] = await pte("--format", "arm-lpae-s1", "0x0000000087654FC7");
    expect(ro).toMatchObject({ type: "page", outputAddress: "0x87654000", prot: "READ|CACHE" });
    const [s2] = await pte("--format", "arm-lpae-s2", "0x00600000000007FF");
    expect(s2).toMatchObject({ type: "page", prot: "READ|WRITE|CACHE|NOEXEC" });
    expect(s2!.fields).toMatchObject({ S2AP: 3, MemAttr: 15 });
    const [table] = await pte("--format", "arm-lpae-s1", "--level", "0", "0x40002003");
    expect(table).toMatchObject({ type: "table", nextTable: "0x40002000" });
  });
  it("decodes a 64K-granule page with 52-bit PA packing (A14) when told the granule", async () => {
    const [d] = await pte("--format", "arm-lpae-s1", "--granule", "64k", "0x006000000001FF47");
    expect(d).toMatchObject({ granule: 65536, type: "page", size: "64K" });
  });
  it("decodes ARMv7 short descriptors (hw-facts 2: V1 small page, V2 large page, V3 section)", async () => {
    const [small, large] = await pte("--format", "arm-v7s", "0x00000C7F", "0x01009C3D");
    expect(small).toMatchObject({
      type: "small-page",
      outputAddress: "0x0",
      size: "4K",
      prot: "READ|WRITE|CACHE|NOEXEC",
    });
    expect(large).toMatchObject({ type: "large-page", outputAddress: "0x1000000", size: "64K" });
    const [section] = await pte("--format", "arm-v7s", "--level", "1", "0x020B1C1E");
    expect(section).toMatchObject({ type: "section", outputAddress: "0x2000000", size: "1M" });
    expect(section!.fields).toMatchObject({ NS: true, XN: true });
  });
  it("decodes AMD v1 and VT-d second-stage leaves (hw-facts 3)", async () => {
    const [amd4k] = await pte("--format", "amd-v1", "0x7000000012345001");
    expect(amd4k).toMatchObject({
      level: 0,
      type: "page",
      outputAddress: "0x12345000",
      prot: "READ|WRITE|CACHE",
    });
    expect(amd4k!.fields).toMatchObject({ PR: true, IR: true, IW: true, FC: true });
    const [amd2m] = await pte("--format", "amd-v1", "--level", "1", "0x3000000080000001");
    expect(amd2m).toMatchObject({ type: "block", size: "2M", prot: "READ|CACHE" });
    const [vtd] = await pte("--format", "intel-vtd-ss", "0x0000000012345003");
    expect(vtd).toMatchObject({ type: "page", outputAddress: "0x12345000", size: "4K", prot: "READ|WRITE" });
    const [vtd2m] = await pte("--format", "intel-vtd-ss", "--level", "1", "0x0000000040000083");
    expect(vtd2m).toMatchObject({ type: "block", outputAddress: "0x40000000", size: "2M" });
  });
  it("prints a readable line per descriptor without --json", async () => {
    const r = await capture(["decode", "pte", "--format", "arm-lpae-s1", "0x0060000000000F47"]);
    expect(r.out).toMatch(
      /^0x60000000000f47 {2}arm-lpae-s1 level 3 granule 4K: page -> 0x0 4K READ\|WRITE\|CACHE\|NOEXEC\n {2}OutputAddress=0x0 /,
    );
  });
  it("refuses an unknown format, a bad value or a missing format with one line and exit 2", async () => {
    for (const args of [
      ["--format", "arm-lpae-s3", "0x1"],
      ["--format", "amd-v1", "0xZZ"],
      ["0x1"],
      ["--format", "arm-lpae-s1", "--granule", "8k", "0x1"],
    ]) {
      const r = await capture(["decode", "pte", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err.trim().split("\n")[0]).toMatch(/error/);
    }
  });
  it("exits 1 with one line for a level the format does not have", async () => {
    const r = await capture(["decode", "pte", "--format", "arm-v7s", "--level", "5", "0x1"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^iommu-sim: decode pte: arm-v7s level 5: /);
    expect(r.err.trim().split("\n")).toHaveLength(1);
  });
  it("leaves decode FILE working", async () => {
    const r = await capture(["decode", "/nonexistent/x.log"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("iommu-sim: cannot read '/nonexistent/x.log': no such file or directory\n");
  });
});
