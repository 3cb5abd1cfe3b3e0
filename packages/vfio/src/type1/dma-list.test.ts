import { IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  VFIO_DMA_MAP_FLAG_READ as R,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE as W,
} from "../uapi/constants.js";
import { createDmaList, type DmaList, type DmaListOptions } from "./dma-list.js";
import { createFakeBackend, type FakeBackend } from "./test-backend.js";

const P = 4096;
const pn = (n: number) => BigInt(n * P);
const VA = 0x7f00_0000_0000;

function setup(options: Partial<DmaListOptions> = {}): { list: DmaList; backend: FakeBackend } {
  const backend = createFakeBackend();
  const list = createDmaList({ backend, ...options });
  return { list, backend };
}

function state(list: DmaList, backend?: FakeBackend) {
  return {
    mappings: list.mappings().map((d) => ({ ...d })),
    dmaAvail: list.dmaAvail,
    vaddrInvalid: list.vaddrInvalidCount,
    live: backend ? [...backend.live.keys()].sort((a, b) => a - b) : [],
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/** Runs `fn`, expects `code`, and checks that the list and backend did not change. */
function refuses(list: DmaList, backend: FakeBackend, code: string, fn: () => unknown): void {
  const before = state(list, backend);
  expect(codeOf(fn)).toBe(code);
  expect(state(list, backend)).toEqual(before);
}

const map = (list: DmaList, iovaPages: number, pages: number, flags = R | W, vaPages = iovaPages) =>
  list.map({ flags, iova: pn(iovaPages), size: pn(pages), vaddr: BigInt(VA) + pn(vaPages) });

describe("VFIO_IOMMU_MAP_DMA", () => {
  it("records the mapping, pins and maps it through the backend, and takes one dma_avail", () => {
    const { list, backend } = setup();
    const dma = map(list, 16, 4);
    expect(dma).toMatchObject({
      iova: 16 * P,
      size: 4 * P,
      vaddr: VA + 16 * P,
      prot: IOMMU_READ | IOMMU_WRITE,
    });
    expect(dma.iommuMapped).toBe(true);
    expect(backend.calls).toEqual([`map ${(16 * P).toString(16)}+${(4 * P).toString(16)}`]);
    expect(list.dmaAvail).toBe(65534);
    expect(map(list, 0, 1, R).prot).toBe(IOMMU_READ);
    expect(map(list, 1, 1, W).prot).toBe(IOMMU_WRITE);
  });

  it("1. unknown flags are EINVAL", () => {
    const { list, backend } = setup();
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, R | 8));
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, R | (1 << 31)));
  });

  it("3. neither READ/WRITE nor VADDR, or VADDR with READ/WRITE, is EINVAL", () => {
    const { list, backend } = setup();
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, 0));
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, VFIO_DMA_MAP_FLAG_VADDR | R));
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, VFIO_DMA_MAP_FLAG_VADDR | W));
  });

  it("4. zero size or size/iova/vaddr not aligned to the smallest page size is EINVAL", () => {
    const { list, backend } = setup();
    refuses(list, backend, "EINVAL", () => list.map({ flags: R, iova: 0, size: 0, vaddr: VA }));
    refuses(list, backend, "EINVAL", () => list.map({ flags: R, iova: 0, size: 100, vaddr: VA }));
    refuses(list, backend, "EINVAL", () => list.map({ flags: R, iova: 512, size: P, vaddr: VA }));
    refuses(list, backend, "EINVAL", () => list.map({ flags: R, iova: 0, size: P, vaddr: VA + 8 }));
    const big = setup({ pgsizeBitmap: 0x10000n | 0x200000n }); // 64 KiB smallest
    expect(big.list.minPageSize).toBe(0x10000);
    refuses(big.list, big.backend, "EINVAL", () => big.list.map({ flags: R, iova: 0, size: P, vaddr: VA }));
    expect(big.list.map({ flags: R, iova: 0x10000, size: 0x10000, vaddr: VA }).size).toBe(0x10000);
  });

  it("5. an IOVA or vaddr range wrapping 2^64 is EOVERFLOW (EINVAL before the 2025 unification)", () => {
    const top = 2n ** 64n - BigInt(P); // ~0 & ~(PAGE_SIZE - 1)
    const { list, backend } = setup();
    refuses(list, backend, "EOVERFLOW", () => list.map({ flags: R, iova: top, size: pn(2), vaddr: VA }));
    refuses(list, backend, "EOVERFLOW", () => list.map({ flags: R, iova: 0, size: pn(2), vaddr: top }));
    const old = setup({ wrapErrno: "EINVAL" });
    refuses(old.list, old.backend, "EINVAL", () =>
      old.list.map({ flags: R, iova: top, size: pn(2), vaddr: VA }),
    );
    // Wrap is checked before overlap.
    map(list, 0, 1);
    refuses(list, backend, "EOVERFLOW", () => list.map({ flags: R, iova: 0, size: pn(2), vaddr: top }));
  });

  it("6. VADDR: nothing there ENOENT; not exactly one invalidated mapping EINVAL; else the vaddr is replaced", () => {
    const { list, backend } = setup();
    const vaddrFlag = VFIO_DMA_MAP_FLAG_VADDR;
    refuses(list, backend, "ENOENT", () => map(list, 0, 2, vaddrFlag));
    map(list, 0, 2);
    refuses(list, backend, "EINVAL", () => map(list, 0, 2, vaddrFlag, 100)); // not invalidated
    list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: 0, size: pn(2) });
    expect(list.vaddrInvalidCount).toBe(1);
    refuses(list, backend, "EINVAL", () => map(list, 0, 1, vaddrFlag, 100)); // size differs
    refuses(list, backend, "EINVAL", () => map(list, 1, 1, vaddrFlag, 100)); // iova differs
    const dma = map(list, 0, 2, vaddrFlag, 100);
    expect(dma.vaddr).toBe(VA + 100 * P);
    expect(dma.vaddrInvalid).toBe(false);
    expect(list.vaddrInvalidCount).toBe(0);
    expect(backend.calls).toHaveLength(1); // no re-pin: DMA kept going
  });

  it("7. any overlap with an existing mapping is EEXIST (exact, inside, below, above, superset)", () => {
    const { list, backend } = setup();
    map(list, 16, 4);
    for (const [at, pages] of [
      [16, 4],
      [17, 1],
      [14, 3],
      [19, 4],
      [8, 32],
    ] as const) {
      refuses(list, backend, "EEXIST", () => map(list, at, pages));
    }
    map(list, 12, 4);
    map(list, 20, 1);
  });

  it("8. dma_avail exhausted is ENOSPC, checked after overlap", () => {
    const { list, backend } = setup({ dmaEntryLimit: 2 });
    map(list, 0, 1);
    map(list, 1, 1);
    expect(list.dmaAvail).toBe(0);
    refuses(list, backend, "ENOSPC", () => map(list, 2, 1));
    refuses(list, backend, "EEXIST", () => map(list, 1, 1));
    list.unmap({ flags: 0, iova: 0, size: pn(1) });
    map(list, 2, 1);
  });

  it("9. a range not inside one valid IOVA range is EINVAL (after ENOSPC); an empty list accepts anything", () => {
    const ranges = [
      { start: 0n, end: pn(32) - 1n },
      { start: pn(40), end: pn(64) - 1n },
    ];
    const { list, backend } = setup({ iovaRanges: ranges, dmaEntryLimit: 1 });
    refuses(list, backend, "EINVAL", () => map(list, 30, 4)); // runs into the hole
    refuses(list, backend, "EINVAL", () => map(list, 30, 12)); // spans two ranges
    refuses(list, backend, "EINVAL", () => map(list, 64, 1));
    map(list, 63, 1); // the last page of the last range
    refuses(list, backend, "ENOSPC", () => map(list, 70, 1));
  });

  it("maps the last page below the end of the last valid range; unmap and unmap-all report one page", () => {
    const last = { start: 0x1000n, end: 0xffff_ffff_ffffn };
    for (const all of [false, true]) {
      const { list } = setup({ iovaRanges: [last] });
      list.map({ flags: R | W, iova: last.end + 1n - pn(1), size: pn(1), vaddr: VA });
      const result = all
        ? list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 })
        : list.unmap({ flags: 0, iova: last.end + 1n - pn(1), size: pn(1) });
      expect(result.size).toBe(pn(1));
      expect(list.count).toBe(0);
    }
  });

  it("a pin/map failure drops the mapping and gives dma_avail back", () => {
    const { list, backend } = setup();
    map(list, 0, 1);
    backend.failAt(1, "ENOMEM");
    refuses(list, backend, "ENOMEM", () => map(list, 4, 4));
    expect(list.dmaAvail).toBe(65534);
    map(list, 4, 4);
  });

  it("without an IOMMU-backed domain only records the mapping", () => {
    const { list, backend } = setup();
    backend.iommuBacked = false;
    const dma = map(list, 0, 4);
    expect(dma.iommuMapped).toBe(false);
    expect(backend.calls).toEqual([]);
    list.unmap({ flags: 0, iova: 0, size: pn(4) });
    expect(backend.calls).toEqual([`unmap 0+${(4 * P).toString(16)}`]);
  });

  it("a range beyond the simulated 2^53 space is ERANGE when nothing else refuses it", () => {
    const { list, backend } = setup();
    refuses(list, backend, "ERANGE", () => list.map({ flags: R, iova: 2n ** 60n, size: pn(1), vaddr: VA }));
  });
});

