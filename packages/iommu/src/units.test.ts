import { describe, expect, it } from "vitest";
import { highBit, lowBit, or53, toAddr } from "./address.js";
import { createVirtualClock } from "./clock.js";
import {
  DOMAIN_TYPES,
  domainTypeName,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  isDmaType,
} from "./domain-type.js";
import { createIotlbGather, iotlbGatherAddPage, iotlbGatherIsEmpty } from "./gather.js";
import { mergeResvRegions } from "./resv.js";

describe("address helpers", () => {
  it("bit scans work across 32 bits", () => {
    expect(lowBit(2 ** 40)).toBe(40);
    expect(highBit(2 ** 40 + 1)).toBe(40);
    expect(lowBit(0x1000)).toBe(12);
    expect(or53(2 ** 40, 0x1000)).toBe(2 ** 40 + 0x1000);
  });
  it("toAddr refuses negatives (EINVAL) and values beyond 2^53 (ERANGE)", () => {
    expect(toAddr(5n, "x")).toBe(5);
    expect(() => toAddr(-1, "x")).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => toAddr(1.5, "x")).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => toAddr(2n ** 60n, "x")).toThrow(expect.objectContaining({ code: "ERANGE" }));
  });
});

describe("domain types", () => {
  it("compose Linux's bits and sysfs names", () => {
    expect(DOMAIN_TYPES).toEqual([0, 4, 1, 3, 11]);
    expect(isDmaType(IOMMU_DOMAIN_DMA_FQ)).toBe(true);
    expect(DOMAIN_TYPES.map(domainTypeName)).toEqual(["blocked", "identity", "unmanaged", "DMA", "DMA-FQ"]);
    expect(IOMMU_DOMAIN_DMA).toBe(3);
  });
});

describe("virtual clock", () => {
  it("fires timers in due order at their due time, never reading the wall clock", () => {
    const clock = createVirtualClock();
    const fired: [string, number][] = [];
    clock.setTimer(100, () => fired.push(["b", clock.now()]));
    const a = clock.setTimer(50, () => fired.push(["a", clock.now()]));
    clock.setTimer(50, () => fired.push(["a2", clock.now()]));
    const c = clock.setTimer(500, () => fired.push(["c", clock.now()]));
    expect(clock.cancelTimer(c)).toBe(true);
    clock.advance(200);
    expect(fired).toEqual([
      ["a", 50],
      ["a2", 50],
      ["b", 100],
    ]);
    expect(clock.now()).toBe(200);
    expect(clock.cancelTimer(a)).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("iotlb gather", () => {
  it("syncs before mixing page sizes or disjoint ranges", () => {
    const g = createIotlbGather();
    const synced: [number, number][] = [];
    const sync = (x: typeof g) => synced.push([x.start, x.end]);
    iotlbGatherAddPage(g, 0x1000, 0x1000, sync);
    iotlbGatherAddPage(g, 0x2000, 0x1000, sync);
    expect(synced).toEqual([]);
    iotlbGatherAddPage(g, 0x10_0000, 0x1000, sync);
    expect(synced).toEqual([[0x1000, 0x2fff]]);
    iotlbGatherAddPage(g, 0x20_0000, 0x20_0000, sync);
    expect(synced).toHaveLength(2);
    expect(iotlbGatherIsEmpty(g)).toBe(false);
  });
});

describe("reserved region merge", () => {
  it("merges overlapping or adjacent regions of one type, never across types", () => {
    const merged = mergeResvRegions([
      { start: 0x2000, length: 0x1000, prot: 3, type: "direct" },
      { start: 0x1000, length: 0x1000, prot: 3, type: "direct" },
      { start: 0x1800, length: 0x1000, prot: 0, type: "reserved" },
      { start: 0x8000, length: 0x100, prot: 0, type: "msi" },
    ]);
    expect(merged).toEqual([
      { start: 0x1000, length: 0x2000, prot: 3, type: "direct" },
      { start: 0x1800, length: 0x1000, prot: 0, type: "reserved" },
      { start: 0x8000, length: 0x100, prot: 0, type: "msi" },
    ]);
  });
});
