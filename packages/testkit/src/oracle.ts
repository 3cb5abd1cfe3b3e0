/**
 * A mapping oracle so simple it is obviously right: one entry per smallest page, no page sizes, no
 * tables. Property tests run the same operations on it and on a domain and compare translations.
 */

/** What the oracle holds for one page. */
export interface OraclePage {
  /** Physical address of the page. */
  readonly pa: number;
  /** Protection flags. */
  readonly prot: number;
}

/** The oracle. */
export interface MappingOracle {
  /** Smallest page size it tracks. */
  readonly pageSize: number;
  /** True when no page of `[iova, iova + size)` is mapped. */
  isFree(iova: number, size: number): boolean;
  /** True when every page of `[iova, iova + size)` is mapped. */
  isMapped(iova: number, size: number): boolean;
  /** Maps `[iova, iova + size)` to `pa`; returns `"EEXIST"` (and changes nothing) when any page is mapped. */
  map(iova: number, pa: number, size: number, prot: number): "ok" | "EEXIST";
  /** Unmaps every mapped page of `[iova, iova + size)`; returns the bytes that were mapped. */
  unmap(iova: number, size: number): number;
  /** The physical address `iova` translates to, 0 when unmapped (as `iommu_iova_to_phys`). */
  translate(iova: number): number;
  /** The page holding `iova`, if mapped. */
  page(iova: number): OraclePage | undefined;
  /** Mapped pages. */
  readonly size: number;
}

/** Creates an empty oracle over pages of `pageSize` bytes. @default pageSize 4096 */
export function createMappingOracle(pageSize = 4096): MappingOracle {
  const pages = new Map<number, OraclePage>();
  const each = (iova: number, size: number, fn: (page: number) => boolean | undefined): boolean => {
    for (let a = iova - (iova % pageSize); a < iova + size; a += pageSize) if (fn(a)) return true;
    return false;
  };
  return {
    pageSize,
    isFree: (iova, size) => !each(iova, size, (a) => pages.has(a)),
    isMapped: (iova, size) => !each(iova, size, (a) => !pages.has(a)),
    map(iova, pa, size, prot) {
      if (each(iova, size, (a) => pages.has(a))) return "EEXIST";
      each(iova, size, (a) => {
        pages.set(a, { pa: pa + (a - iova), prot });
        return false;
      });
      return "ok";
    },
    unmap(iova, size) {
      let bytes = 0;
      each(iova, size, (a) => {
        if (pages.delete(a)) bytes += pageSize;
        return false;
      });
      return bytes;
    },
    translate(iova) {
      const page = pages.get(iova - (iova % pageSize));
      return page === undefined ? 0 : page.pa + (iova % pageSize);
    },
    page: (iova) => pages.get(iova - (iova % pageSize)),
    get size() {
      return pages.size;
    },
  };
}
