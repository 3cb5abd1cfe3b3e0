import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  VFIO_DMA_MAP_FLAG_READ as R,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_DMA_MAP_FLAG_WRITE as W,
} from "../uapi/constants.js";
import { encodeVfioDirtyBitmap } from "../uapi/structs.js";
import { createDirtyTracker, type DirtyTrackerOptions } from "./dirty.js";
import { createDmaList, type DmaList, type VfioDma } from "./dma-list.js";
import { createFakeBackend } from "./test-backend.js";

const P = 4096;
const pn = (n: number) => BigInt(n * P);

function setup(options: Partial<DirtyTrackerOptions> & { v2?: boolean; iommuBacked?: boolean } = {}) {
  const backend = createFakeBackend();
  backend.iommuBacked = options.iommuBacked ?? true;
  const list = createDmaList({ backend, v2: options.v2 ?? true });
  const tracker = createDirtyTracker({ list, allPagesDirty: () => false, ...options });
  return { list, tracker, backend };
}

const map = (list: DmaList, at: number, pages: number) =>
  list.map({ flags: R | W, iova: pn(at), size: pn(pages), vaddr: 0x10000 + at * P });

/** Bits set in a little-endian bitmap, as page numbers. */
function bitsSet(bytes: Uint8Array): number[] {
  const out: number[] = [];
  bytes.forEach((b, i) => {
    for (let k = 0; k < 8; k++) if (b & (1 << k)) out.push(i * 8 + k);
  });
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

const get = (iova: number, pages: number, bytes = 8, pgsize = P) => ({
  iova: pn(iova),
  size: pn(pages),
  bitmap: { pgsize, size: bytes },
});

describe("START / STOP", () => {
  it("are idempotent and refused with EACCES on a TYPE1 (v1) container", () => {
    const { tracker } = setup();
    tracker.start();
    tracker.start();
    expect(tracker.tracking).toBe(true);
    tracker.stop();
    tracker.stop();
    expect(tracker.tracking).toBe(false);
    const v1 = setup({ v2: false });
    expect(codeOf(() => v1.tracker.start())).toBe("EACCES");
    expect(codeOf(() => v1.tracker.stop())).toBe("EACCES");
    // EACCES comes before any struct check: even garbage is EACCES.
    expect(codeOf(() => v1.tracker.ioctl(new Uint8Array(8)))).toBe("EACCES");
  });

  it("the ioctl dispatches exactly one operation and refuses bad structs with EINVAL", () => {
    const { tracker } = setup();
    tracker.ioctl(encodeVfioDirtyBitmap({ argsz: 8, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START }));
    expect(tracker.tracking).toBe(true);
    expect(codeOf(() => tracker.ioctl(encodeVfioDirtyBitmap({ argsz: 8, flags: 3 })))).toBe("EINVAL");
    expect(codeOf(() => tracker.ioctl(encodeVfioDirtyBitmap({ argsz: 4, flags: 2 })))).toBe("EINVAL");
    tracker.ioctl(encodeVfioDirtyBitmap({ argsz: 8, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP }));
    expect(tracker.tracking).toBe(false);
  });

  it("START seeds each mapping with its externally pinned pages; STOP drops the bits", () => {
    const pinned = new Map<number, number[]>([[0, [1, 3]]]);
    const { list, tracker } = setup({ externalPins: (dma) => pinned.get(dma.iova) ?? [] });
    const dma = map(list, 0, 8);
    tracker.start();
    expect(bitsSet(tracker.bitsOf(dma))).toEqual([1, 3]);
    tracker.stop();
    expect(bitsSet(tracker.bitsOf(dma))).toEqual([]);
  });
});

describe("GET_BITMAP checks", () => {
  it("refuses each bad request with EINVAL, in the kernel's order, and changes nothing", () => {
    const { list, tracker } = setup();
    map(list, 16, 4);
    const out = new Uint8Array(16);
    // Tracking is off: checks before the tracking check still win.
    expect(codeOf(() => tracker.getBitmap({ ...get(0, 1), iova: 2n ** 64n - 4096n, size: 8192n }, out))).toBe(
      "EINVAL",
    );
    expect(codeOf(() => tracker.getBitmap(get(16, 4), undefined))).toBe("EINVAL");
    expect(codeOf(() => tracker.getBitmap(get(16, 4, 32), out))).toBe("EINVAL"); // larger than the buffer
    expect(codeOf(() => tracker.getBitmap(get(16, 4, 0), out))).toBe("EINVAL");
    expect(codeOf(() => tracker.getBitmap(get(16, 65, 8), out))).toBe("EINVAL"); // 65 pages need 16 bytes
    expect(codeOf(() => tracker.getBitmap(get(16, 4, 8, 2 * P), out))).toBe("EINVAL");
    expect(codeOf(() => tracker.getBitmap({ ...get(16, 4), iova: pn(16) + 512n }, out))).toBe("EINVAL");
    expect(codeOf(() => tracker.getBitmap({ ...get(16, 4), size: pn(4) + 512n }, out))).toBe("EINVAL");
    expect(codeOf(() => tracker.getBitmap(get(16, 4), out))).toBe("EINVAL"); // tracking not started
    tracker.start();
    tracker.markDirty(pn(16), pn(4));
    expect(codeOf(() => tracker.getBitmap(get(17, 4), out))).toBe("EINVAL"); // bisects the start
    expect(codeOf(() => tracker.getBitmap(get(15, 4), out))).toBe("EINVAL"); // bisects the end
    expect(out.every((b) => b === 0)).toBe(true);
    expect(bitsSet(tracker.bitsOf(list.mappings()[0]!))).toEqual([0, 1, 2, 3]);
    expect(codeOf(() => tracker.getBitmap(get(0, 64, 8), out))).toBeUndefined();
  });
});

describe("GET_BITMAP semantics", () => {
  it("reports every page of IOMMU-mapped ranges when a group lacks pinned-page dirty scope", () => {
    const { list, tracker } = setup({ allPagesDirty: () => true });
    map(list, 2, 3);
    tracker.start();
    const out = new Uint8Array(8);
    tracker.getBitmap(get(0, 64), out);
    expect(bitsSet(out)).toEqual([2, 3, 4]);
    // ... and again: all-dirty is not consumed by reporting.
    out.fill(0);
    tracker.getBitmap(get(0, 64), out);
    expect(bitsSet(out)).toEqual([2, 3, 4]);
  });

  it("without an IOMMU-backed domain only marked pages are dirty, even without pinned-page scope", () => {
    const { list, tracker } = setup({ allPagesDirty: () => true, iommuBacked: false });
    map(list, 0, 8);
    tracker.start();
    tracker.markDirty(pn(5), 1);
    const out = new Uint8Array(8);
    tracker.getBitmap(get(0, 8), out);
    expect(bitsSet(out)).toEqual([5]);
  });

  it("reports written and pinned pages, then resets to the pinned pages only", () => {
    const pins = [6];
    const { list, tracker } = setup({ externalPins: () => pins });
    const dma = map(list, 8, 8);
    tracker.start();
    tracker.markDirty(pn(9), pn(2)); // a vfio_dma_rw write over pages 1 and 2 of the mapping
    const out = new Uint8Array(8);
    tracker.getBitmap(get(8, 8), out);
    expect(bitsSet(out)).toEqual([1, 2, 6]);
    expect(bitsSet(tracker.bitsOf(dma))).toEqual([6]);
    out.fill(0);
    tracker.getBitmap(get(8, 8), out);
    expect(bitsSet(out)).toEqual([6]);
  });

  it("shifts a mapping's bits to the requested base and ORs the whole boundary word with the user's bits", () => {
    const { list, tracker } = setup();
    map(list, 100, 4);
    tracker.start();
    tracker.markDirty(pn(100), pn(4));
    // Base 90: the mapping starts at bit 10 of word 0, so word 0 is OR-ed with what the user had.
    const out = new Uint8Array(16).fill(0);
    out[0] = 0b1000_0001; // bits 0 and 7
    out[7] = 0x80; // bit 63, above the mapping's bits: kept by the OR
    out[8] = 0xff; // word 1 is untouched (the mapping's bits end in word 0)
    tracker.getBitmap(get(90, 128, 16), out);
    expect(bitsSet(out)).toEqual([0, 7, 10, 11, 12, 13, 63, 64, 65, 66, 67, 68, 69, 70, 71]);
  });

  it("overwrites the first word when the mapping starts on a word boundary", () => {
    const { list, tracker } = setup();
    map(list, 64, 2);
    tracker.start();
    tracker.markDirty(pn(65), 1);
    const out = new Uint8Array(16).fill(0xff);
    tracker.getBitmap(get(0, 128, 16), out);
    // Word 0 (no mapping there) keeps the user's bits; word 1 is written: only bit 65 set.
    expect(bitsSet(out.subarray(0, 8))).toHaveLength(64);
    expect(bitsSet(out.subarray(8, 16))).toEqual([1]);
  });

  it("UNMAP with GET_DIRTY_BITMAP reports each removed mapping relative to the unmap's iova", () => {
    const { list, tracker } = setup();
    map(list, 0, 4);
    map(list, 4, 4);
    tracker.start();
    tracker.markDirty(pn(1), 1);
    tracker.markDirty(pn(6), 1);
    const out = new Uint8Array(8);
    const result = list.unmap({
      flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
      iova: 0,
      size: pn(8),
      dirty: tracker.forUnmap({ pgsize: P, size: 8 }, 0, out),
    });
    expect(result.size).toBe(pn(8));
    expect(bitsSet(out)).toEqual([1, 6]);
    expect(list.count).toBe(0);
  });

  it("UNMAP with GET_DIRTY_BITMAP while tracking is off is EINVAL and unmaps nothing", () => {
    const { list, tracker } = setup();
    map(list, 0, 4);
    const out = new Uint8Array(8);
    expect(
      codeOf(() =>
        list.unmap({
          flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
          iova: 0,
          size: pn(4),
          dirty: tracker.forUnmap({ pgsize: P, size: 8 }, 0, out),
        }),
      ),
    ).toBe("EINVAL");
    expect(list.count).toBe(1);
  });

  it("the ioctl runs GET_BITMAP from the struct bytes", () => {
    const { list, tracker } = setup({ allPagesDirty: () => true });
    map(list, 0, 2);
    tracker.start();
    const out = new Uint8Array(8);
    const bytes = encodeVfioDirtyBitmap({
      argsz: 48,
      flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
      get: { iova: 0n, size: pn(2), bitmap: { pgsize: BigInt(P), size: 8n, data: 0x1000n } },
    });
    tracker.ioctl(bytes, out);
    expect(bitsSet(out)).toEqual([0, 1]);
  });
});

describe("property: GET_BITMAP output equals the set of dirty pages", () => {
  it("for random mappings, writes and request bases", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 8 }),
        fc.array(fc.nat(255), { maxLength: 20 }),
        fc.nat(4),
        (slots, writes, baseSlot) => {
          const { list, tracker } = setup();
          // Mappings of 8 pages at slot * 8; base is a multiple of 8 pages at or below the first.
          const dmas: VfioDma[] = slots.map((s) => map(list, s * 8, 8));
          tracker.start();
          const dirty = new Set<number>();
          for (const page of writes) {
            tracker.markDirty(pn(page), 1);
            if (slots.includes(Math.floor(page / 8))) dirty.add(page);
          }
          const base = Math.min(baseSlot, ...slots) * 8;
          const pages = 256 - base;
          const out = new Uint8Array(Math.ceil(pages / 64) * 8);
          tracker.getBitmap(get(base, pages, out.length), out);
          expect(bitsSet(out).map((b) => b + base)).toEqual([...dirty].sort((a, b) => a - b));
          for (const dma of dmas) expect(bitsSet(tracker.bitsOf(dma))).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
