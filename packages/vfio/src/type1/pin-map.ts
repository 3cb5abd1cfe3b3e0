/**
 * The {@link DmaBackend} type1 uses with IOMMU domains: pin the user's pages in the owner's process
 * and map physically contiguous runs into every domain (`vfio_pin_map_dma` over
 * `vfio_pin_pages_remote` and `vfio_iommu_map`), undone by `vfio_unmap_unpin`. Domains are reached
 * through a small mapper interface the IOMMU core's domains satisfy by shape.
 */
import { IOMMU_CACHE, IOMMU_WRITE } from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import type { DmaBackend, VfioDma } from "./dma-list.js";

/** One IOMMU domain as type1 uses it (`iommu_map` / `iommu_unmap`). */
export interface DomainMapper {
  /** Maps `size` bytes at `iova` to `pa` with `prot`; throws on failure having mapped nothing. */
  map(iova: number, pa: number, size: number, prot: number): void;
  /** Unmaps `size` bytes at `iova`. */
  unmap(iova: number, size: number): void;
}

/** Options of {@link createPinningBackend}. */
export interface PinningBackendOptions<O> {
  /** The process (mm) of a mapping's owner, where its pages are pinned. */
  processOf: (owner: O | undefined) => Pick<SimProcess, "pin" | "unpin" | "pageSize">;
  /** The container's domains, read at each call; none makes the backend not IOMMU-backed. */
  domains: () => readonly DomainMapper[];
}

/**
 * Creates the pin-and-map backend. `pinAndMap` pins all pages (the process enforces
 * `RLIMIT_MEMLOCK` with `ENOMEM`, `EFAULT`/`EPERM` for bad memory, all or nothing), then maps each
 * physically contiguous run into each domain with `prot | IOMMU_CACHE`; any failure unmaps what was
 * mapped and unpins everything before rethrowing, so a failed MAP leaves no trace.
 */
export function createPinningBackend<O = unknown>(options: PinningBackendOptions<O>): DmaBackend<O> {
  const { processOf, domains } = options;
  // Physical addresses pinned for each mapping, needed to unpin (Linux finds them by iova_to_phys).
  const pinned = new WeakMap<VfioDma<O>, number[]>();

  return {
    get iommuBacked() {
      return domains().length > 0;
    },

    pinAndMap(dma) {
      const process = processOf(dma.owner);
      const pageSize = process.pageSize;
      const pas = process.pin(dma.vaddr, dma.size / pageSize, { write: (dma.prot & IOMMU_WRITE) !== 0 });
      const prot = dma.prot | IOMMU_CACHE;
      const done: { domain: DomainMapper; iova: number; size: number }[] = [];
      try {
        for (const domain of domains()) {
          let run = 0;
          while (run < pas.length) {
            // Extend the run while the next page is physically adjacent.
            let end = run + 1;
            while (end < pas.length && pas[end] === pas[end - 1]! + pageSize) end++;
            const iova = dma.iova + run * pageSize;
            const size = (end - run) * pageSize;
            domain.map(iova, pas[run]!, size, prot);
            done.push({ domain, iova, size });
            run = end;
          }
        }
      } catch (error) {
        for (const d of done.reverse()) d.domain.unmap(d.iova, d.size);
        process.unpin(pas);
        throw error;
      }
      pinned.set(dma, pas);
    },

    unmapAndUnpin(dma) {
      const pas = pinned.get(dma);
      if (!pas) return; // never pinned: recorded without an IOMMU-backed domain
      for (const domain of domains()) domain.unmap(dma.iova, dma.size);
      processOf(dma.owner).unpin(pas);
      pinned.delete(dma);
    },
  };
}
