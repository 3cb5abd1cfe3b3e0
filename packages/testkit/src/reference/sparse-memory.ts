/**
 * A small sparse byte store with the `PhysBus` shape, so the reference backend can move DMA bytes
 * without importing `@iommu-sim/hw`.
 */
import { type AddressLike, IommuError, type PhysBus, toAddr } from "@iommu-sim/iommu";

const PAGE = 4096;

/** A {@link PhysBus} that also reports how many 4 KiB frames hold data. */
export interface SparseMemory extends PhysBus {
  /** Frames written so far. */
  readonly framesResident: number;
}

/** Creates an empty sparse memory (every byte reads as zero until written). */
export function createSparseMemory(): SparseMemory {
  const frames = new Map<number, Uint8Array>();
  const frame = (pfn: number, create: boolean): Uint8Array | undefined => {
    let f = frames.get(pfn);
    if (f === undefined && create) {
      f = new Uint8Array(PAGE);
      frames.set(pfn, f);
    }
    return f;
  };
  const walk = (
    pa: AddressLike,
    length: number,
    visit: (pfn: number, off: number, done: number, n: number) => void,
  ) => {
    const start = toAddr(pa, "physical address");
    if (!Number.isSafeInteger(length) || length < 0)
      throw new IommuError("EINVAL", `length ${length} is not valid`);
    let done = 0;
    while (done < length) {
      const at = start + done;
      const off = at % PAGE;
      const n = Math.min(PAGE - off, length - done);
      visit(Math.floor(at / PAGE), off, done, n);
      done += n;
    }
  };
  return {
    read(pa, length) {
      const out = new Uint8Array(length);
      walk(pa, length, (pfn, off, done, n) => {
        const f = frame(pfn, false);
        if (f) out.set(f.subarray(off, off + n), done);
      });
      return out;
    },
    write(pa, bytes) {
      walk(pa, bytes.length, (pfn, off, done, n) =>
        frame(pfn, true)!.set(bytes.subarray(done, done + n), off),
      );
    },
    fill(pa, length, value = 0) {
      walk(pa, length, (pfn, off, _done, n) => {
        const f = frame(pfn, value !== 0);
        f?.fill(value, off, off + n);
      });
    },
    get framesResident() {
      return frames.size;
    },
  };
}
