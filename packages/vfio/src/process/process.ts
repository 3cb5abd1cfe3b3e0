/**
 * A simulated user process: the address space (VMAs placed like mmap(2)), anonymous pages faulted in
 * on first touch, and long-term pinning with locked-memory accounting, the parts of mm/ that
 * VFIO type1 (`vfio_pin_pages_remote` over `pin_user_pages_remote(FOLL_LONGTERM)`) and iommufd rely on.
 */
import { type Errno, IommuError } from "@iommu-sim/iommu";
import { hex, type U64Like } from "../util/u64.js";
import {
  DEFAULT_HUGE_PAGE_SIZE,
  DEFAULT_MMAP_BASE,
  DEFAULT_MMAP_MIN_ADDR,
  DEFAULT_RLIMIT_MEMLOCK,
  DEFAULT_TASK_SIZE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";

/**
 * Where a process's pages come from: one page per call. `@iommu-sim/hw`'s page allocator (and the
 * IOMMU core's `PageProvider`) satisfies it by shape. Blocks must come back zeroed, as anonymous
 * memory is zero on first touch.
 */
export interface ProcessMemory {
  /** Returns the physical address of a zeroed, naturally aligned block of `bytes`; throws `ENOMEM`. */
  alloc(bytes: number): number;
  /** Gives back a block from {@link alloc}. */
  free(pa: number, bytes: number): void;
}

/** CPU access to physical memory (the IOMMU core's `PhysBus` and `hw`'s memory satisfy it). */
export interface ProcessPhys {
  /** Reads `length` bytes at `pa`. */
  read(pa: number, length: number): Uint8Array;
  /** Writes `bytes` at `pa`. */
  write(pa: number, bytes: Uint8Array): void;
}

/** Options of {@link createProcess}. */
export interface ProcessOptions {
  /** Page allocator backing anonymous memory. */
  memory: ProcessMemory;
  /** Physical memory the CPU reads and writes through {@link SimProcess.read} / {@link SimProcess.write}. */
  phys: ProcessPhys;
  /**
   * `RLIMIT_MEMLOCK` in bytes; `Infinity` is `RLIM_INFINITY`. Compared in whole pages, as the kernel
   * compares `locked_vm` with `rlimit >> PAGE_SHIFT`.
   * @default 8 MiB ({@link DEFAULT_RLIMIT_MEMLOCK}, Linux's default since v5.16)
   */
  rlimitMemlock?: number | bigint;
  /** `CAP_IPC_LOCK`: pins ignore `RLIMIT_MEMLOCK` (still accounted in `lockedVm`). @default false */
  capIpcLock?: boolean;
  /** Page size in bytes, a power of two. @default 4096 */
  pageSize?: number;
  /** End of the user address space. @default 2^47 - 4096 (x86-64 `TASK_SIZE`) */
  taskSize?: number;
  /** Top of the top-down mmap area. @default 0x7f00_0000_0000 */
  mmapBase?: number;
  /** `vm.mmap_min_addr`. @default 0x10000 */
  mmapMinAddr?: number;
  /** Huge page size of `MAP_HUGETLB` mappings, a power-of-two multiple of the page size. @default 2 MiB */
  hugePageSize?: number;
}

/** Arguments of {@link SimProcess.mmap}, the parameters of mmap(2) without the file. */
export interface MmapRequest {
  /** Bytes; rounded up to whole pages. */
  length: U64Like;
  /** `PROT_*` bits. */
  prot: number;
  /**
   * `MAP_ANONYMOUS` with exactly one of `MAP_SHARED`/`MAP_PRIVATE`, optionally `MAP_FIXED` and
   * `MAP_HUGETLB` (physically contiguous huge pages; length and address in huge pages).
   */
  flags: number;
  /** A hint, or with `MAP_FIXED` the exact page-aligned address. */
  addr?: U64Like;
}

/** A VMA as {@link SimProcess.vmas} reports it. */
export interface VmaInfo {
  /** First address. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** `PROT_*` bits. */
  readonly prot: number;
  /** `MAP_*` bits given to mmap (without `MAP_FIXED`). */
  readonly flags: number;
}

/** Options of {@link SimProcess.pin}. */
export interface PinOptions {
  /** The device will write the pages (`FOLL_WRITE`): refused on a VMA without `PROT_WRITE`. */
  write: boolean;
}

/** A simulated process, from {@link createProcess}. */
export interface SimProcess {
  /** Page size in bytes. */
  readonly pageSize: number;
  /** `RLIMIT_MEMLOCK` in bytes (`Infinity` for unlimited). */
  readonly rlimitMemlock: number;
  /** Whether the process has `CAP_IPC_LOCK`. */
  readonly capIpcLock: boolean;
  /** Bytes of pinned memory charged to the process (`mm->locked_vm` times the page size). */
  readonly lockedVm: number;
  /** Distinct physical pages with a pin count above zero. */
  readonly pinnedPages: number;
  /** Pages currently backed by physical memory, mapped or only kept alive by a pin. */
  readonly residentPages: number;
  /** True after {@link exit}. */
  readonly exited: boolean;

  /**
   * Maps anonymous memory (mmap(2)). Without `MAP_FIXED` the hint is used when free, else the
   * highest free gap below the mmap base (top-down, as Linux). Returns the start address.
   * `EINVAL` for a zero length, bad flags or prot, unaligned `MAP_FIXED` address; `EBADF` for a file
   * mapping (no files here); `EPERM` for `MAP_FIXED` below `mmap_min_addr`; `ENOMEM` when nothing fits.
   */
  mmap(request: MmapRequest): bigint;
  /**
   * Unmaps a range (munmap(2)); holes inside it are fine. Pinned pages survive until unpinned (the pin
   * holds a page reference), so a device keeps reaching them, as in Linux. `EINVAL` for an unaligned
   * address or zero length.
   */
  munmap(addr: U64Like, length: U64Like): void;
  /** Changes protection (mprotect(2)); `ENOMEM` if any part of the range is unmapped, `EINVAL` for bad input. */
  mprotect(addr: U64Like, length: U64Like, prot: number): void;
  /** CPU read: untouched anonymous pages read as zero without being allocated. `EFAULT` if not readable. */
  read(va: U64Like, length: number): Uint8Array;
  /** CPU write, faulting pages in. `EFAULT` if any byte is not writable (nothing is written then). */
  write(va: U64Like, bytes: Uint8Array): void;
  /**
   * Pins `pages` pages from page-aligned `va` for long-term DMA (`pin_user_pages(FOLL_LONGTERM)`),
   * faulting them in, and returns their physical addresses. All or nothing: `EFAULT` for an
   * unmapped or `PROT_NONE` page, `EPERM` to write-pin a read-only page, `ENOMEM` past
   * `RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`, an injected fault, or the allocator's error; a failed
   * pin leaves no pin behind. `ENODEV` after exit (VFIO's "task has no mm").
   */
  pin(va: U64Like, pages: number, options: PinOptions): number[];
  /**
   * Drops one pin per listed physical address (`unpin_user_pages`). A page unpinned for the last time
   * stops counting in `lockedVm`, and is freed if it is no longer mapped. `EINVAL` (and nothing
   * changed) if an address is not pinned. A no-op after exit, which already released everything.
   */
  unpin(pas: ArrayLike<number>): void;
  /** Pin count of the page at physical address `pa` (0 when unpinned). */
  pinCount(pa: number): number;
  /** Physical address behind `va` if its page is present, else `undefined`. */
  translate(va: U64Like): number | undefined;
  /** The VMAs in address order. */
  vmas(): VmaInfo[];
  /**
   * Fault injection: the `n`-th page pin from now (1 = the next page) fails with `code`, once;
   * 0 disarms. For "a failure at every step of a large map" tests.
   * @default code "EFAULT"
   */
  failPinAt(n: number, code?: Errno): void;
  /** Process exit: drops every pin, frees every page, removes every VMA. Idempotent. */
  exit(): void;
}

interface Vma {
  start: number;
  end: number;
  prot: number;
  flags: number;
}

const KNOWN_PROT = PROT_READ | PROT_WRITE | PROT_EXEC;
const KNOWN_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_HUGETLB;

/** Reads an address; beyond 2^53 it only has to compare as "too large", so precision loss is harmless. */
function addrOf(value: U64Like, what: string): number {
  if (typeof value === "bigint") {
    if (value < 0n) throw new IommuError("EINVAL", `${what} ${value} is negative`);
    return Number(value);
  }
  if (!Number.isInteger(value) || value < 0) throw new IommuError("EINVAL", `${what} ${value} is invalid`);
  return value;
}

/**
 * Creates a simulated process (an `mm_struct` with its VMAs and page table) over a page allocator
 * and physical memory. See {@link SimProcess} for the operations and their errnos.
 */
export function createProcess(options: ProcessOptions): SimProcess {
  const { memory, phys } = options;
  const pageSize = options.pageSize ?? 4096;
  if (!Number.isInteger(pageSize) || pageSize < 1 || (pageSize & (pageSize - 1)) !== 0) {
    throw new IommuError("EINVAL", `page size ${pageSize} is not a power of two`);
  }
  const rlimitRaw = options.rlimitMemlock ?? DEFAULT_RLIMIT_MEMLOCK;
  const rlimitMemlock = typeof rlimitRaw === "bigint" ? Number(rlimitRaw) : rlimitRaw;
  if (!(rlimitMemlock >= 0)) throw new IommuError("EINVAL", `RLIMIT_MEMLOCK ${rlimitRaw} is invalid`);
  // The kernel compares page counts: a limit that is not a page multiple rounds down.
  const limitPages = Math.floor(rlimitMemlock / pageSize);
  const capIpcLock = options.capIpcLock ?? false;
  const taskSize = options.taskSize ?? DEFAULT_TASK_SIZE;
  const mmapBase = Math.min(options.mmapBase ?? DEFAULT_MMAP_BASE, taskSize);
  const mmapMin = options.mmapMinAddr ?? DEFAULT_MMAP_MIN_ADDR;
  const hugeSize = options.hugePageSize ?? DEFAULT_HUGE_PAGE_SIZE;
  if (hugeSize < pageSize || hugeSize % pageSize !== 0 || (hugeSize & (hugeSize - 1)) !== 0) {
    throw new IommuError(
      "EINVAL",
      `huge page size ${hugeSize} is not a power-of-two multiple of ${pageSize}`,
    );
  }
  const pagesPerHuge = hugeSize / pageSize;

  // Sorted, non-overlapping; adjacent VMAs with equal prot and flags are merged, as Linux does.
  let vmas: Vma[] = [];
  // Page table: virtual page number -> physical address of the present page.
  const pte = new Map<number, number>();
  // Pin counts by physical address; only pinned pages have an entry.
  const pins = new Map<number, number>();
  // Pinned pages whose VMA is gone: kept alive by the pin alone, freed by the last unpin.
  const orphans = new Set<number>();
  let lockedPages = 0;
  let exited = false;
  let pinFaultCountdown = 0;
  let pinFaultCode: Errno = "EFAULT";
  // Huge page blocks (base physical address -> pages of it still present or pinned): a block is
  // freed as one allocation when its last page goes.
  const hugeBlocks = new Map<number, number>();
  const hugeBase = (pa: number): number => pa - (pa % hugeSize);
  /** Gives a page frame back: to the allocator, or to its huge block. */
  const releaseFrame = (pa: number): void => {
    const base = hugeBase(pa);
    const live = hugeBlocks.get(base);
    if (live === undefined) {
      memory.free(pa, pageSize);
      return;
    }
    if (live > 1) hugeBlocks.set(base, live - 1);
    else {
      hugeBlocks.delete(base);
      memory.free(base, hugeSize);
    }
  };

  const alive = (what: string): void => {
    if (exited) throw new IommuError("ENODEV", `${what}: the process has exited (no mm)`);
  };

  const pageAligned = (value: number): boolean => value % pageSize === 0;
  const roundUp = (value: number): number => Math.ceil(value / pageSize) * pageSize;

  /** Index of the VMA containing `va`, or -1. */
  const vmaIndex = (va: number): number => {
    let lo = 0;
    let hi = vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const vma = vmas[mid]!;
      if (va < vma.start) hi = mid - 1;
      else if (va >= vma.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  };

  const rangeFree = (start: number, end: number): boolean => {
    for (const vma of vmas) if (vma.start < end && vma.end > start) return false;
    return true;
  };

  const mergeAdjacent = (list: Vma[]): Vma[] => {
    const out: Vma[] = [];
    for (const vma of list) {
      const last = out[out.length - 1];
      if (last && last.end === vma.start && last.prot === vma.prot && last.flags === vma.flags) {
        last.end = vma.end;
      } else {
        out.push({ ...vma });
      }
    }
    return out;
  };

  /** Drops the page at `vpn` from the page table: freed unless a pin keeps it. */
  const dropPage = (vpn: number, pa: number): void => {
    pte.delete(vpn);
    if (pins.has(pa)) orphans.add(pa);
    else releaseFrame(pa);
  };

  const unmapRange = (start: number, end: number): void => {
    const firstVpn = start / pageSize;
    const lastVpn = end / pageSize;
    // Walk whichever is smaller: the range or the page table.
    if (lastVpn - firstVpn <= pte.size) {
      for (let vpn = firstVpn; vpn < lastVpn; vpn++) {
        const pa = pte.get(vpn);
        if (pa !== undefined) dropPage(vpn, pa);
      }
    } else {
      for (const [vpn, pa] of pte) if (vpn >= firstVpn && vpn < lastVpn) dropPage(vpn, pa);
    }
    const next: Vma[] = [];
    for (const vma of vmas) {
      if (vma.end <= start || vma.start >= end) {
        next.push(vma);
        continue;
      }
      if (vma.start < start) next.push({ ...vma, end: start });
      if (vma.end > end) next.push({ ...vma, start: end });
    }
    vmas = next;
  };

  const topDown = (length: number, align: number): number => {
    let hi = mmapBase;
    const place = (top: number): number => Math.floor((top - length) / align) * align;
    for (let i = vmas.length - 1; i >= 0; i--) {
      const vma = vmas[i]!;
      if (vma.start >= hi) continue;
      if (vma.end <= hi && place(hi) >= vma.end) return place(hi);
      hi = vma.start;
    }
    if (place(hi) >= mmapMin) return place(hi);
    throw new IommuError("ENOMEM", `mmap: no free gap of ${hex(length)} bytes below ${hex(mmapBase)}`);
  };

  /**
   * Page-in for the CPU or a pin: allocates the zeroed page on first touch; in a `MAP_HUGETLB` VMA
   * the whole huge page at once, physically contiguous.
   */
  const faultIn = (vpn: number): number => {
    let pa = pte.get(vpn);
    if (pa !== undefined) return pa;
    const vma = vmas[vmaIndex(vpn * pageSize)];
    if (vma === undefined || (vma.flags & MAP_HUGETLB) === 0) {
      pa = memory.alloc(pageSize);
      pte.set(vpn, pa);
      return pa;
    }
    const firstVpn = vpn - (vpn % pagesPerHuge);
    const base = memory.alloc(hugeSize);
    let live = 0;
    for (let k = 0; k < pagesPerHuge; k++) {
      // Pages of the block still present from before (cannot happen: huge VMAs map whole blocks).
      if (pte.has(firstVpn + k)) continue;
      pte.set(firstVpn + k, base + k * pageSize);
      live++;
    }
    hugeBlocks.set(base, live);
    return base + (vpn - firstVpn) * pageSize;
  };

  /** Checks that [va, va+length) is mapped with `need` prot bits; returns nothing, throws EFAULT. */
  const checkAccess = (va: number, length: number, need: number, what: string): void => {
    const end = va + length;
    let cursor = va;
    let i = vmaIndex(va);
    while (cursor < end) {
      const vma = i < 0 ? undefined : vmas[i];
      if (!vma || vma.start > cursor) throw new IommuError("EFAULT", `${what}: ${hex(cursor)} is not mapped`);
      if ((vma.prot & need) !== need) {
        throw new IommuError("EFAULT", `${what}: ${hex(cursor)} lacks the access (prot ${vma.prot})`);
      }
      cursor = vma.end;
      i++;
    }
  };

  const process: SimProcess = {
    pageSize,
    rlimitMemlock,
    capIpcLock,
    get lockedVm() {
      return lockedPages * pageSize;
    },
    get pinnedPages() {
      return pins.size;
    },
    get residentPages() {
      return pte.size + orphans.size;
    },
    get exited() {
      return exited;
    },

    mmap(request) {
      alive("mmap");
      const { prot, flags } = request;
      const rawLength = addrOf(request.length, "mmap length");
      if (rawLength === 0) throw new IommuError("EINVAL", "mmap: length 0");
      if ((prot & ~KNOWN_PROT) !== 0) throw new IommuError("EINVAL", `mmap: unknown prot bits ${hex(prot)}`);
      // Unknown flags are refused rather than ignored: the model would not honour them.
      if ((flags & ~KNOWN_FLAGS) !== 0) throw new IommuError("EINVAL", `mmap: unknown flags ${hex(flags)}`);
      const sharing = flags & (MAP_SHARED | MAP_PRIVATE);
      if (sharing !== MAP_SHARED && sharing !== MAP_PRIVATE) {
        throw new IommuError("EINVAL", "mmap: exactly one of MAP_SHARED and MAP_PRIVATE is required");
      }
      // A file mapping needs an fd; with fd -1 Linux says EBADF, and the model has no files.
      if ((flags & MAP_ANONYMOUS) === 0)
        throw new IommuError("EBADF", "mmap: only MAP_ANONYMOUS is modelled");
      const huge = (flags & MAP_HUGETLB) !== 0;
      const unit = huge ? hugeSize : pageSize;
      const length = Math.ceil(rawLength / unit) * unit;
      if (length > taskSize) throw new IommuError("ENOMEM", `mmap: length ${hex(length)} exceeds TASK_SIZE`);
      let start: number;
      if ((flags & MAP_FIXED) !== 0) {
        if (request.addr === undefined) throw new IommuError("EINVAL", "mmap: MAP_FIXED without an address");
        start = addrOf(request.addr, "mmap address");
        if (start % unit !== 0)
          throw new IommuError("EINVAL", `mmap: MAP_FIXED address ${hex(start)} unaligned`);
        if (start < mmapMin) throw new IommuError("EPERM", `mmap: ${hex(start)} is below mmap_min_addr`);
        if (start + length > taskSize)
          throw new IommuError("ENOMEM", `mmap: ${hex(start)} runs past TASK_SIZE`);
        unmapRange(start, start + length);
      } else {
        const rawHint = request.addr === undefined ? 0 : addrOf(request.addr, "mmap hint");
        const hint = Math.ceil(rawHint / unit) * unit;
        const hintFits =
          hint !== 0 && hint >= mmapMin && hint + length <= taskSize && rangeFree(hint, hint + length);
        start = hintFits ? hint : topDown(length, unit);
      }
      const vma: Vma = { start, end: start + length, prot, flags: flags & ~MAP_FIXED };
      const at = vmas.findIndex((v) => v.start > start);
      if (at < 0) vmas.push(vma);
      else vmas.splice(at, 0, vma);
      vmas = mergeAdjacent(vmas);
      return BigInt(start);
    },

    munmap(addr, length) {
      alive("munmap");
      const start = addrOf(addr, "munmap address");
      const len = addrOf(length, "munmap length");
      if (!pageAligned(start)) throw new IommuError("EINVAL", `munmap: address ${hex(start)} unaligned`);
      if (len === 0) throw new IommuError("EINVAL", "munmap: length 0");
      unmapRange(start, Math.min(start + roundUp(len), taskSize));
    },

    mprotect(addr, length, prot) {
      alive("mprotect");
      const start = addrOf(addr, "mprotect address");
      const len = roundUp(addrOf(length, "mprotect length"));
      if (!pageAligned(start)) throw new IommuError("EINVAL", `mprotect: address ${hex(start)} unaligned`);
      if ((prot & ~KNOWN_PROT) !== 0) throw new IommuError("EINVAL", `mprotect: unknown prot ${hex(prot)}`);
      if (len === 0) return;
      const end = start + len;
      let cursor = start;
      let i = vmaIndex(start);
      while (cursor < end) {
        const vma = i < 0 ? undefined : vmas[i];
        if (!vma || vma.start > cursor)
          throw new IommuError("ENOMEM", `mprotect: ${hex(cursor)} is not mapped`);
        cursor = vma.end;
        i++;
      }
      const next: Vma[] = [];
      for (const vma of vmas) {
        if (vma.end <= start || vma.start >= end) {
          next.push(vma);
          continue;
        }
        if (vma.start < start) next.push({ ...vma, end: start });
        next.push({ ...vma, start: Math.max(vma.start, start), end: Math.min(vma.end, end), prot });
        if (vma.end > end) next.push({ ...vma, start: end });
      }
      vmas = mergeAdjacent(next);
    },

    read(va, length) {
      alive("read");
      const start = addrOf(va, "read address");
      const out = new Uint8Array(length);
      if (length === 0) return out;
      checkAccess(start, length, PROT_READ, "read");
      let done = 0;
      while (done < length) {
        const at = start + done;
        const offset = at % pageSize;
        const chunk = Math.min(pageSize - offset, length - done);
        const pa = pte.get((at - offset) / pageSize);
        // Untouched anonymous memory reads as the zero page: nothing to allocate.
        if (pa !== undefined) out.set(phys.read(pa + offset, chunk), done);
        done += chunk;
      }
      return out;
    },

    write(va, bytes) {
      alive("write");
      const start = addrOf(va, "write address");
      if (bytes.length === 0) return;
      checkAccess(start, bytes.length, PROT_WRITE, "write");
      let done = 0;
      while (done < bytes.length) {
        const at = start + done;
        const offset = at % pageSize;
        const chunk = Math.min(pageSize - offset, bytes.length - done);
        const pa = faultIn((at - offset) / pageSize);
        phys.write(pa + offset, bytes.subarray(done, done + chunk));
        done += chunk;
      }
    },

    pin(va, pages, { write }) {
      alive("pin");
      const start = addrOf(va, "pin address");
      if (!pageAligned(start)) throw new IommuError("EINVAL", `pin: address ${hex(start)} unaligned`);
      if (!Number.isSafeInteger(pages) || pages < 0) throw new IommuError("EINVAL", `pin: ${pages} pages`);
      if (pages === 0) return [];
      const end = start + pages * pageSize;
      // Pass 1 (no side effects): every page mapped with the access, and the pages that would start
      // counting towards locked_vm.
      let newlyLocked = 0;
      let cursor = start;
      let i = vmaIndex(start);
      while (cursor < end) {
        const vma = i < 0 ? undefined : vmas[i];
        if (!vma || vma.start > cursor) throw new IommuError("EFAULT", `pin: ${hex(cursor)} is not mapped`);
        if ((vma.prot & PROT_READ) === 0) throw new IommuError("EFAULT", `pin: ${hex(cursor)} is PROT_NONE`);
        // GUP itself says EFAULT here; VFIO/iommufd report a write pin of read-only memory as EPERM.
        if (write && (vma.prot & PROT_WRITE) === 0) {
          throw new IommuError("EPERM", `pin: write access to read-only ${hex(cursor)}`);
        }
        const stop = Math.min(vma.end, end);
        for (let at = cursor; at < stop; at += pageSize) {
          const pa = pte.get(at / pageSize);
          if (pa === undefined || !pins.has(pa)) newlyLocked++;
        }
        cursor = stop;
        i++;
      }
      if (!capIpcLock && lockedPages + newlyLocked > limitPages) {
        throw new IommuError(
          "ENOMEM",
          `pin: RLIMIT_MEMLOCK (${rlimitMemlock}) exceeded: ${lockedPages} + ${newlyLocked} pages locked`,
        );
      }
      // Pass 2: fault in and pin; undo this call's pins if anything fails (pages faulted in stay
      // present, as they would in Linux).
      const firstVpn = start / pageSize;
      const out: number[] = [];
      try {
        for (let k = 0; k < pages; k++) {
          if (pinFaultCountdown > 0 && --pinFaultCountdown === 0) {
            throw new IommuError(pinFaultCode, `pin: injected fault at ${hex(start + k * pageSize)}`);
          }
          const pa = faultIn(firstVpn + k);
          const count = pins.get(pa) ?? 0;
          if (count === 0) lockedPages++;
          pins.set(pa, count + 1);
          out.push(pa);
        }
      } catch (error) {
        for (const pa of out) {
          const count = pins.get(pa)!;
          if (count === 1) {
            pins.delete(pa);
            lockedPages--;
          } else {
            pins.set(pa, count - 1);
          }
        }
        throw error;
      }
      return out;
    },

    unpin(pas) {
      if (exited) return;
      let done = 0;
      try {
        for (; done < pas.length; done++) {
          const pa = pas[done]!;
          const count = pins.get(pa) ?? 0;
          if (count === 0) throw new IommuError("EINVAL", `unpin: page ${hex(pa)} is not pinned`);
          // A zero count stays in the map until the whole call has succeeded.
          pins.set(pa, count - 1);
        }
      } catch (error) {
        for (let k = 0; k < done; k++) {
          const pa = pas[k]!;
          pins.set(pa, pins.get(pa)! + 1);
        }
        throw error;
      }
      for (let k = 0; k < pas.length; k++) {
        const pa = pas[k]!;
        if (pins.get(pa) !== 0) continue;
        pins.delete(pa);
        lockedPages--;
        if (orphans.delete(pa)) releaseFrame(pa);
      }
    },

    pinCount(pa) {
      return pins.get(pa) ?? 0;
    },

    translate(va) {
      const at = addrOf(va, "address");
      const offset = at % pageSize;
      const pa = pte.get((at - offset) / pageSize);
      return pa === undefined ? undefined : pa + offset;
    },

    vmas() {
      return vmas.map((v) => ({ start: BigInt(v.start), end: BigInt(v.end), prot: v.prot, flags: v.flags }));
    },

    failPinAt(n, code = "EFAULT") {
      if (!Number.isSafeInteger(n) || n < 0) throw new IommuError("EINVAL", `failPinAt(${n})`);
      pinFaultCountdown = n;
      pinFaultCode = code;
    },

    exit() {
      if (exited) return;
      for (const pa of pte.values()) releaseFrame(pa);
      for (const pa of orphans) releaseFrame(pa);
      pte.clear();
      orphans.clear();
      pins.clear();
      lockedPages = 0;
      vmas = [];
      exited = true;
    },
  };
  return process;
}
