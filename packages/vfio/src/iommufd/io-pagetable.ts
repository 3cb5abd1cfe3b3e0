/**
 * An iommufd IO address space (`struct io_pagetable`, drivers/iommu/iommufd/io_pagetable.c): areas
 * (IOVA ranges) referencing shared, refcounted user pages, the reserved and allowed ranges, the
 * attached domains and the IOVA alignment. Pages are pinned only while some domain needs them, and
 * a page shared by several areas (IOAS_COPY) is pinned and accounted once.
 */
import { IOMMU_CACHE, IOMMU_WRITE, type IommuCore, type IommuDomain, IommuError } from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import { hex, U64_MAX } from "../util/u64.js";

/** An inclusive IOVA range `[start, last]` (`struct iommu_iova_range`). */
export interface IovaSpan {
  start: bigint;
  last: bigint;
}

/** User memory behind areas (`struct iopt_pages`): page-granular, shared by areas that copy it. */
interface Pages {
  readonly process: SimProcess;
  /** Page-aligned user address of page 0. */
  readonly base: number;
  readonly writable: boolean;
  /** Pin count per page, by the areas that need the page pinned. */
  readonly pins: Uint32Array;
  /** Physical address per pinned page. */
  readonly pas: Float64Array;
}

interface Area {
  iova: number;
  length: number;
  pages: Pages;
  /** Byte offset of the area's first byte from `pages.base`. */
  offset: number;
  prot: number;
  /** Pages of this area pinned by in-kernel users (ACCESS objects), counted per pinned page. */
  accessPins: number;
}

/** An in-kernel user of an IO page table (an iommufd ACCESS object): told before its pages go. */
export interface IoptAccessUser {
  /**
   * Called when `[iova, iova + length)` is about to be unmapped while some of it is pinned through
   * the access (`iommufd_access_notify_unmap`); the user must unpin what it holds there.
   */
  unmap(iova: bigint, length: bigint): void;
}

interface Reserved extends IovaSpan {
  readonly owner: object;
}

/** Arguments of {@link IoPagetable.map}. */
export interface IoptMapRequest {
  process: SimProcess;
  userVa: number;
  length: bigint;
  /** `IOMMU_READ | IOMMU_WRITE`. */
  prot: number;
  /** Map here (`IOMMU_IOAS_MAP_FIXED_IOVA`); otherwise an IOVA is chosen. */
  iova?: bigint;
}

