/**
 * Test double for the memory a process needs: a page allocator that refuses double frees and
 * foreign addresses, and byte-addressable physical memory. Test-only (excluded from the build).
 */
import type { ProcessMemory, ProcessPhys } from "./process.js";

/** A fake allocator plus physical memory, with counters for balance checks. */
export interface FakeMemory extends ProcessMemory, ProcessPhys {
  /** Blocks handed out and not yet freed. */
  readonly live: number;
  /** Total successful allocations. */
  readonly allocs: number;
  /** Total frees. */
  readonly frees: number;
  /** Makes the n-th allocation from now fail with ENOMEM (0 disarms). */
  failAllocAt(n: number): void;
}

/** Creates a {@link FakeMemory} handing out 4 KiB-aligned addresses from `base`. */
export function createFakeMemory(base = 0x10_0000, pageSize = 4096): FakeMemory {
  let next = base;
  const freeList: number[] = [];
  const liveBlocks = new Map<number, number>();
  const bytes = new Map<number, Uint8Array>();
  let allocs = 0;
  let frees = 0;
  let failIn = 0;
  const page = (pa: number): { frame: Uint8Array; offset: number } => {
    const offset = pa % pageSize;
    const key = pa - offset;
    let frame = bytes.get(key);
    if (!frame) {
      frame = new Uint8Array(pageSize);
      bytes.set(key, frame);
    }
    return { frame, offset };
  };
  return {
    get live() {
      return liveBlocks.size;
    },
    get allocs() {
      return allocs;
    },
    get frees() {
      return frees;
    },
    failAllocAt(n) {
      failIn = n;
    },
    alloc(size) {
      if (size !== pageSize) throw new Error(`fake memory: alloc(${size}) is not one page`);
      if (failIn > 0 && --failIn === 0) throw Object.assign(new Error("fake ENOMEM"), { code: "ENOMEM" });
      let pa = freeList.pop();
      if (pa === undefined) {
        pa = next;
        next += pageSize;
      }
      liveBlocks.set(pa, size);
      bytes.get(pa)?.fill(0);
      allocs++;
      return pa;
    },
    free(pa, size) {
      if (liveBlocks.get(pa) !== size) throw new Error(`fake memory: bad free(${pa.toString(16)}, ${size})`);
      liveBlocks.delete(pa);
      freeList.push(pa);
      frees++;
    },
    read(pa, length) {
      const out = new Uint8Array(length);
      for (let done = 0; done < length; ) {
        const { frame, offset } = page(pa + done);
        const chunk = Math.min(pageSize - offset, length - done);
        out.set(frame.subarray(offset, offset + chunk), done);
        done += chunk;
      }
      return out;
    },
    write(pa, data) {
      for (let done = 0; done < data.length; ) {
        const { frame, offset } = page(pa + done);
        const chunk = Math.min(pageSize - offset, data.length - done);
        frame.set(data.subarray(done, done + chunk), offset);
        done += chunk;
      }
    },
  };
}
