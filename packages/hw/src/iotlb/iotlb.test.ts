import { describe, expect, it } from "vitest";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createIotlb, IOTLB_PRESETS, type Iotlb, type IotlbOptions } from "./iotlb.js";
import { createIotlbHit, createIotlbTags, type IotlbTags } from "./types.js";

const K4 = 0x1000;
const M2 = 0x20_0000;
const G1 = 0x4000_0000;
const RW = IOMMU_READ | IOMMU_WRITE;
const OUT = 0x8_0000_0000;

/** Looks up page `vpn` (4 KiB); on a miss inserts it. Returns "H" or "M". */
function touch(tlb: Iotlb, vpn: number, tags: IotlbTags = createIotlbTags({ asid: 1 })): string {
  const hit = createIotlbHit();
  if (tlb.lookup(vpn * K4, tags, hit) >= 0) {
    expect(hit.outputAddress).toBe(OUT + vpn * K4);
    return "H";
  }
  tlb.insert(vpn * K4, K4, OUT + vpn * K4, RW, 3, tags);
  return "M";
}

function run(options: IotlbOptions, vpns: number[]): string {
  const tlb = createIotlb(options);
  return vpns.map((v) => touch(tlb, v)).join("");
}

/** The pages cached in set `set`, by way (undefined = invalid way). */
function setContents(tlb: Iotlb, set: number): (number | undefined)[] {
  const ways: (number | undefined)[] = new Array(tlb.ways).fill(undefined);
  for (const e of tlb.snapshot()) if (e.set === set) ways[e.way] = Number(e.iova) / K4;
  return ways;
}

describe("replacement policies: hand-worked sequences", () => {
  // 4 entries, 2 ways -> 2 sets; even pages index set 0.
  const twoWay = { entries: 4, ways: 2 } as const;

  it("LRU: 0,2,0,4,2,0 in one 2-way set", () => {
    const tlb = createIotlb({ ...twoWay, replacement: "lru" });
    // 0 M; 2 M; 0 H (0 now most recent); 4 M evicts 2; 2 M evicts 0; 0 M evicts 4.
    expect([0, 2, 0, 4, 2, 0].map((v) => touch(tlb, v)).join("")).toBe("MMHMMM");
    expect(tlb.stats().evictions).toBe(3);
    expect(setContents(tlb, 0)).toEqual([2, 0]);
  });

  it("FIFO: 0,2,0,4,2,0 in one 2-way set", () => {
    const tlb = createIotlb({ ...twoWay, replacement: "fifo" });
    // 0 M; 2 M; 0 H (no refresh); 4 M evicts 0 (oldest); 2 H; 0 M evicts 2.
    expect([0, 2, 0, 4, 2, 0].map((v) => touch(tlb, v)).join("")).toBe("MMHMHM");
    expect(tlb.stats().evictions).toBe(2);
    expect(setContents(tlb, 0)).toEqual([4, 0]);
  });

  it("round robin vs FIFO differ after an invalidation frees a way", () => {
    const seq = (replacement: "fifo" | "round-robin") => {
      const tlb = createIotlb({ ...twoWay, replacement });
      const first = [0, 2, 4].map((v) => touch(tlb, v)).join("");
      tlb.invalidateRange({ start: 2 * K4, size: K4 });
      const rest = [6, 8, 4].map((v) => touch(tlb, v)).join("");
      return { trace: first + rest, ways: setContents(tlb, 0), evictions: tlb.stats().evictions };
    };
    // FIFO: [0,2] -> 4 evicts 0 -> [4,2]; drop 2 -> [4,_]; 6 fills way 1 -> [4,6];
    //       8 evicts the oldest (4) -> [8,6]; 4 misses and evicts 6 -> [8,4].
    expect(seq("fifo")).toEqual({ trace: "MMMMMM", ways: [8, 4], evictions: 3 });
    // RR:   [0,2] -> 4 at pointer 0 -> [4,2], pointer 1; drop 2 -> [4,_]; 6 fills way 1 -> [4,6];
    //       8 at pointer 1 -> [4,8], pointer 0; 4 hits.
    expect(seq("round-robin")).toEqual({ trace: "MMMMMH", ways: [4, 8], evictions: 2 });
  });

  it("LRU and FIFO on Belady's reference string, 4 entries fully associative", () => {
    const refs = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
    // LRU: 5 evicts 3, 3 evicts 4, 4 evicts 5, 5 evicts 1: 8 misses.
    expect(run({ entries: 4, ways: 4, replacement: "lru" }, refs)).toBe("MMMMHHMHHMMM");
    // FIFO: 5 evicts 1, then every later reference misses: 10 misses (Belady's anomaly needs 3 vs 4).
    expect(run({ entries: 4, ways: 4, replacement: "fifo" }, refs)).toBe("MMMMHHMMMMMM");
    expect(run({ entries: 3, ways: 3, replacement: "fifo" }, refs)).toBe("MMMMMMMHHMMH");
  });

  it("random (xorshift32, seed 1): victims are ways 1,1,1,3,1", () => {
    // xorshift32 from seed 1 yields 270369, 67634689, 2647435461, 307599695, 2398689233; mod 4 =
    // 1, 1, 1, 3, 1. Pages 1-4 fill ways 0-3; 5 -> way 1 (2 out); 6 -> way 1 (5 out); 7 -> way 1;
    // 8 -> way 3 (4 out); 1 hits; 2 -> way 1 (7 out); 3 hits.
    const tlb = createIotlb({ entries: 4, ways: 4, replacement: "random", seed: 1 });
    const trace = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3].map((v) => touch(tlb, v)).join("");
    expect(trace).toBe("MMMMMMMMHMH");
    expect(setContents(tlb, 0)).toEqual([1, 2, 3, 8]);
    expect(tlb.stats().evictions).toBe(5);
    // Same seed, same victims.
    const again = createIotlb({ entries: 4, ways: 4, replacement: "random", seed: 1 });
    expect([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3].map((v) => touch(again, v)).join("")).toBe(trace);
  });

  it("direct mapped (1 way): conflicting pages evict each other", () => {
    // 4 sets of 1 way: pages 0 and 4 share set 0.
    expect(run({ entries: 4, ways: 1 }, [0, 4, 0, 1, 5, 1, 2])).toBe("MMMMMMM");
    expect(run({ entries: 4, ways: 1 }, [0, 1, 2, 3, 0, 1, 2, 3])).toBe("MMMMHHHH");
  });

  it("non-power-of-two set counts index by modulo", () => {
    const tlb = createIotlb({ entries: 12, ways: 4 }); // 3 sets
    touch(tlb, 7);
    expect(tlb.snapshot()[0]).toMatchObject({ set: 7 % 3, way: 0 });
  });
});