/** The IO page table of one IOAS, from {@link createIoPagetable}. */
export interface IoPagetable {
  /**
   * `iova_alignment`: the largest smallest page size of the domains, at least `PAGE_SIZE` while
   * huge pages are disabled, else 1.
   */
  readonly iovaAlignment: number;
  /** Whether large pages may be used (`!disable_large_pages`). @default true */
  readonly hugePages: boolean;
  /**
   * The HUGE_PAGES option: disabling forces `PAGE_SIZE` IOVA alignment and page-sized domain
   * mappings, and fails with `EADDRINUSE` (nothing changed) when an area's IOVA, length or user
   * offset is not page aligned; enabling always succeeds.
   */
  setHugePages(enabled: boolean): void;
  /**
   * `iopt_cut_iova`: splits the area containing `iova` (if any, and if `iova` is not already its
   * start) into two areas sharing its pages. `EINVAL` when `iova` is not aligned to
   * `iova_alignment` or to `PAGE_SIZE` within the area's pages. Used by the VFIO type1 (v1) compat.
   */
  cut(iova: bigint): void;
  /**
   * `iommufd_access_pin_pages`: pins the pages behind `[iova, iova + length)` for an in-kernel
   * user. `EINVAL` for length 0 or a wrapping range; `ENOENT` when the range is not fully covered by
   * contiguous areas; `EPERM` for a write pin of an area mapped without WRITEABLE; pin errors.
   * Returns the physical address of each page.
   */
  accessPin(iova: bigint, length: bigint, write: boolean): number[];
  /** `iommufd_access_unpin_pages`: drops the pins of an earlier {@link accessPin} of the same range. */
  accessUnpin(iova: bigint, length: bigint): void;
  /** Registers an in-kernel user to notify before pinned ranges are unmapped; returns the remover. */
  addAccessUser(user: IoptAccessUser): () => void;
  /** Attached domains. */
  readonly domains: readonly IommuDomain[];
  /** Areas as `[iova, length]`, in IOVA order. */
  areas(): [number, number][];
  /**
   * `iopt_map_user_pages`: `EINVAL` for zero or misaligned length/iova, an IOVA over a reserved
   * range, an auto alignment below `iova_alignment`, or a user address not co-aligned with the
   * IOVA while domains are attached; `EOVERFLOW` for a wrapping range; `EEXIST` over an area;
   * `ENOSPC` when no hole fits; pin errors (`EFAULT`, `EPERM`, `ENOMEM`) when a domain needs the
   * pages. Returns the IOVA.
   */
  map(request: IoptMapRequest): bigint;
  /**
   * `iopt_unmap_iova`: every area intersecting `[iova, iova + length)` must lie inside it
   * (`ENOENT` otherwise, and when none does). Returns bytes unmapped.
   */
  unmap(iova: bigint, length: bigint): bigint;
  /** Unmap-all: removes every area; returns bytes unmapped (0 when empty). */
  unmapAll(): bigint;
  /**
   * `iopt_copy`-style sharing: the areas covering `[srcIova, srcIova + length)` contiguously
   * (`ENOENT` otherwise) are mapped again in `dst` at `dstIova` (or a chosen IOVA) with `prot`,
   * sharing the same pages. Returns the destination IOVA.
   */
  copyTo(dst: IoPagetable, srcIova: bigint, length: bigint, prot: number, dstIova?: bigint): bigint;
  /** Usable ranges: the holes of the reserved ranges in `[0, U64_MAX]`. */
  iovaRanges(): IovaSpan[];
  /**
   * `iopt_set_allow_iova`: replaces the allowed ranges atomically (empty clears them). `EINVAL`
   * for `start >= last` or overlapping ranges; `EADDRINUSE` when one intersects a reserved range.
   */
  allowIovas(ranges: readonly IovaSpan[]): void;
  /** The allowed ranges (empty: no restriction). */
  readonly allowed: readonly IovaSpan[];
  /**
   * `iopt_reserve_iova`: `EADDRINUSE` when the range intersects an area or an allowed range.
   * `owner` tags the range so it can be dropped with {@link unreserve}.
   */
  reserve(start: bigint, last: bigint, owner: object): void;
  /** Drops every reserved range of `owner`. */
  unreserve(owner: object): void;
  /**
   * `iopt_table_add_domain`: reserves what lies outside its aperture (and `regions`) under the
   * domain, checks every area against the new alignment (`EADDRINUSE`), pins the pages if this is
   * the first domain and maps every area into it. All undone on failure.
   */
  addDomain(domain: IommuDomain, regions: readonly IovaSpan[]): void;
  /** `iopt_table_remove_domain`: unmaps everything from it, drops its reservations, unpins after the last. */
  removeDomain(domain: IommuDomain): void;
}

const PAGE = 4096;
const TWO53 = 2n ** 53n;

const range = (first: number, end: number): number[] =>
  Array.from({ length: end - first }, (_, k) => first + k);

const intersects = (a: IovaSpan, start: bigint, last: bigint): boolean => a.start <= last && start <= a.last;

