/**
 * The reference backend's paging domain: a flat map of leaves (one entry per mapped page of any
 * size) instead of page tables. One "table page" is taken from the allocator per 512-leaf chunk of
 * small pages, and one root page per domain, so allocation failures and leaks behave as with real
 * page tables.
 */
import {
  type DomainGeometry,
  type DriverDomain,
  type Errno,
  hex,
  IommuError,
  type IotlbGather,
  iotlbGatherAddPage,
  type PageProvider,
  pgsizesOf,
} from "@iommu-sim/iommu";

/** A mapped page. */
export interface Leaf {
  readonly iova: number;
  readonly pa: number;
  readonly size: number;
  readonly prot: number;
}

/** How a domain answers a request to unmap part of a larger page. */
export type PartialUnmapPolicy = "refuse" | "whole";

/** Settings a reference domain takes from its backend. */
export interface ReferenceDomainConfig {
  readonly pgsizeBitmap: number;
  readonly geometry: DomainGeometry;
  readonly allocator: PageProvider;
  readonly partialUnmap: PartialUnmapPolicy;
  readonly overlapErrno: Errno;
  /** Counts IOTLB syncs, flushes and sync-maps, for tests. */
  readonly stats: ReferenceStats;
}

/** Counters of the reference backend's invalidation calls. */
export interface ReferenceStats {
  iotlbSyncs: number;
  flushAlls: number;
  syncMaps: number;
}

/** A reference paging domain: the driver domain plus lookups the datapath uses. */
export interface ReferencePagingDomain extends DriverDomain {
  /** The leaf covering `iova`, if any. */
  lookup(iova: number): Leaf | undefined;
  /** Live leaves. */
  readonly leafCount: number;
}

const CHUNK_ENTRIES = 512;

/** Creates a paging domain; takes its root page from the allocator (may throw `ENOMEM`). */
export function createReferencePagingDomain(config: ReferenceDomainConfig): ReferencePagingDomain {
  const sizes = pgsizesOf(config.pgsizeBitmap);
  const min = sizes[0] ?? 4096;
  const chunkSize = min * CHUNK_ENTRIES;
  const { allocator, geometry, stats } = config;
  const root = allocator.alloc(4096);
  // Keyed by IO page number (iova / smallest size): small integers hash fast, large addresses do not.
  const leaves = new Map<number, Leaf>();
  const chunks = new Map<number, { pa: number; live: number }>();
  let freed = false;

  const lookup = (iova: number): Leaf | undefined => {
    for (let i = 0; i < sizes.length; i++) {
      const s = sizes[i]!;
      const leaf = leaves.get((iova - (iova % s)) / min);
      if (leaf !== undefined && leaf.size === s) return leaf;
    }
    return undefined;
  };

  // Calls `visit` for every leaf inside [iova, iova + size); stops when it returns true.
  const leavesIn = (iova: number, size: number, visit: (leaf: Leaf) => boolean): boolean => {
    for (const s of sizes) {
      if (s >= size) {
        const leaf = leaves.get((iova - (iova % s)) / min);
        if (leaf !== undefined && leaf.size === s && visit(leaf)) return true;
        continue;
      }
      if (s < chunkSize && size >= chunkSize) {
        // Small leaves live in chunks: look only into populated chunks.
        for (let c = iova; c < iova + size; c += chunkSize) {
          if (!chunks.has(Math.floor(c / chunkSize))) continue;
          for (let a = c; a < c + chunkSize; a += s) {
            const leaf = leaves.get(a / min);
            if (leaf !== undefined && leaf.size === s && visit(leaf)) return true;
          }
        }
        continue;
      }
      for (let a = iova; a < iova + size; a += s) {
        const leaf = leaves.get(a / min);
        if (leaf !== undefined && leaf.size === s && visit(leaf)) return true;
      }
    }
    return false;
  };

  const insert = (leaf: Leaf): void => {
    if (leaf.size < chunkSize) {
      const c = Math.floor(leaf.iova / chunkSize);
      let chunk = chunks.get(c);
      if (chunk === undefined) {
        chunk = { pa: allocator.alloc(4096), live: 0 };
        chunks.set(c, chunk);
      }
      chunk.live++;
    }
    leaves.set(leaf.iova / min, leaf);
  };

  const remove = (leaf: Leaf): void => {
    leaves.delete(leaf.iova / min);
    if (leaf.size < chunkSize) {
      const c = Math.floor(leaf.iova / chunkSize);
      const chunk = chunks.get(c)!;
      if (--chunk.live === 0) {
        allocator.free(chunk.pa, 4096);
        chunks.delete(c);
      }
    }
  };

  const domain: ReferencePagingDomain = {
    pgsizeBitmap: config.pgsizeBitmap,
    geometry,
    get leafCount() {
      return leaves.size;
    },
    lookup,
    attachDevice() {
      // The backend records attachments; see reference-backend.ts.
    },
    mapPages(iova, paddr, pgsize, pgcount, prot, _gather) {
      let mapped = 0;
      try {
        for (let i = 0; i < pgcount; i++) {
          const at = iova + mapped;
          if (at < geometry.apertureStart || at + pgsize - 1 > geometry.apertureEnd) {
            throw new IommuError("ERANGE", `iova ${hex(at)} + ${hex(pgsize)} is outside the aperture`);
          }
          if (leavesIn(at, pgsize, () => true)) {
            throw new IommuError(config.overlapErrno, `iova ${hex(at)} is already mapped`);
          }
          insert({ iova: at, pa: paddr + mapped, size: pgsize, prot });
          mapped += pgsize;
        }
      } catch (error) {
        throw Object.assign(error as Error, { mapped });
      }
      return mapped;
    },
    unmapPages(iova, pgsize, pgcount, gather) {
      const end = iova + pgsize * pgcount;
      const sync = (g: IotlbGather) => domain.iotlbSync!(g);
      let cur = iova;
      let total = 0;
      while (cur < end) {
        const leaf = lookup(cur);
        if (leaf !== undefined && leaf.size >= pgsize) {
          if (leaf.size > pgsize || leaf.iova !== cur) {
            if (config.partialUnmap === "refuse") break;
          }
          remove(leaf);
          iotlbGatherAddPage(gather, leaf.iova, leaf.size, sync);
          total += leaf.size;
          cur = leaf.iova + leaf.size;
          continue;
        }
        // Smaller leaves (or none) under this page: tear down the whole span, as a table would be.
        const found: Leaf[] = [];
        leavesIn(cur, pgsize, (l) => {
          found.push(l);
          return false;
        });
        if (found.length === 0) break;
        for (const l of found) remove(l);
        iotlbGatherAddPage(gather, cur, pgsize, sync);
        total += pgsize;
        cur += pgsize;
      }
      return total;
    },
    iovaToPhys(iova) {
      const leaf = lookup(iova);
      return leaf === undefined ? 0 : leaf.pa + (iova - leaf.iova);
    },
    iotlbSync() {
      stats.iotlbSyncs++;
    },
    flushIotlbAll() {
      stats.flushAlls++;
    },
    iotlbSyncMap() {
      stats.syncMaps++;
    },
    free() {
      if (freed) throw new IommuError("EINVAL", "reference domain freed twice");
      freed = true;
      for (const chunk of chunks.values()) allocator.free(chunk.pa, 4096);
      chunks.clear();
      leaves.clear();
      allocator.free(root, 4096);
    },
  };
  return domain;
}