describe("statistics, snapshot, describe", () => {
  it("counts lookups, hits, misses, insertions and evictions", () => {
    const tlb = createIotlb({ entries: 4, ways: 2 });
    for (const v of [0, 2, 0, 4, 2, 0]) touch(tlb, v);
    expect(tlb.stats()).toEqual({
      lookups: 6,
      hits: 1,
      misses: 5,
      insertions: 5,
      evictions: 3,
      overflowFlushes: 0,
      invalidations: { all: 0, tag: 0, range: 0 },
      dropped: { all: 0, tag: 0, range: 0 },
    });
    tlb.resetStats();
    expect(tlb.stats().lookups).toBe(0);
    expect(tlb.validEntries).toBe(2);
  });

  it("snapshot reports tags, sizes, addresses as bigint and age", () => {
    const tlb = createIotlb({ entries: 8, ways: 2 });
    const tags = createIotlbTags({ asid: 3, vmid: 2, pasid: 5, stream: 0x10 });
    tlb.insert(0x20_0123, M2, 0x4000_0123 + 0x20_0000, IOMMU_READ, 2, tags, true);
    const [e] = tlb.snapshot();
    expect(e).toEqual({
      index: 2,
      set: 1,
      way: 0,
      iova: 0x20_0000n,
      output: 0x4020_0000n,
      size: 0x20_0000n,
      perm: IOMMU_READ,
      level: 2,
      asid: 3,
      vmid: 2,
      pasid: 5,
      stream: 0x10,
      stage: 1,
      global: true,
      age: 0,
    });
    expect(tlb.describe()).toBe("IOTLB: 8 entries, 2-way x 4 sets, lru; 1 valid (2M)");
    expect(createIotlb({ entries: 32, ways: 32, replacement: "round-robin" }).describe()).toContain(
      "fully associative",
    );
    expect(tlb.geometry).toMatchObject({ entries: 8, ways: 2, sets: 4, replacement: "lru" });
  });

  it("refuses a bad geometry or entry with EINVAL", () => {
    expect(() => createIotlb({ entries: 12, ways: 5 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => createIotlb({ entries: 4, ways: 8 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => createIotlb({ entries: 0 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const tlb = createIotlb();
    const tags = createIotlbTags();
    expect(() => tlb.insert(0, 0x3000, 0, RW, 3, tags)).toThrow(/page size 0x3000/);
    expect(() => tlb.insert(0, 0x800, 0, RW, 3, tags)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => tlb.insert(0x1000, K4, 0x1800, RW, 3, tags)).toThrow(/not aligned/);
    expect(() => tlb.insert(-1, K4, 0, RW, 3, tags)).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

describe("qemu mode", () => {
  it("is emptied entirely when an insert finds it holding N entries", () => {
    const tlb = createIotlb({ entries: 4, replacement: "qemu" });
    // 4 distinct pages fit; re-touching them hits; the 5th flushes everything, then is inserted.
    expect([0, 1, 2, 3, 0, 1, 2, 3].map((v) => touch(tlb, v)).join("")).toBe("MMMMHHHH");
    expect(touch(tlb, 4)).toBe("M");
    expect(tlb.validEntries).toBe(1);
    expect(tlb.stats()).toMatchObject({ overflowFlushes: 1, evictions: 4 });
    expect([4, 0, 1, 2, 3].map((v) => touch(tlb, v)).join("")).toBe("HMMMM"); // 3 flushes again at 5
    expect(tlb.stats().overflowFlushes).toBe(2);
  });

  it("has no set conflicts below capacity and re-inserting a page does not grow it", () => {
    const tlb = createIotlb({ entries: 256, replacement: "qemu" });
    for (let v = 0; v < 256; v++) touch(tlb, v * 256);
    for (let v = 0; v < 256; v++) expect(touch(tlb, v * 256)).toBe("H");
    tlb.insert(0, K4, OUT, RW, 3, createIotlbTags({ asid: 1 }));
    expect(tlb.validEntries).toBe(256);
    expect(tlb.stats().overflowFlushes).toBe(0);
  });

  it("invalidation keeps the survivors findable", () => {
    const tlb = createIotlb({ ...IOTLB_PRESETS["qemu-smmuv3"] });
    for (let v = 0; v < 100; v++) touch(tlb, v);
    expect(tlb.invalidateRange({ start: 10 * K4, size: 20 * K4 })).toBe(20);
    const trace = Array.from({ length: 100 }, (_, v) => touch(tlb, v)).join("");
    expect(trace).toBe("H".repeat(10) + "M".repeat(20) + "H".repeat(70));
  });

  it("presets carry the peers' capacities", () => {
    expect(createIotlb(IOTLB_PRESETS["qemu-smmuv3"]).entries).toBe(256);
    expect(createIotlb(IOTLB_PRESETS["qemu-vtd"]).entries).toBe(1024);
    expect(createIotlb(IOTLB_PRESETS["qemu-amd"]).entries).toBe(1024);
    expect(createIotlb(IOTLB_PRESETS["gem5-main-tlb"]).geometry).toMatchObject({ sets: 512, ways: 4 });
  });
});

describe("mixed page sizes", () => {
  const sizes = [0x1000, 0x2000, 0x4000, 0x8000, 0x1_0000, M2, 0x200_0000, 0x2000_0000, G1, 2 ** 39];

  it.each(["lru", "qemu"] as const)("caches every power-of-two size from 4K to 512G (%s)", (replacement) => {
    const tlb = createIotlb({ entries: 64, ways: 4, replacement });
    const tags = createIotlbTags({ asid: 1 });
    const hit = createIotlbHit();
    sizes.forEach((size, i) => {
      const iova = i * 2 ** 40 + (i + 1) * size; // one page per size, in distinct sets
      tlb.insert(iova, size, 2 ** 44 + i * 2 ** 40, RW, i, tags);
    });
    expect(tlb.pageSizesPresent()).toEqual(sizes);
    sizes.forEach((size, i) => {
      const iova = i * 2 ** 40 + (i + 1) * size;
      expect(tlb.lookup(iova + size - 8, tags, hit)).toBeGreaterThanOrEqual(0);
      expect(hit).toMatchObject({
        pageSize: size,
        level: i,
        outputAddress: 2 ** 44 + i * 2 ** 40 + size - 8,
      });
      expect(tlb.lookup(iova + size, tags, hit)).toBe(-1); // the next page is not cached
    });
  });

  it("indexes a large page by its own page number", () => {
    const tlb = createIotlb({ entries: 16, ways: 2 }); // 8 sets
    tlb.insert(5 * M2 + 0x1234, M2, OUT + 0x1234, RW, 2, createIotlbTags());
    expect(tlb.snapshot()[0]).toMatchObject({ set: 5, iova: BigInt(5 * M2) });
    // Any 4K page inside the 2M page hits, although its 4K page number indexes another set.
    const hit = createIotlbHit();
    expect(tlb.lookup(5 * M2 + 0x7000, createIotlbTags(), hit)).toBe(10);
    expect(hit.outputAddress).toBe(OUT + 0x7000);
  });

  it("a 4K entry inside a 2M entry wins the lookup (smallest size probed first)", () => {
    const tlb = createIotlb({ entries: 16, ways: 4 });
    const tags = createIotlbTags();
    const hit = createIotlbHit();
    tlb.insert(0, M2, OUT, RW, 2, tags);
    tlb.insert(0x3000, K4, 0x1000, IOMMU_READ, 3, tags);
    tlb.lookup(0x3010, tags, hit);
    expect(hit).toMatchObject({ outputAddress: 0x1010, pageSize: K4, perm: IOMMU_READ });
    tlb.lookup(0x4010, tags, hit);
    expect(hit).toMatchObject({ outputAddress: OUT + 0x4010, pageSize: M2 });
    // A 4K invalidation at 0x3000 overlaps both entries: both go, and no size is left to probe.
    tlb.invalidateRange({ start: 0x3000, size: K4, pageSize: K4 });
    expect(tlb.pageSizesPresent()).toEqual([]);
  });
});

describe("tags", () => {
  const hit = createIotlbHit();

  it("every tag takes part in the match, including the stage", () => {
    const tlb = createIotlb();
    const base = { asid: 1, vmid: 2, pasid: 3, stream: 4, stage: 1 as const };
    tlb.insert(0x1000, K4, OUT, RW, 3, createIotlbTags(base));
    expect(tlb.lookup(0x1000, createIotlbTags(base), hit)).toBeGreaterThanOrEqual(0);
    for (const change of [{ asid: 9 }, { vmid: 9 }, { pasid: 9 }, { stream: 9 }, { stage: 2 as const }]) {
      expect(tlb.lookup(0x1000, createIotlbTags({ ...base, ...change }), hit)).toBe(-1);
    }
  });

  it("stream ids use all 32 bits", () => {
    const tlb = createIotlb();
    tlb.insert(0x1000, K4, OUT, RW, 3, createIotlbTags({ stream: 0xffff_ffff }));
    expect(tlb.lookup(0x1000, createIotlbTags({ stream: 0xffff_ffff }), hit)).toBeGreaterThanOrEqual(0);
    expect(tlb.snapshot()[0]?.stream).toBe(-1); // stored as int32
  });

  it("global entries ignore ASID and PASID by default, PASID only for VT-d", () => {
    const arm = createIotlb();
    arm.insert(0x1000, K4, OUT, RW, 3, createIotlbTags({ asid: 1, vmid: 1 }), true);
    expect(arm.lookup(0x1000, createIotlbTags({ asid: 7, pasid: 2, vmid: 1 }), hit)).toBeGreaterThanOrEqual(
      0,
    );
    expect(arm.lookup(0x1000, createIotlbTags({ asid: 7, vmid: 2 }), hit)).toBe(-1);
    const vtd = createIotlb({ globalIgnores: "pasid" });
    vtd.insert(0x1000, K4, OUT, RW, 3, createIotlbTags({ asid: 1, pasid: 5 }), true);
    expect(vtd.lookup(0x1000, createIotlbTags({ asid: 1, pasid: 6 }), hit)).toBeGreaterThanOrEqual(0);
    expect(vtd.lookup(0x1000, createIotlbTags({ asid: 2, pasid: 5 }), hit)).toBe(-1);
  });
});

describe("invalidation", () => {
  function filled(): Iotlb {
    const tlb = createIotlb({ entries: 64, ways: 4 });
    // asid 1: 4K pages 0x0-0x7000 and a 2M page at 2M; asid 2: 4K pages 0x0-0x3000; a global page.
    for (let v = 0; v < 8; v++)
      tlb.insert(v * K4, K4, OUT + v * K4, RW, 3, createIotlbTags({ asid: 1, vmid: 1 }));
    tlb.insert(M2, M2, OUT + M2, RW, 2, createIotlbTags({ asid: 1, vmid: 1 }));
    for (let v = 0; v < 4; v++)
      tlb.insert(v * K4, K4, OUT + v * K4, RW, 3, createIotlbTags({ asid: 2, vmid: 1 }));
    tlb.insert(0x10_0000, K4, OUT, RW, 3, createIotlbTags({ asid: 1, vmid: 1 }), true);
    tlb.insert(0x10_0000, K4, OUT, RW, 3, createIotlbTags({ asid: 1, vmid: 2, stage: 2 }));
    return tlb;
  }
  const pages = (tlb: Iotlb) =>
    tlb
      .snapshot()
      .map(
        (e) =>
          `${e.vmid}/${e.global ? "g" : e.asid}:${Number(e.iova).toString(16)}${e.size === BigInt(M2) ? "(2M)" : ""}`,
      )
      .sort();

  it("by range drops exactly the overlapping pages of the selected tags", () => {
    const tlb = filled();
    // 0x2000..0x4fff of asid 1: pages 2, 3, 4.
    expect(tlb.invalidateRange({ start: 0x2000, size: 0x3000, filter: { asid: 1, vmid: 1 } })).toBe(3);
    expect(pages(tlb)).not.toContain("1/1:2000");
    expect(pages(tlb)).toContain("1/2:2000");
    expect(pages(tlb)).toContain("1/1:5000");
    expect(tlb.stats()).toMatchObject({ invalidations: { range: 1 }, dropped: { range: 3 } });
  });

  it("a 4K invalidation inside a 2M entry drops the 2M entry; a range ending at its start does not", () => {
    const tlb = filled();
    expect(tlb.invalidateRange({ start: M2 - K4, size: K4, filter: { asid: 1 } })).toBe(0);
    expect(tlb.invalidateRange({ start: M2 + 0x7_3000, size: K4, filter: { asid: 1 } })).toBe(1);
    expect(pages(tlb).some((p) => p.endsWith("(2M)"))).toBe(false);
  });

  it("leafOnly drops the same IOTLB entries; level/pageSize hints only when honoured", () => {
    const a = filled();
    expect(a.invalidateRange({ start: M2, size: M2, leafOnly: true, level: 3, pageSize: K4 })).toBe(1);
    const b = createIotlb({ entries: 64, ways: 4, honourHints: true });
    b.insert(M2, M2, OUT, RW, 2, createIotlbTags());
    b.insert(0x1000, K4, OUT, RW, 3, createIotlbTags());
    expect(b.invalidateRange({ start: 0, size: 2 * M2, level: 3 })).toBe(1); // wrong TTL: 2M survives
    expect(b.invalidateRange({ start: 0, size: 2 * M2, pageSize: K4 })).toBe(0);
    expect(b.invalidateRange({ start: 0, size: 2 * M2, pageSize: M2, level: 2 })).toBe(1);
  });

  it("by ASID keeps global entries (TLBI_NH_ASID); by VA drops them (TLBI_NH_VA)", () => {
    const tlb = filled();
    expect(tlb.invalidateTags({ asid: 1, vmid: 1 })).toBe(9);
    expect(pages(tlb)).toEqual(["1/2:0", "1/2:1000", "1/2:2000", "1/2:3000", "1/g:100000", "2/1:100000"]);
    expect(tlb.invalidateRange({ start: 0x10_0000, filter: { asid: 1, vmid: 1 } })).toBe(1);
    expect(pages(tlb)).not.toContain("1/g:100000");
  });

  it("by VMID drops everything of the VMID including globals (TLBI_S12_VMALL); by stage", () => {
    const tlb = filled();
    expect(tlb.invalidateTags({ stage: 2 })).toBe(1);
    expect(tlb.invalidateTags({ vmid: 1 })).toBe(14);
    expect(tlb.validEntries).toBe(0);
    expect(tlb.stats()).toMatchObject({ invalidations: { tag: 2 }, dropped: { tag: 15 } });
  });

  it("all", () => {
    const tlb = filled();
    expect(tlb.invalidateAll()).toBe(15);
    expect(tlb.pageSizesPresent()).toEqual([]);
    expect(tlb.stats()).toMatchObject({ invalidations: { all: 1 }, dropped: { all: 15 } });
  });

  it("a range beyond 2^53 or of size 0 drops nothing; a huge range drops everything selected", () => {
    const tlb = filled();
    expect(tlb.invalidateRange({ start: 2n ** 60n, size: 4096n })).toBe(0);
    expect(tlb.invalidateRange({ start: 0, size: 0 })).toBe(0);
    expect(tlb.invalidateRange({ start: 0n, size: 2n ** 64n, filter: { vmid: 1 } })).toBe(14);
  });
});

describe("peek", () => {
  it("answers like lookup without touching statistics or LRU age", () => {
    const tlb = createIotlb({ entries: 2, ways: 2, replacement: "lru" });
    const tags = createIotlbTags({ asid: 1 });
    const hit = createIotlbHit();
    touch(tlb, 0);
    touch(tlb, 1);
    tlb.resetStats();
    expect(tlb.peek(0, tags, hit)).toBe(0);
    expect(hit.outputAddress).toBe(OUT);
    expect(tlb.peek(5 * K4, tags, hit)).toBe(-1);
    expect(tlb.stats()).toMatchObject({ lookups: 0, hits: 0, misses: 0 });
    // Page 0 was not refreshed by the peek, so it is still the LRU victim.
    touch(tlb, 2);
    expect(tlb.peek(0, tags, hit)).toBe(-1);
    expect(tlb.peek(K4, tags, hit)).toBe(1);
  });
});

describe("lookup fast path", () => {
  it("finds the entry whose tags match when several ways of the set hold the same page", () => {
    const tlb = createIotlb({ entries: 16, ways: 4 });
    const a = createIotlbTags({ asid: 1 });
    const b = createIotlbTags({ asid: 2 });
    const c = createIotlbTags({ asid: 3 });
    tlb.insert(0x5000, K4, OUT, RW, 3, a);
    tlb.insert(0x5000, K4, OUT + K4, IOMMU_READ, 3, b);
    const hit = createIotlbHit();
    expect(tlb.lookup(0x5008, b, hit)).toBeGreaterThanOrEqual(0);
    expect([hit.outputAddress, hit.perm]).toEqual([OUT + K4 + 8, IOMMU_READ]);
    expect(tlb.lookup(0x5008, a, hit)).toBeGreaterThanOrEqual(0);
    expect(hit.outputAddress).toBe(OUT + 8);
    // Same page, no entry with these tags; and a page no way of the set holds: both misses.
    expect(tlb.lookup(0x5008, c, hit)).toBe(-1);
    expect(hit.index).toBe(-1);
    expect(tlb.lookup(0x6000, a, hit)).toBe(-1);
    expect(tlb.stats()).toMatchObject({ lookups: 4, hits: 2, misses: 2, insertions: 2 });
  });

  it("a global entry still answers other ASIDs with one page size present", () => {
    const tlb = createIotlb({ entries: 16, ways: 4 });
    tlb.insert(0x7000, K4, OUT, RW, 3, createIotlbTags({ asid: 1 }), true);
    const hit = createIotlbHit();
    expect(tlb.lookup(0x7000, createIotlbTags({ asid: 9 }), hit)).toBeGreaterThanOrEqual(0);
    expect(tlb.stats()).toMatchObject({ lookups: 1, hits: 1, misses: 0 });
  });

  it("a range invalidation that drops the last entry of a size keeps probing the others", () => {
    const tlb = createIotlb({ entries: 64, ways: 4 });
    const tags = createIotlbTags({ asid: 1 });
    tlb.insert(0, M2, OUT, RW, 2, tags);
    tlb.insert(K4, K4, OUT + M2 + K4, RW, 3, tags);
    tlb.insert(2 * K4, K4, OUT + M2 + 2 * K4, RW, 3, tags);
    expect(tlb.pageSizesPresent()).toEqual([K4, M2]);
    expect(tlb.invalidateRange({ start: 0, size: 3 * K4 })).toBe(3);
    expect(tlb.validEntries).toBe(0);
    expect(tlb.pageSizesPresent()).toEqual([]);
  });
});
