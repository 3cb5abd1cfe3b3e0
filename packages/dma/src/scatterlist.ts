/**
 * Scatterlists (`struct scatterlist`, include/linux/scatterlist.h): the CPU side of each entry (a
 * physical address and a length: `sg_phys(s)`, `s->length`) and the DMA side a map fills in
 * (`sg_dma_address(s)`, `sg_dma_len(s)`). CPU addresses are physical (the kernel's linear map).
 */
import { type AddressLike, IommuError, toAddr } from "@iommu-sim/iommu";
import { DMA_MAPPING_ERROR } from "./direction.js";

/** One scatterlist entry. */
export interface ScatterlistEntry {
  /** Physical address of the data (`sg_phys(s)`: page address + offset). */
  readonly paddr: bigint;
  /** Bytes (`s->length`). */
  readonly length: number;
  /** DMA address of the output segment starting here (`sg_dma_address(s)`); `DMA_MAPPING_ERROR` when none. */
  dmaAddress: bigint;
  /** Length of that output segment (`sg_dma_len(s)`); 0 when none. */
  dmaLength: number;
}

/** What {@link createScatterlist} takes per entry. */
export interface ScatterlistSpec {
  /** Physical address. */
  readonly paddr: AddressLike;
  /** Bytes, a positive integer below 2^32 (`unsigned int`). */
  readonly length: AddressLike;
}

/**
 * Builds a scatterlist (`sg_init_table()` + `sg_set_page()` per entry), DMA fields cleared.
 * @throws IommuError EINVAL for an empty list, a negative address or a length that is not a
 *   positive integer below 2^32.
 */
export function createScatterlist(entries: readonly ScatterlistSpec[]): ScatterlistEntry[] {
  if (entries.length === 0) throw new IommuError("EINVAL", "a scatterlist needs at least one entry");
  return entries.map((e, i) => {
    const paddr = toAddr(e.paddr, `sg[${i}].paddr`);
    const length = toAddr(e.length, `sg[${i}].length`);
    if (length === 0 || length > 0xffff_ffff) {
      throw new IommuError("EINVAL", `sg[${i}].length ${length} is not in 1..2^32-1`);
    }
    return { paddr: BigInt(paddr), length, dmaAddress: DMA_MAPPING_ERROR, dmaLength: 0 };
  });
}