describe("VFIO_IOMMU_UNMAP_DMA", () => {
  it("checks flags, alignment, ALL, size and wrap in order, all refused without change", () => {
    const { list, backend } = setup();
    map(list, 0, 4);
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 8, iova: 0, size: pn(4) }));
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, iova: 0, size: pn(4) }),
    );
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: 1, size: pn(4) }));
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: pn(1), size: 0 }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: pn(1) }),
    );
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: 0, size: 0 }));
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: 0, size: P + 1 }));
    const top = 2n ** 64n - BigInt(P);
    refuses(list, backend, "EOVERFLOW", () => list.unmap({ flags: 0, iova: top, size: pn(2) }));
  });

  it("GET_DIRTY_BITMAP: bitmap size, tracking and page size are EINVAL; mappings are reported before removal", () => {
    const { list, backend } = setup();
    map(list, 0, 4);
    map(list, 4, 2);
    const reported: string[] = [];
    const dirty = (over: Partial<{ tracking: boolean; pgsize: number; bitmapSize: number }> = {}) => ({
      tracking: true,
      pgsize: P,
      bitmapSize: 8,
      report: (dma: { iova: number }) => {
        reported.push(`report ${dma.iova.toString(16)}`);
        backend.calls.push(`report ${dma.iova.toString(16)}`);
      },
      ...over,
    });
    const flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags, iova: 0, size: pn(6), dirty: dirty({ bitmapSize: 0 }) }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags, iova: 0, size: pn(6), dirty: dirty({ bitmapSize: 2 ** 28 + 8 }) }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags, iova: 0, size: pn(65), dirty: dirty({ bitmapSize: 8 }) }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags, iova: 0, size: pn(6), dirty: dirty({ tracking: false }) }),
    );
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags, iova: 0, size: pn(6), dirty: dirty({ pgsize: 2 * P, bitmapSize: 8 }) }),
    );
    expect(reported).toEqual([]);
    const result = list.unmap({ flags, iova: 0, size: pn(6), dirty: dirty() });
    expect(result.size).toBe(pn(6));
    expect(backend.calls.slice(-4)).toEqual([
      "report 0",
      `unmap 0+${(4 * P).toString(16)}`,
      `report ${(4 * P).toString(16)}`,
      `unmap ${(4 * P).toString(16)}+${(2 * P).toString(16)}`,
    ]);
  });

  it("v2: bisecting a mapping at either end is EINVAL; an empty range unmaps 0 bytes", () => {
    const { list, backend } = setup();
    map(list, 16, 2);
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: pn(16), size: pn(1) }));
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: pn(17), size: pn(1) }));
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: pn(15), size: pn(2) }));
    refuses(list, backend, "EINVAL", () => list.unmap({ flags: 0, iova: pn(17), size: pn(8) }));
    expect(list.unmap({ flags: 0, iova: pn(100), size: pn(4) }).size).toBe(0n);
    expect(list.count).toBe(1);
  });

  it("v2: one range removes several whole mappings across holes", () => {
    const { list, backend } = setup();
    for (let i = 0; i < 4; i++) map(list, i * 16, 8);
    const result = list.unmap({ flags: 0, iova: 0, size: pn(64) });
    expect(result.size).toBe(pn(32));
    expect(result.mappings.map((d) => d.iova)).toEqual([0, 16 * P, 32 * P, 48 * P]);
    expect(list.count).toBe(0);
    expect(list.dmaAvail).toBe(65535);
    expect(backend.live.size).toBe(0);
  });

  it("v1: an unmap starting inside a mapping succeeds with size 0; one covering the start removes it whole", () => {
    const { list, backend } = setup({ v2: false });
    map(list, 16, 4);
    map(list, 20, 4);
    const inside = list.unmap({ flags: 0, iova: pn(17), size: pn(4) });
    expect(inside.size).toBe(0n);
    expect(list.count).toBe(2);
    const covered = list.unmap({ flags: 0, iova: pn(16), size: pn(5) });
    expect(covered.size).toBe(pn(8)); // both whole mappings: the second's start (20) is covered
    expect(list.count).toBe(0);
    expect(backend.live.size).toBe(0);
  });

  it("stops at a mapping of another owner", () => {
    const { list } = setup();
    const a = {};
    const b = {};
    list.map({ flags: R, iova: 0, size: pn(1), vaddr: VA, owner: a });
    list.map({ flags: R, iova: pn(1), size: pn(1), vaddr: VA, owner: b });
    list.map({ flags: R, iova: pn(2), size: pn(1), vaddr: VA, owner: a });
    const result = list.unmap({ flags: 0, iova: 0, size: pn(3), owner: a });
    expect(result.size).toBe(pn(1));
    expect(list.mappings().map((d) => d.iova)).toEqual([P, 2 * P]);
  });

  it("ALL removes everything and reports the bytes", () => {
    const { list, backend } = setup();
    for (let i = 0; i < 16; i++) map(list, i * 2, 1);
    expect(list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 }).size).toBe(pn(16));
    expect(list.count).toBe(0);
    expect(backend.live.size).toBe(0);
    expect(list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 }).size).toBe(0n);
  });

  it("VADDR invalidates without unmapping; meeting an invalid mapping undoes this call's marks (EINVAL)", () => {
    const { list, backend } = setup();
    map(list, 0, 1);
    map(list, 1, 1);
    map(list, 2, 1);
    list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: pn(2), size: pn(1) });
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: 0, size: pn(3) }),
    );
    expect(list.vaddrInvalidCount).toBe(1);
    refuses(list, backend, "EINVAL", () =>
      list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 }),
    );
    const two = list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: 0, size: pn(2) });
    expect(two.size).toBe(pn(2));
    expect(list.vaddrInvalidCount).toBe(3);
    expect(backend.live.size).toBe(3);
    list.unmap({ flags: 0, iova: 0, size: pn(3) });
    expect(list.vaddrInvalidCount).toBe(0);
  });

  it("setIovaRanges refuses a list that would leave a mapping outside", () => {
    const { list } = setup();
    map(list, 16, 1);
    expect(codeOf(() => list.setIovaRanges([{ start: 0, end: pn(16) - 1n }]))).toBe("EINVAL");
    expect(list.iovaRanges).toEqual([]);
    list.setIovaRanges([{ start: 0, end: pn(17) - 1n }]);
    expect(list.iovaRanges).toEqual([{ start: 0n, end: pn(17) - 1n }]);
    expect(codeOf(() => list.setIovaRanges([{ start: 10, end: 5 }]))).toBe("EINVAL");
  });

  it("clear unmaps everything through the backend", () => {
    const { list, backend } = setup();
    map(list, 0, 1);
    map(list, 4, 1);
    list.clear();
    expect(list.count).toBe(0);
    expect(backend.live.size).toBe(0);
    expect(list.dmaAvail).toBe(65535);
  });
});