/** `roundup_pow_of_two` for a positive bigint. */
function pow2Up(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

/** Creates an empty IO page table for IOAS objects on `core`. */
export function createIoPagetable(core: IommuCore): IoPagetable {
  const areas: Area[] = [];
  let reserved: Reserved[] = [];
  let allowed: IovaSpan[] = [];
  const domains: IommuDomain[] = [];
  const accessUsers = new Set<IoptAccessUser>();
  let hugePages = true;

  const alignment = (): number => {
    let a = hugePages ? 1 : PAGE;
    for (const d of domains) {
      const min = d.pgsizeBitmap & -d.pgsizeBitmap;
      if (min > a) a = min;
    }
    return a;
  };

  const areaOverlap = (start: bigint, last: bigint): Area | undefined =>
    areas.find((a) => BigInt(a.iova) <= last && start <= BigInt(a.iova + a.length - 1));
  const reservedOverlap = (start: bigint, last: bigint): Reserved | undefined =>
    reserved.find((r) => intersects(r, start, last));

  /** Pins the pages `area` needs (shared pins counted once); all or nothing. */
  const pinArea = (area: Area): void => {
    pinIndexes(area.pages, Math.floor(area.offset / PAGE), Math.ceil((area.offset + area.length) / PAGE));
  };

  /** Takes one pin on pages `[first, end)` of `pages`, pinning in the process where none is held. */
  const pinIndexes = (pages: Pages, first: number, end: number): void => {
    const done: number[] = [];
    try {
      let k = first;
      while (k < end) {
        if (pages.pins[k]! > 0) {
          pages.pins[k]!++;
          done.push(k);
          k++;
          continue;
        }
        let run = k;
        while (run < end && pages.pins[run] === 0) run++;
        // A process that has exited has no mm left to pin from (iopt_pages reading a dead mm).
        if (pages.process.exited) {
          throw new IommuError("EFAULT", `pin: the process that mapped ${hex(pages.base)} has exited`);
        }
        const pas = pages.process.pin(pages.base + k * PAGE, run - k, { write: pages.writable });
        for (let i = k; i < run; i++) {
          pages.pas[i] = pas[i - k]!;
          pages.pins[i] = 1;
          done.push(i);
        }
        k = run;
      }
    } catch (error) {
      releasePages(pages, done);
      throw error;
    }
  };

  const releasePages = (pages: Pages, indexes: readonly number[]): void => {
    const drop: number[] = [];
    for (const i of indexes) if (--pages.pins[i]! === 0) drop.push(pages.pas[i]!);
    if (drop.length > 0) pages.process.unpin(drop);
  };

  const unpinArea = (area: Area): void => {
    const first = Math.floor(area.offset / PAGE);
    const end = Math.ceil((area.offset + area.length) / PAGE);
    const idx: number[] = [];
    for (let i = first; i < end; i++) idx.push(i);
    releasePages(area.pages, idx);
  };

  /** Maps a pinned area into `domain` in physically contiguous runs; all or nothing. */
  const mapArea = (area: Area, domain: IommuDomain): void => {
    const { pages } = area;
    const first = Math.floor(area.offset / PAGE);
    const n = Math.ceil((area.offset + area.length) / PAGE) - first;
    const prot = area.prot | IOMMU_CACHE;
    let mapped = 0;
    try {
      let k = 0;
      while (k < n) {
        let end = k + 1;
        // Without huge pages every page is its own mapping, so v1-style cuts never split a large one.
        while (hugePages && end < n && pages.pas[first + end] === pages.pas[first + end - 1]! + PAGE) end++;
        core.map(domain, area.iova + k * PAGE, pages.pas[first + k]!, (end - k) * PAGE, prot);
        mapped = end * PAGE;
        k = end;
      }
    } catch (error) {
      if (mapped > 0) core.unmap(domain, area.iova, mapped);
      throw error;
    }
  };

  /** Maps a new area everywhere it must be (pin + every domain); all or nothing. */
  const installArea = (area: Area): void => {
    if (domains.length > 0) {
      pinArea(area);
      const done: IommuDomain[] = [];
      try {
        for (const d of domains) {
          mapArea(area, d);
          done.push(d);
        }
      } catch (error) {
        for (const d of done) core.unmap(d, area.iova, area.length);
        unpinArea(area);
        throw error;
      }
    }
    const at = areas.findIndex((a) => a.iova > area.iova);
    if (at < 0) areas.push(area);
    else areas.splice(at, 0, area);
  };

  const removeArea = (area: Area): void => {
    for (const d of domains) core.unmap(d, area.iova, area.length);
    if (domains.length > 0) unpinArea(area);
    areas.splice(areas.indexOf(area), 1);
  };

  /** `iopt_alloc_iova`: first fit from the bottom of the allowed ranges (or all), never IOVA 0. */
  const allocIova = (length: bigint, hint: number): bigint => {
    let align = pow2Up(length);
    if (hint !== 0) {
      const h = BigInt(hint);
      const low = h & -h;
      if (low < align) align = low;
    }
    if (align < BigInt(alignment())) {
      throw new IommuError("EINVAL", `IOAS_MAP: alignment ${hex(align)} is below the IOVA alignment`);
    }
    const spans = allowed.length > 0 ? allowed : [{ start: BigInt(PAGE), last: U64_MAX - BigInt(PAGE) }];
    for (const span of spans) {
      let at = ((span.start + align - 1n) / align) * align;
      while (at + length - 1n <= span.last && at + length <= TWO53) {
        const last = at + length - 1n;
        const blocker = reservedOverlap(at, last) ?? areaOverlap(at, last);
        if (!blocker) return at;
        const blockEnd = "owner" in blocker ? blocker.last + 1n : BigInt(blocker.iova + blocker.length);
        at = ((blockEnd + align - 1n) / align) * align;
      }
    }
    throw new IommuError("ENOSPC", `IOAS_MAP: no free IOVA range of ${hex(length)} bytes`);
  };

  /** The checks of a new area at a fixed or chosen IOVA; returns the IOVA. */
  const placeArea = (length: bigint, userVa: number, iova: bigint | undefined): bigint => {
    const align = BigInt(alignment());
    if (length === 0n || length % align !== 0n) {
      throw new IommuError("EINVAL", `IOAS_MAP: length ${hex(length)} is not a multiple of ${hex(align)}`);
    }
    if (iova === undefined) return allocIova(length, userVa);
    if (iova % align !== 0n) throw new IommuError("EINVAL", `IOAS_MAP: iova ${hex(iova)} is not aligned`);
    const last = iova + length - 1n;
    if (last > U64_MAX) throw new IommuError("EOVERFLOW", `IOAS_MAP: ${hex(iova)}+${hex(length)} wraps`);
    if (reservedOverlap(iova, last)) throw new IommuError("EINVAL", `IOAS_MAP: ${hex(iova)} is reserved`);
    const clash = areaOverlap(iova, last);
    if (clash)
      throw new IommuError("EEXIST", `IOAS_MAP: ${hex(iova)} overlaps the area at ${hex(clash.iova)}`);
    if (last >= TWO53) throw new IommuError("ERANGE", `IOAS_MAP: ${hex(last)} is beyond 2^53`);
    return iova;
  };

  const coAligned = (iova: bigint, userVa: number): void => {
    if ((domains.length > 0 || !hugePages) && Number(iova % BigInt(PAGE)) !== userVa % PAGE) {
      throw new IommuError(
        "EINVAL",
        `IOAS_MAP: user address ${hex(userVa)} and iova ${hex(iova)} differ within a page`,
      );
    }
  };

  /** The pieces of the areas covering `[iova, iova + length)` contiguously; `ENOENT` for a gap. */
  const cover = (iova: bigint, length: bigint, what: string): { area: Area; from: number; to: number }[] => {
    if (length === 0n) throw new IommuError("EINVAL", `${what}: length 0`);
    const last = iova + length - 1n;
    if (last > U64_MAX) throw new IommuError("EOVERFLOW", `${what}: ${hex(iova)}+${hex(length)} wraps`);
    const pieces: { area: Area; from: number; to: number }[] = [];
    let cursor = iova;
    for (const a of areas) {
      const aStart = BigInt(a.iova);
      const aLast = BigInt(a.iova + a.length - 1);
      if (aLast < cursor || aStart > last) continue;
      if (aStart > cursor) break;
      const to = aLast < last ? aLast : last;
      pieces.push({ area: a, from: Number(cursor - aStart), to: Number(to - aStart) + 1 });
      cursor = to + 1n;
      if (cursor > last) break;
    }
    if (cursor <= last)
      throw new IommuError("ENOENT", `${what}: ${hex(iova)}+${hex(length)} is not fully mapped`);
    return pieces;
  };

  /**
   * Asks every access user to drop its pins in the pinned ones of `hit` (before they are unmapped);
   * `EBUSY`, with nothing unmapped, when a pin survives the callbacks.
   */
  const releaseAccesses = (hit: readonly Area[]): void => {
    for (const a of hit) {
      if (a.accessPins === 0) continue;
      for (const user of [...accessUsers]) user.unmap(BigInt(a.iova), BigInt(a.length));
    }
    const stuck = hit.find((a) => a.accessPins > 0);
    if (stuck)
      throw new IommuError("EBUSY", `IOAS_UNMAP: an access still pins the area at ${hex(stuck.iova)}`);
  };

  const self: IoPagetable = {
    get iovaAlignment() {
      return alignment();
    },
    get domains() {
      return domains.slice();
    },
    get allowed() {
      return allowed.map((r) => ({ ...r }));
    },
    areas: () => areas.map((a) => [a.iova, a.length]),

    map({ process, userVa, length, prot, iova }) {
      const at = placeArea(length, userVa, iova);
      coAligned(at, userVa);
      const base = userVa - (userVa % PAGE);
      const npages = Math.ceil((userVa + Number(length) - base) / PAGE);
      const pages: Pages = {
        process,
        base,
        writable: (prot & IOMMU_WRITE) !== 0,
        pins: new Uint32Array(npages),
        pas: new Float64Array(npages),
      };
      installArea({
        iova: Number(at),
        length: Number(length),
        pages,
        offset: userVa - base,
        prot,
        accessPins: 0,
      });
      return at;
    },

    unmap(iova, length) {
      if (length === 0n) throw new IommuError("EINVAL", "IOAS_UNMAP: length 0");
      const last = iova + length - 1n;
      if (last > U64_MAX) throw new IommuError("EOVERFLOW", `IOAS_UNMAP: ${hex(iova)}+${hex(length)} wraps`);
      const hit = areas.filter((a) => BigInt(a.iova) <= last && iova <= BigInt(a.iova + a.length - 1));
      if (hit.length === 0)
        throw new IommuError("ENOENT", `IOAS_UNMAP: nothing mapped in ${hex(iova)}+${hex(length)}`);
      for (const a of hit) {
        if (BigInt(a.iova) < iova || BigInt(a.iova + a.length - 1) > last) {
          throw new IommuError("ENOENT", `IOAS_UNMAP: the area at ${hex(a.iova)} would be split`);
        }
      }
      releaseAccesses(hit);
      let bytes = 0n;
      for (const a of hit) {
        bytes += BigInt(a.length);
        removeArea(a);
      }
      return bytes;
    },

    unmapAll() {
      const hit = areas.slice();
      releaseAccesses(hit);
      let bytes = 0n;
      for (const a of hit) {
        bytes += BigInt(a.length);
        removeArea(a);
      }
      return bytes;
    },

    get hugePages() {
      return hugePages;
    },

    setHugePages(enabled) {
      if (enabled || !hugePages) {
        hugePages = enabled;
        return;
      }
      if (domains.length > 0 && areas.length > 0) {
        throw new IommuError("EINVAL", "HUGE_PAGES: domains already hold mappings that may use large pages");
      }
      const bad = areas.find((a) => a.iova % PAGE !== 0 || a.length % PAGE !== 0 || a.offset % PAGE !== 0);
      if (bad) {
        throw new IommuError("EADDRINUSE", `HUGE_PAGES: the area at ${hex(bad.iova)} is not page aligned`);
      }
      hugePages = false;
    },

    cut(iova) {
      const area = areas.find((a) => BigInt(a.iova) < iova && iova < BigInt(a.iova + a.length));
      if (!area) return;
      const head = Number(iova) - area.iova;
      if (iova % BigInt(alignment()) !== 0n || (area.offset + head) % PAGE !== 0) {
        throw new IommuError("EINVAL", `cut: ${hex(iova)} is not aligned`);
      }
      if (hugePages && domains.length > 0) {
        throw new IommuError("EINVAL", `cut: ${hex(iova)} may lie inside a large page`);
      }
      if (area.accessPins > 0) throw new IommuError("EBUSY", `cut: the area at ${hex(area.iova)} is pinned`);
      // Both halves keep their pages' pins: a page-aligned cut gives each page to exactly one half.
      const tail: Area = {
        ...area,
        iova: area.iova + head,
        length: area.length - head,
        offset: area.offset + head,
      };
      area.length = head;
      areas.splice(areas.indexOf(area) + 1, 0, tail);
    },

    accessPin(iova, length, write) {
      const pieces = cover(iova, length, "access pin");
      const done: { area: Area; first: number; end: number }[] = [];
      try {
        for (const p of pieces) {
          if (write && (p.area.prot & IOMMU_WRITE) === 0) {
            throw new IommuError("EPERM", `access pin: the area at ${hex(p.area.iova)} is not writeable`);
          }
          const first = Math.floor((p.area.offset + p.from) / PAGE);
          const end = Math.ceil((p.area.offset + p.to) / PAGE);
          pinIndexes(p.area.pages, first, end);
          p.area.accessPins += end - first;
          done.push({ area: p.area, first, end });
        }
      } catch (error) {
        for (const d of done) {
          releasePages(d.area.pages, range(d.first, d.end));
          d.area.accessPins -= d.end - d.first;
        }
        throw error;
      }
      return done.flatMap((d) => range(d.first, d.end).map((i) => d.area.pages.pas[i]!));
    },

    accessUnpin(iova, length) {
      const pieces = cover(iova, length, "access unpin").map((p) => ({
        area: p.area,
        first: Math.floor((p.area.offset + p.from) / PAGE),
        end: Math.ceil((p.area.offset + p.to) / PAGE),
      }));
      const short = pieces.find((p) => p.area.accessPins < p.end - p.first);
      if (short) throw new IommuError("EINVAL", `access unpin: ${hex(short.area.iova)} holds fewer pins`);
      for (const p of pieces) {
        releasePages(p.area.pages, range(p.first, p.end));
        p.area.accessPins -= p.end - p.first;
      }
    },

    addAccessUser(user) {
      accessUsers.add(user);
      return () => {
        accessUsers.delete(user);
      };
    },

    copyTo(dst, srcIova, length, prot, dstIova) {
      const pieces = cover(srcIova, length, "IOAS_COPY");
      const head = pieces[0]!;
      const target = dst as IoPagetable & {
        adopt(areas: Area[], length: bigint, hint: number, iova?: bigint): bigint;
      };
      return target.adopt(
        pieces.map((p) => ({
          iova: 0,
          length: p.to - p.from,
          pages: p.area.pages,
          offset: p.area.offset + p.from,
          prot,
          accessPins: 0,
        })),
        length,
        head.area.pages.base + head.area.offset + head.from,
        dstIova,
      );
    },

    iovaRanges() {
      const sorted = [...reserved].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      const out: IovaSpan[] = [];
      let cursor = 0n;
      for (const r of sorted) {
        if (r.start > cursor) out.push({ start: cursor, last: r.start - 1n });
        if (r.last + 1n > cursor) cursor = r.last + 1n;
        if (cursor > U64_MAX) return out;
      }
      out.push({ start: cursor, last: U64_MAX });
      return out;
    },

    allowIovas(ranges) {
      const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      for (let i = 0; i < sorted.length; i++) {
        const r = sorted[i]!;
        if (r.start >= r.last || r.last > U64_MAX) {
          throw new IommuError("EINVAL", `ALLOW_IOVAS: range ${hex(r.start)}..${hex(r.last)} is empty`);
        }
        const prev = sorted[i - 1];
        if (prev && r.start <= prev.last) throw new IommuError("EINVAL", "ALLOW_IOVAS: ranges overlap");
        if (reservedOverlap(r.start, r.last)) {
          throw new IommuError("EADDRINUSE", `ALLOW_IOVAS: ${hex(r.start)}..${hex(r.last)} is reserved`);
        }
      }
      allowed = sorted.map((r) => ({ start: r.start, last: r.last }));
    },

    reserve(start, last, owner) {
      if (allowed.some((a) => intersects(a, start, last)) || areaOverlap(start, last)) {
        throw new IommuError("EADDRINUSE", `reserve: ${hex(start)}..${hex(last)} is allowed or mapped`);
      }
      reserved.push({ start, last, owner });
    },

    unreserve(owner) {
      reserved = reserved.filter((r) => r.owner !== owner);
    },

    addDomain(domain, regions) {
      const geometry = domain.geometry;
      try {
        if (geometry) {
          if (geometry.apertureStart > 0n) self.reserve(0n, geometry.apertureStart - 1n, domain);
          if (geometry.apertureEnd < U64_MAX) self.reserve(geometry.apertureEnd + 1n, U64_MAX, domain);
        }
        for (const r of regions) self.reserve(r.start, r.last, domain);
        const min = domain.pgsizeBitmap & -domain.pgsizeBitmap;
        for (const a of areas) {
          if (a.iova % min !== 0 || a.length % min !== 0 || a.iova % PAGE !== a.offset % PAGE) {
            throw new IommuError(
              "EADDRINUSE",
              `attach: the area at ${hex(a.iova)} is not ${hex(min)}-aligned`,
            );
          }
        }
        const first = domains.length === 0;
        const pinned: Area[] = [];
        const mapped: Area[] = [];
        try {
          if (first) {
            for (const a of areas) {
              pinArea(a);
              pinned.push(a);
            }
          }
          for (const a of areas) {
            mapArea(a, domain);
            mapped.push(a);
          }
        } catch (error) {
          for (const a of mapped) core.unmap(domain, a.iova, a.length);
          for (const a of pinned) unpinArea(a);
          throw error;
        }
        domains.push(domain);
      } catch (error) {
        self.unreserve(domain);
        throw error;
      }
    },

    removeDomain(domain) {
      const at = domains.indexOf(domain);
      if (at < 0) return;
      for (const a of areas) core.unmap(domain, a.iova, a.length);
      domains.splice(at, 1);
      if (domains.length === 0) for (const a of areas) unpinArea(a);
      self.unreserve(domain);
    },
  };

  // The destination side of a copy: new areas sharing the source's pages.
  Object.assign(self, {
    adopt(pieces: Area[], length: bigint, hint: number, iova?: bigint): bigint {
      const at = placeArea(length, hint, iova);
      coAligned(at, hint);
      const installed: Area[] = [];
      let cursor = Number(at);
      try {
        for (const p of pieces) {
          const area = { ...p, iova: cursor };
          installArea(area);
          installed.push(area);
          cursor += p.length;
        }
      } catch (error) {
        for (const a of installed) removeArea(a);
        throw error;
      }
      return at;
    },
  });
  return self;
}
