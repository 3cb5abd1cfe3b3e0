/**
 * The two halves of dma-iommu's scatterlist mapping (drivers/iommu/dma-iommu.c
 * `iommu_dma_map_sg()` and `__finalise_sg()`), as pure functions on numbers so that hand-worked
 * cases can be checked without a machine:
 *
 * - {@link iommuDmaSgLayout}: every entry is widened to whole granules, and the entry before one
 *   that would straddle a segment boundary is padded so that the entry starts on the boundary; the
 *   sum is the one IOVA range the list gets.
 * - {@link finaliseSg}: given where that range landed, the entries are laid back out and merged into
 *   output DMA segments.
 */

/** The layout of a list inside its single IOVA range. */
export interface SgLayout {
  /** Per entry: offset of the data in its first granule (`s_iova_off`). */
  readonly iovaOff: Float64Array;
  /** Per entry: granule-aligned physical start (`sg_phys(s) - s_iova_off`). */
  readonly alignedPa: Float64Array;
  /** Per entry: IOVA bytes it occupies, granule-aligned, plus any padding after it. */
  readonly iovaLen: Float64Array;
  /** Bytes of the whole range (`iova_len`). */
  readonly total: number;
}

/**
 * Lays out `nents` entries (physical addresses `pa`, lengths `len`) in one IOVA range, as
 * `iommu_dma_map_sg()` does before allocating it: each entry covers whole granules from its aligned
 * start; with a segment boundary of `boundary` bytes (`dma_get_seg_boundary() + 1`, 0 = none), the
 * entry before one whose start is not on a boundary gets `pad = -iova_len mod boundary` extra bytes
 * when `0 < pad < entry - 1`, so the entry starts exactly on the boundary (the single allocation is
 * size-aligned, hence boundary-aligned whenever it is larger than the boundary).
 */
export function iommuDmaSgLayout(
  pa: ArrayLike<number>,
  len: ArrayLike<number>,
  nents: number,
  granule: number,
  boundary: number,
): SgLayout {
  const iovaOff = new Float64Array(nents);
  const alignedPa = new Float64Array(nents);
  const iovaLen = new Float64Array(nents);
  let total = 0;
  for (let i = 0; i < nents; i++) {
    const p = pa[i]!;
    const off = p % granule;
    const sLen = Math.ceil((len[i]! + off) / granule) * granule;
    iovaOff[i] = off;
    alignedPa[i] = p - off;
    iovaLen[i] = sLen;
    if (boundary !== 0 && i > 0) {
      const pad = (boundary - (total % boundary)) % boundary;
      if (pad !== 0 && pad < sLen - 1) {
        iovaLen[i - 1] = iovaLen[i - 1]! + pad;
        total += pad;
      }
    }
    total += sLen;
  }
  return { iovaOff, alignedPa, iovaLen, total };
}

/** Output segments of {@link finaliseSg}: per entry index, -1 / 0 where no segment starts. */
export interface SgSegments {
  /** DMA address of the output segment at each index (-1 = `DMA_MAPPING_ERROR`). */
  readonly addr: Float64Array;
  /** Length of the output segment at each index (0 = none). */
  readonly len: Float64Array;
  /** Output segments (the value `dma_map_sg()` returns). */
  readonly count: number;
}

/**
 * `__finalise_sg()`: walks the entries through the IOVA range starting at `dmaAddr` and merges them
 * into output segments. An entry is appended to the current output segment only when there is one,
 * the entry starts at offset 0 of its granule, its IOVA is not on a segment boundary (`boundary` 0 =
 * none: then only IOVA 0 counts as one), and the merged length stays within `maxSegSize`; an entry
 * whose data ends before its IOVA space does (padding or a partial last granule) closes the segment.
 */
export function finaliseSg(
  layout: SgLayout,
  len: ArrayLike<number>,
  nents: number,
  dmaAddr: number,
  boundary: number,
  maxSegSize: number,
): SgSegments {
  const addr = new Float64Array(nents).fill(-1);
  const out = new Float64Array(nents);
  let count = 0;
  let cur = -1;
  let curLen = 0;
  let dma = dmaAddr;
  for (let i = 0; i < nents; i++) {
    const off = layout.iovaOff[i]!;
    const sLen = len[i]!;
    const sIovaLen = layout.iovaLen[i]!;
    const onBoundary = boundary === 0 ? dma === 0 : dma % boundary === 0;
    if (curLen !== 0 && off === 0 && !onBoundary && maxSegSize - curLen >= sLen) {
      curLen += sLen;
    } else {
      cur++;
      curLen = sLen;
      count++;
      addr[cur] = dma + off;
    }
    out[cur] = curLen;
    dma += sIovaLen;
    if (sLen + off < sIovaLen) curLen = 0;
  }
  return { addr, len: out, count };
}
