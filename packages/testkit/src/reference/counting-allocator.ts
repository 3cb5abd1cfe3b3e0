/**
 * A counting page allocator with the `PageProvider` shape: the reference backend's "table pages",
 * so the conformance kit's leak and fault-injection checks run on it as on real page tables.
 */
import { hex, IommuError, isPowerOfTwo, type PageProvider } from "@iommu-sim/iommu";

const PAGE = 4096;

/** Options for {@link createCountingAllocator}. */
export interface CountingAllocatorOptions {
  /** First address handed out. @default 0x1_0000_0000 (4 GiB) */
  base?: number;
  /** Bytes managed. @default 1 GiB */
  size?: number;
}

/** Creates a bump allocator with per-size free lists, counting whole 4 KiB pages. */
export function createCountingAllocator(options: CountingAllocatorOptions = {}): PageProvider {
  const base = options.base ?? 0x1_0000_0000;
  const end = base + (options.size ?? 0x4000_0000);
  let next = base;
  let pages = 0;
  let countdown = 0;
  const free = new Map<number, number[]>();
  const live = new Map<number, number>();
  return {
    alloc(bytes) {
      if (!isPowerOfTwo(bytes)) throw new IommuError("EINVAL", `block size ${bytes} is not a power of two`);
      if (countdown > 0 && --countdown === 0) throw new IommuError("ENOMEM", "injected allocation failure");
      const size = Math.max(bytes, PAGE);
      let pa = free.get(size)?.pop();
      if (pa === undefined) {
        pa = Math.ceil(next / size) * size;
        if (pa + size > end) throw new IommuError("ENOMEM", `out of table memory allocating ${size} bytes`);
        next = pa + size;
      }
      live.set(pa, size);
      pages += size / PAGE;
      return pa;
    },
    free(pa, bytes) {
      const size = live.get(pa);
      if (size === undefined || size !== Math.max(bytes, PAGE)) {
        throw new IommuError("EINVAL", `free of ${hex(pa)} (${bytes} bytes) was never allocated`);
      }
      live.delete(pa);
      let list = free.get(size);
      if (!list) {
        list = [];
        free.set(size, list);
      }
      list.push(pa);
      pages -= size / PAGE;
    },
    get pagesInUse() {
      return pages;
    },
    failAfter(n) {
      if (!Number.isInteger(n) || n < 0)
        throw new IommuError("EINVAL", `failAfter(${n}) needs a non-negative integer`);
      countdown = n;
    },
  };
}
