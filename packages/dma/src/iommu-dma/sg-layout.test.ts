import { describe, expect, it } from "vitest";
import { finaliseSg, iommuDmaSgLayout } from "./sg-layout.js";

const K = 0x1000;
const run = (pa: number[], len: number[], boundary: number, maxSeg: number, base: number) => {
  const layout = iommuDmaSgLayout(pa, len, pa.length, K, boundary);
  const segs = finaliseSg(layout, len, pa.length, base, boundary, maxSeg);
  return {
    total: layout.total,
    iovaLen: [...layout.iovaLen],
    count: segs.count,
    segs: [...segs.addr].slice(0, segs.count).map((a, i) => [a, segs.len[i]]),
  };
};

describe("map_sg layout and __finalise_sg, hand-worked", () => {
  it("64K boundary: the entry before one that would straddle it is padded, two segments", () => {
    // 0x3000 then 0xf000: the second would cover [0x3000, 0x12000) across 0x10000, so entry 0 is
    // padded by 0xd000 and entry 1 starts at 0x10000.
    const r = run([0x1000_0000, 0x2000_0000], [0x3000, 0xf000], 0x10000, 0x10000, 0x40000);
    expect(r.iovaLen).toEqual([0x10000, 0xf000]);
    expect(r.total).toBe(0x1f000);
    expect(r.segs).toEqual([
      [0x40000, 0x3000],
      [0x50000, 0xf000],
    ]);
  });
  it("64K boundary: no padding when the pad is not smaller than the entry minus one", () => {
    const r = run([0x1000_0000, 0x2000_0000], [0xf000, 0x1000], 0x10000, 0x10000, 0x40000);
    expect(r.iovaLen).toEqual([0xf000, 0x1000]);
    expect(r.segs).toEqual([[0x40000, 0x10000]]);
  });
  it("a segment boundary reached without padding starts a new segment", () => {
    const pa = Array.from({ length: 17 }, (_, i) => 0x1000_0000 + i * 2 * K);
    const r = run(
      pa,
      pa.map(() => K),
      0x10000,
      0x100000,
      0x100000,
    );
    expect(r.segs).toEqual([
      [0x100000, 0x10000],
      [0x110000, 0x1000],
    ]);
  });
  it("max segment size splits merged entries", () => {
    const r = run([0x1000_0000, 0x3000_0000, 0x2000_0000], [K, K, K], 0, 0x2000, 0x41000);
    expect(r.segs).toEqual([
      [0x41000, 0x2000],
      [0x43000, 0x1000],
    ]);
  });
  it("offsets: an entry ending inside its granule closes the segment; an entry with an offset starts one", () => {
    const a = run([0x1000_0100, 0x2000_0000], [0x200, 0x1000], 0, 0x10000, 0x80000);
    expect(a.iovaLen).toEqual([0x1000, 0x1000]);
    expect(a.segs).toEqual([
      [0x80100, 0x200],
      [0x81000, 0x1000],
    ]);
    const b = run([0x1000_0000, 0x2000_0800], [0x1000, 0x800], 0, 0x10000, 0x80000);
    expect(b.segs).toEqual([
      [0x80000, 0x1000],
      [0x81800, 0x800],
    ]);
  });
  it("whole granules merge into one segment regardless of physical contiguity", () => {
    const r = run([0x5000, 0x9000, 0x2000], [K, 2 * K, K], 0, 0x10000, 0x10000);
    expect(r).toMatchObject({ total: 4 * K, count: 1, segs: [[0x10000, 4 * K]] });
  });
  it("without a boundary, IOVA 0 counts as one (dma_addr & ULONG_MAX == 0)", () => {
    const r = run([0x5000, 0x9000], [K, K], 0, 0x10000, 0);
    expect(r.count).toBe(1);
  });
});
