import { isIommuSimError } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSwiotlbPool, IO_TLB_SEGSIZE, IO_TLB_SIZE } from "./pool.js";

const START = 0x8000_0000;

describe("swiotlb pool", () => {
  it("defaults to 64 MiB of 2 KiB slots in 128-slot segments", () => {
    const pool = createSwiotlbPool({ start: START });
    expect(pool.nslabs).toBe(32768);
    const list = pool.snapshot().list;
    expect([list[0], list[1], list[127], list[128]]).toEqual([128, 127, 1, 128]);
  });

  it("page-sized bounces are page aligned; smaller ones take the next slots", () => {
    const pool = createSwiotlbPool({ start: START });
    expect(pool.mapSingle(0x1234_5000, 4096)).toBe(START);
    expect(pool.mapSingle(0x1234_5000, 100)).toBe(START + 2 * IO_TLB_SIZE);
    // Slot 3 is not page aligned: a page-sized bounce skips to slot 4.
    expect(pool.mapSingle(0x1000, 5000)).toBe(START + 4 * IO_TLB_SIZE);
    expect(pool.stats()).toMatchObject({ used: 2 + 1 + 3 });
  });

  it("keeps the bits under min_align_mask, padding inside the first slot", () => {
    const pool = createSwiotlbPool({ start: START });
    // NVMe-style 4 KiB min_align_mask: bit 11 picks an odd slot, the low 11 bits are an offset in it.
    const tlb = pool.mapSingle(0x1000_0a30, 100, { minAlignMask: 0xfff });
    expect(tlb).toBe(START + IO_TLB_SIZE + 0x230);
    expect(tlb & 0xfff).toBe(0xa30);
    expect(pool.allocation(tlb, 0xfff)).toEqual({ firstSlot: 1, nslots: 1, origAddr: 0x1000_0a30 });
  });

  it("alloc_align_mask aligns the allocation; the min_align offset can need a padding slot", () => {
    const pool = createSwiotlbPool({ start: START });
    pool.mapSingle(0x5000, 100); // slot 0, so the search starts at slot 1
    // 64 KiB IOVA granule: start 64 KiB aligned (slot 32); 0xf00 of offset = one whole pad slot + 0x700.
    const tlb = pool.mapSingle(0x1_2345_6f00, 0x1000, { minAlignMask: 0xfff, allocAlignMask: 0xffff });
    expect(tlb).toBe(START + 32 * IO_TLB_SIZE + 0xf00);
    expect(pool.allocation(tlb, 0xfff)).toMatchObject({ firstSlot: 32, nslots: 32 });
    pool.release(tlb, 0xfff);
    expect(pool.stats().used).toBe(1);
  });

  it("never crosses a segment and reports 'swiotlb buffer is full'", () => {
    const warnings: string[] = [];
    const pool = createSwiotlbPool({
      start: START,
      size: 2 * IO_TLB_SEGSIZE * IO_TLB_SIZE,
      warn: (m) => warnings.push(m),
    });
    expect(pool.mapSingle(0x10000, 100 * IO_TLB_SIZE, { allocAlignMask: 0x7ff })).toBe(START);
    expect(pool.mapSingle(0x10000, 100 * IO_TLB_SIZE, { allocAlignMask: 0x7ff })).toBe(
      START + 128 * IO_TLB_SIZE,
    );
    // 56 slots are free, but 28 in each segment.
    expect(pool.mapSingle(0x10000, 30 * IO_TLB_SIZE, { allocAlignMask: 0x7ff })).toBe(-1);
    expect(warnings).toEqual([
      "swiotlb buffer is full (sz: 61440 bytes), total 256 (slots), used 200 (slots)",
    ]);
    // More than a segment never fits.
    expect(pool.mapSingle(0, 129 * IO_TLB_SIZE)).toBe(-1);
    expect(pool.stats()).toMatchObject({ full: 2, used: 200, hiwater: 200 });
  });

  it("rejects bad arguments with EINVAL naming the value and changes nothing", () => {
    const pool = createSwiotlbPool({ start: START });
    const tlb = pool.mapSingle(0x1000, 100);
    const before = pool.snapshot();
    for (const [call, text] of [
      [() => pool.mapSingle(0x1000, 0), /size 0/],
      [() => pool.mapSingle(-5, 10), /-5/],
      [() => pool.mapSingle(0x1000, 10, { minAlignMask: 0x1000 }), /min_align_mask 4096/],
      [() => pool.release(tlb + IO_TLB_SIZE), new RegExp(String(tlb + IO_TLB_SIZE))],
      [() => pool.release(12), /12/],
      [() => createSwiotlbPool({ start: 100 }), /start 100/],
    ] as const) {
      try {
        call();
        expect.unreachable();
      } catch (error) {
        expect(isIommuSimError(error) && error.code).toBe("EINVAL");
        expect((error as Error).message).toMatch(text);
      }
    }
    expect(pool.snapshot()).toEqual(before);
    pool.release(tlb);
    expect(() => pool.release(tlb)).toThrow(/not a live/);
  });

  it("properties: low bits kept, aligned starts, no overlap, releasing all restores the pool", () => {
    const mapArb = fc.record({
      orig: fc.integer({ min: 0, max: 2 ** 40 }),
      size: fc.integer({ min: 1, max: 40 * IO_TLB_SIZE }),
      minBits: fc.constantFrom(0, 11, 12),
      allocBits: fc.constantFrom(0, 11, 12, 14, 16),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(mapArb, fc.nat()), { maxLength: 200 }), (ops) => {
        const pool = createSwiotlbPool({ start: START, size: 16 * IO_TLB_SEGSIZE * IO_TLB_SIZE });
        const initial = pool.snapshot().list;
        const owner = new Int32Array(pool.nslabs).fill(-1);
        const live: Array<{ tlb: number; mask: number; first: number; n: number }> = [];
        let id = 0;
        for (const op of ops) {
          if (typeof op === "number") {
            const victim = live.splice(op % Math.max(1, live.length), 1)[0];
            if (victim === undefined) continue;
            pool.release(victim.tlb, victim.mask);
            owner.fill(-1, victim.first, victim.first + victim.n);
            continue;
          }
          const minAlignMask = op.minBits === 0 ? 0 : 2 ** op.minBits - 1;
          const allocAlignMask = op.allocBits === 0 ? 0 : 2 ** op.allocBits - 1;
          const tlb = pool.mapSingle(op.orig, op.size, { minAlignMask, allocAlignMask });
          if (tlb < 0) continue;
          expect(tlb & minAlignMask).toBe(op.orig & minAlignMask);
          const a = pool.allocation(tlb, minAlignMask)!;
          expect(a.origAddr).toBe(op.orig);
          expect((START + a.firstSlot * IO_TLB_SIZE) & allocAlignMask).toBe(0);
          expect(tlb + op.size).toBeLessThanOrEqual(START + (a.firstSlot + a.nslots) * IO_TLB_SIZE);
          expect(Math.floor(a.firstSlot / IO_TLB_SEGSIZE)).toBe(
            Math.floor((a.firstSlot + a.nslots - 1) / IO_TLB_SEGSIZE),
          );
          for (let s = a.firstSlot; s < a.firstSlot + a.nslots; s++) {
            expect(owner[s]).toBe(-1);
            owner[s] = id;
          }
          id++;
          live.push({ tlb, mask: minAlignMask, first: a.firstSlot, n: a.nslots });
        }
        for (const v of live) pool.release(v.tlb, v.mask);
        expect(pool.snapshot().list).toEqual(initial);
        expect(pool.stats().used).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
