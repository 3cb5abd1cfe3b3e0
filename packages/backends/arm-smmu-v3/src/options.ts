/**
 * Options of {@link createArmSmmuV3} and their defaults.
 */
import type { PageAllocator, PhysMemory, WalkCache, WalkCacheOptions } from "@iommu-sim/hw";
import type { SmmuIotlbOptions } from "./hardware/smmu.js";
import type { SmmuV3IdRegisterValues } from "./id-registers.js";

/** Options of the SMMUv3 backend. */
export interface ArmSmmuV3Options {
  /** Instance name devices refer to in their firmware specifier (`iommu: "smmu0"`). @default "smmu0" */
  name?: string;
  /** Physical memory (tables, queues and DMA). @default a new `createPhysMemory()` (52-bit) */
  memory?: PhysMemory;
  /**
   * Allocator of page-table pages (the backend's `tableAllocator`). @default 512 MiB at
   * 0x4000_0000 of `memory`
   */
  tableAllocator?: PageAllocator;
  /**
   * Allocator of the SMMU's own structures (stream table, CD tables, queues: Linux's coherent DMA
   * memory). @default 256 MiB at 0x6000_0000 of `memory`
   */
  structureAllocator?: PageAllocator;
  /**
   * ID register values. @default {@link SMMU_V3_DEFAULT_ID_REGISTERS}: gem5's IDR0 with COHACC,
   * IDR1 with 16-bit StreamIDs, 256-entry CMDQ, 128-entry EVTQ, IDR3.RIL, IDR5 4K/16K/64K + 48-bit OAS
   */
  idRegisters?: Partial<SmmuV3IdRegisterValues>;
  /** CPU page size: the granule the domains' io-pgtables use (`PAGE_SIZE`). @default 4096 */
  granule?: 4096 | 16384 | 65536;
  /** Stage-1 input address size (`VA_BITS`); 52 needs IDR5.VAX and a 64 KiB granule. @default 48 */
  ias?: number;
  /**
   * Output address size override: caps IDR5.OAS (the SMMU's OAS is the smaller). @default IDR5.OAS
   */
  oas?: number;
  /**
   * Translation stage of paging domains: 1 (Linux's default, ASIDs and CDs) or 2 (VMIDs, VTCR in
   * the STE: Linux's choice on an SMMU without stage 1, or a nesting parent). @default 1 when IDR0.S1P
   */
  stage?: 1 | 2;
  /**
   * Issue range invalidations (`ARM_SMMU_FEAT_RANGE_INV`). `true` needs IDR3.RIL; `false` turns it
   * off in the driver even if the hardware has it. @default IDR3.RIL
   */
  rangeInvalidation?: boolean;
  /** Stream-table format; `2-level` needs IDR0.ST_LVL. @default Linux's choice (2-level when ST_LVL allows and SIDSIZE > 8) */
  streamTable?: "linear" | "2-level";
  /** IOTLB geometry, or `false` for none. @default gem5's main TLB: 2048 entries, 4-way, round robin */
  iotlb?: SmmuIotlbOptions | false;
  /**
   * gem5-style walk caches (per stage and level, of table descriptors) the SMMU consults on an IOTLB
   * miss: an instance, options (levels not given default to gem5's for `granule`), or `false`.
   * TLBI_NH_VA / TLBI_S2_IPA with LEAF=0 drop entries over their range, LEAF=1 keeps them;
   * TLBI_NH_ASID, TLBI_NH_ALL, TLBI_S12_VMALL and TLBI_NSNH_ALL drop by tag. Read them through
   * `hardware.translation.walkCache`. @default false
   */
  walkCache?: WalkCache | WalkCacheOptions | false;
  /**
   * Unmapping part of a block: `refuse` (mainline since v6.14: nothing unmapped, 0 returned) or
   * `split` (older kernels' `arm_lpae_split_blk_unmap`). @default "refuse"
   */
  partialUnmap?: "refuse" | "split";
}

/**
 * Default ID registers. IDR0 0x094C101F is gem5's 0x094C100F (2-level stream table, terminate-only
 * stalls, little-endian walks, 2-level CDs, 16-bit VMIDs and ASIDs, AArch32+AArch64 tables, stage 1
 * and 2) plus COHACC (bit 4), so table walks are coherent as on server SMMUs and Linux programs
 * WBWA/inner-shareable attributes. IDR1 0x01070010: CMDQS 8 (256 commands), EVTQS 7 (128 events),
 * SIDSIZE 16. IDR3 0x400: RIL (SMMUv3.2 range invalidation). IDR5 0x75: 4K, 16K and 64K granules,
 * 48-bit OAS.
 */
export const SMMU_V3_DEFAULT_ID_REGISTERS: Readonly<Required<SmmuV3IdRegisterValues>> = {
  idr0: 0x094c101f,
  idr1: 0x01070010,
  idr3: 0x400,
  idr5: 0x75,
};

/** gem5's SMMUv3 ID registers (hw-facts 4.4), for configurations that want them verbatim. */
export const GEM5_SMMU_V3_ID_REGISTERS: Readonly<Required<SmmuV3IdRegisterValues>> = {
  idr0: 0x094c100f,
  idr1: 0x00e00000,
  idr3: 0,
  idr5: 0x55,
};
