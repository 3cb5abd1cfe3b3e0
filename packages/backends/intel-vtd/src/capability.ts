/** Fields of the VT-d capability register (CAP_REG) that the Linux driver reads (intel/iommu.h). */
export interface VtdCapability {
  /** Supported adjusted guest address widths (bit n set = agaw n: 1 = 39-bit/3-level, 2 = 48/4, 3 = 57/5). */
  sagaw: number;
  /** Maximum guest address width in bits. */
  mgaw: number;
  /** Second-stage large pages: bit 0 = 2 MiB, bit 1 = 1 GiB. */
  superPages: number;
  /** Page-selective invalidation supported (bit 39). */
  pageSelectiveInvalidation: boolean;
  /** Largest address mask for page-selective invalidation (CAP[53:48]). */
  maxAddressMask: number;
  /** Offset of the fault recording registers in bytes. */
  faultRecordOffset: number;
  /** Number of fault recording registers. */
  faultRecords: number;
  /** Caching mode: non-present entries may be cached (virtual IOMMUs, bit 7). */
  cachingMode: boolean;
  /** First-stage 1 GiB pages (bit 56) and 5-level paging (bit 60). */
  firstStage1G: boolean;
  firstStage5Level: boolean;
  /** Number of domain ids: 2^(4 + 2*ND) (CAP[2:0]). */
  domainIds: number;
}

const bits = (cap: bigint, hi: number, lo: number): number =>
  Number((cap >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

/** Decodes a 64-bit VT-d CAP_REG value (`cap_sagaw`, `cap_mgaw`, `cap_super_page_val`, ...). */
export function decodeVtdCapability(cap: bigint): VtdCapability {
  return {
    domainIds: 2 ** (4 + 2 * bits(cap, 2, 0)),
    cachingMode: bits(cap, 7, 7) === 1,
    sagaw: bits(cap, 12, 8),
    mgaw: bits(cap, 21, 16) + 1,
    faultRecordOffset: bits(cap, 33, 24) * 16,
    superPages: bits(cap, 37, 34),
    pageSelectiveInvalidation: bits(cap, 39, 39) === 1,
    faultRecords: bits(cap, 47, 40) + 1,
    maxAddressMask: bits(cap, 53, 48),
    firstStage1G: bits(cap, 56, 56) === 1,
    firstStage5Level: bits(cap, 60, 60) === 1,
  };
}

/** `agaw_to_width`: address width in bits of an AGAW value (1 -> 39, 2 -> 48, 3 -> 57). */
export function agawToWidth(agaw: number): number {
  return 30 + 9 * agaw;
}

/** `width_to_agaw`: the AGAW covering `width` bits (`DIV_ROUND_UP(width - 30, 9)`). */
export function widthToAgaw(width: number): number {
  return Math.ceil((width - 30) / 9);
}

/** `agaw_to_level`: page-table levels of an AGAW (agaw + 2). */
export function agawToLevel(agaw: number): number {
  return agaw + 2;
}