describe("property: map/unmap against an oracle of IOVA ranges", () => {
  type Op =
    | { kind: "map"; at: number; pages: number }
    | { kind: "unmap"; at: number; pages: number }
    | { kind: "all" }
    | { kind: "fail"; at: number; pages: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("map" as const),
        at: fc.nat(63),
        pages: fc.integer({ min: 1, max: 8 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("unmap" as const),
        at: fc.nat(63),
        pages: fc.integer({ min: 1, max: 16 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("fail" as const),
        at: fc.nat(63),
        pages: fc.integer({ min: 1, max: 8 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "all" as const }) },
  );
  // Valid IOVA: pages [0, 48) and [56, 64).
  const valid = (first: number, pages: number) =>
    (first >= 0 && first + pages <= 48) || (first >= 56 && first + pages <= 64);

  for (const v2 of [true, false]) {
    it(`${v2 ? "TYPE1v2" : "TYPE1"} agrees with the oracle at every step`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const { list, backend } = setup({
            v2,
            dmaEntryLimit: 6,
            iovaRanges: [
              { start: 0, end: pn(48) - 1n },
              { start: pn(56), end: pn(64) - 1n },
            ],
          });
          // Oracle: mappings as [first page, pages].
          let model: [number, number][] = [];
          for (const o of ops) {
            let expected: string | undefined;
            let expectedSize = 0;
            let next = model;
            if (o.kind === "map" || o.kind === "fail") {
              if (model.some(([s, n]) => s < o.at + o.pages && o.at < s + n)) expected = "EEXIST";
              else if (model.length === 6) expected = "ENOSPC";
              else if (!valid(o.at, o.pages)) expected = "EINVAL";
              else if (o.kind === "fail") expected = "ENOMEM";
              else next = [...model, [o.at, o.pages]];
              if (o.kind === "fail") backend.failAt(1);
              const got = codeOf(() => map(list, o.at, o.pages));
              backend.failAt(0);
              expect(got).toBe(expected);
            } else {
              const start = o.kind === "all" ? 0 : o.at;
              const end = o.kind === "all" ? Number.POSITIVE_INFINITY : o.at + o.pages;
              const overlapping = model
                .filter(([s, n]) => s < end && start < s + n)
                .sort((a, b) => a[0] - b[0]);
              if (o.kind !== "all" && v2 && overlapping.some(([s, n]) => s < start || s + n > end)) {
                expected = "EINVAL";
              } else if (!v2 && overlapping[0] && overlapping[0][0] < start) {
                expectedSize = 0;
              } else {
                expectedSize = overlapping.reduce((sum, [, n]) => sum + n, 0);
                next = model.filter((m) => !overlapping.includes(m));
              }
              let gotSize = 0;
              const got = codeOf(() => {
                const result =
                  o.kind === "all"
                    ? list.unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 })
                    : list.unmap({ flags: 0, iova: pn(o.at), size: pn(o.pages) });
                gotSize = Number(result.size) / P;
              });
              expect(got).toBe(expected);
              if (!expected) expect(gotSize).toBe(expectedSize);
            }
            model = next;
            const sorted = [...model].sort((a, b) => a[0] - b[0]);
            expect(list.mappings().map((d) => [d.iova / P, d.size / P])).toEqual(sorted);
            expect(list.dmaAvail).toBe(6 - model.length);
            expect([...backend.live.keys()].sort((a, b) => a - b)).toEqual(sorted.map(([s]) => s * P));
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
