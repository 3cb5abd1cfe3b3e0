/**
 * What an unmap must invalidate, collected while it runs (Linux's `iommu_iotlb_gather` as io-pgtable
 * fills it): the IOVA range, the leaf sizes seen, whether only leaf entries were removed, and the
 * tables freed (which walk caches may still hold).
 */
export class UnmapGather {
  /** Lowest IOVA removed; `Infinity` while empty. */
  start = Number.POSITIVE_INFINITY;
  /** One past the highest IOVA removed; 0 while empty. */
  end = 0;
  /** Largest leaf size removed (bytes), 0 while empty. */
  pgsize = 0;
  /** Bitmap of levels whose entries were removed (bit n = level n). */
  levels = 0;
  /** True while only leaf entries were removed; false once a table was freed. */
  leafOnly = true;
  /** Physical addresses of the table pages freed by the unmap. */
  readonly freedTables: number[] = [];

  /** True when nothing was recorded. */
  get empty(): boolean {
    return this.end === 0 && this.freedTables.length === 0;
  }

  /** Records a removed leaf of `size` bytes at `iova` on `level`. */
  addLeaf(iova: number, size: number, level: number): void {
    if (iova < this.start) this.start = iova;
    if (iova + size > this.end) this.end = iova + size;
    if (size > this.pgsize) this.pgsize = size;
    this.levels |= 1 << level;
  }

  /** Records a table freed while removing the range `[iova, iova + size)` that it mapped. */
  addFreedTable(tableAddress: number, iova: number, size: number, level: number): void {
    if (iova < this.start) this.start = iova;
    if (iova + size > this.end) this.end = iova + size;
    this.levels |= 1 << level;
    this.leafOnly = false;
    this.freedTables.push(tableAddress);
  }

  /** Empties the record for reuse. */
  reset(): void {
    this.start = Number.POSITIVE_INFINITY;
    this.end = 0;
    this.pgsize = 0;
    this.levels = 0;
    this.leafOnly = true;
    this.freedTables.length = 0;
  }
}
