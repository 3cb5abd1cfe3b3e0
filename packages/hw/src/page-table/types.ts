import type { AddressLike } from "../address.js";
import type { PageAllocator } from "../memory/page-allocator.js";
import type { PhysMemory } from "../memory/phys-memory.js";
import type { UnmapGather } from "./gather.js";

/** Names of the page-table formats in the registry. */
export type FormatName =
  | "arm-lpae-s1"
  | "arm-lpae-s2"
  | "arm-v7s"
  | "amd-v1"
  | "intel-vtd-ss"
  | "intel-vtd-fs";

/**
 * Quirks, with the names of Linux's `IO_PGTABLE_QUIRK_*` flags. A format ignores the ones that do not
 * apply to it and documents which it reads.
 */
export interface PageTableQuirks {
  /** `IO_PGTABLE_QUIRK_ARM_NS`: set NS in leaves and NSTable in table descriptors. */
  armNs?: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_S2FWB`: stage-2 cacheable memory uses MemAttr FWB_WB (0x6). */
  armS2Fwb?: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_HD`: writable stage-1 leaves get DBM (hardware dirty tracking). */
  armHd?: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_TTBR1`: the table translates the upper (sign-extended) half. */
  armTtbr1?: boolean;
  /** `IO_PGTABLE_QUIRK_NO_PERMS` (v7s): no permission bits. */
  noPerms?: boolean;
  /** `IO_PGTABLE_QUIRK_ARM_MTK_EXT` (v7s): MediaTek 34-bit physical addresses. */
  armMtkExt?: boolean;
}

/** What a format needs to create a table (the io-pgtable `cfg`). */
export interface PageTableConfig {
  /** Memory the table lives in; the walker reads only this. */
  memory: PhysMemory;
  /** Where table pages come from. @default a shared allocator over `memory`'s dense window */
  allocator?: PageAllocator;
  /** Translation granule in bytes (ARM LPAE: 4 KiB, 16 KiB or 64 KiB). @default 4096 */
  granule?: AddressLike;
  /** Input (IOVA) address size in bits. */
  ias: number;
  /** Output (physical) address size in bits. */
  oas: number;
  /**
   * Page sizes the driver asks for; the format keeps only the sizes it can encode
   * (`arm_lpae_restrict_pgsizes` and friends). @default every size the format supports
   */
  pgsizeBitmap?: AddressLike;
  /** Quirk flags. */
  quirks?: PageTableQuirks;
  /** The walker is cache-coherent with the CPU (`cfg->coherent_walk`). @default true */
  coherentWalk?: boolean;
  /**
   * Behaviour on a partial unmap of a block (ARM formats): `"refuse"` is mainline since v6.14
   * (unmap nothing, return 0); `"split"` is the older `arm_lpae_split_blk_unmap` behaviour.
   * x86 formats always unmap the whole large page and report its size. @default "refuse"
   */
  partialUnmap?: "refuse" | "split";
  /** Stage-2 concatenation rule: mainline (only where mandatory) or pre-2025 (whenever <= 16). @default "mainline" */
  s2Concat?: "mainline" | "legacy";
  /** VT-d second stage: set SNP (force snoop) in leaves for IOMMU_CACHE mappings. @default false */
  forceSnoop?: boolean;
  /** AMD v1: set FC (force coherent) in leaves and directories as Linux does. @default true */
  forceCoherent?: boolean;
  /**
   * Called synchronously when map or unmap frees a table page that walk caches may hold, as
   * io-pgtable calls the driver's `tlb->tlb_flush_walk(iova, size, granule)`. Unmaps also record the
   * freed tables in their gather. @default none
   */
  tlbFlushWalk?: (iova: number, size: number, granule: number) => void;
}

/** The shape of a table, fixed at creation. */
export interface PageTableGeometry {
  /** Levels walked for the full input range (after stage-2 concatenation). */
  readonly levels: number;
  /** Level number of the top table, in the format's own numbering (see the format's docs). */
  readonly startLevel: number;
  /** Level number of the smallest (leaf-only) table. */
  readonly leafLevel: number;
  /** Bytes of the top table (all concatenated tables together). */
  readonly topTableBytes: number;
  /** Number of concatenated top-level tables (stage 2), else 1. */
  readonly concatenatedTables: number;
  /** Page sizes the table can map, as a bitmap (bit n set = 2^n bytes). */
  readonly pgsizeBitmap: bigint;
  /** The same bitmap as a number (exact up to 2^52). */
  readonly pgsizeBitmapNumber: number;
  /** Translation granule (table size) in bytes. */
  readonly granule: number;
  /** Input address size in bits. */
  readonly ias: number;
  /** Output address size in bits. */
  readonly oas: number;
}

/** How a walk failed, named as the architectures name their faults. */
export type WalkFaultKind = "translation" | "permission" | "address-size" | "access-flag";

/** Numeric fault codes of {@link WalkOut.fault}. */
export const WalkFault = {
  NONE: 0,
  TRANSLATION: 1,
  PERMISSION: 2,
  ADDRESS_SIZE: 3,
  ACCESS_FLAG: 4,
} as const;

/** Maps a numeric {@link WalkFault} to its name. */
export const WALK_FAULT_NAMES: readonly (WalkFaultKind | undefined)[] = [
  undefined,
  "translation",
  "permission",
  "address-size",
  "access-flag",
];

/**
 * Reusable result of a fast hardware walk: numbers only, so a translation allocates nothing.
 * `perm` uses Linux prot bits with uniform meaning across formats: `IOMMU_READ`/`IOMMU_WRITE` when
 * the access is allowed, `IOMMU_NOEXEC` when instruction fetch is not, `IOMMU_PRIV` when only
 * privileged accesses are, `IOMMU_CACHE`/`IOMMU_MMIO` for the memory type.
 */
export interface WalkOut {
  /** {@link WalkFault} code; 0 when the walk found a leaf. */
  fault: number;
  /** Level of the leaf, or of the entry that faulted. */
  level: number;
  /** Output address of the input address (leaf base + offset). */
  outputAddress: number;
  /** Bytes covered by the leaf (the page or block size). */
  pageSize: number;
  /** Effective permissions and memory type, as Linux prot bits. */
  perm: number;
  /** Low 32 bits of the leaf (or faulting) descriptor. */
  descriptorLo: number;
  /** High 32 bits of the leaf (or faulting) descriptor. */
  descriptorHi: number;
  /** Physical address of the leaf (or faulting) descriptor. */
  descriptorAddress: number;
}

/** Creates a zeroed {@link WalkOut}. */
export function createWalkOut(): WalkOut {
  return {
    fault: 0,
    level: 0,
    outputAddress: 0,
    pageSize: 0,
    perm: 0,
    descriptorLo: 0,
    descriptorHi: 0,
    descriptorAddress: 0,
  };
}

/**
 * Translates the address of a table the walker is about to read (nested translation: stage-1 table
 * addresses are IPAs that stage 2 translates). Returns the physical address, or -1 when the fetch
 * faults (the callee records why).
 *
 * Every walker calls it exactly once per table it reads, in walk order, before the read: `level` is
 * the format's level number of the entries read in that table. So every call of a walk after the
 * first names the table that the previous depth's descriptor pointed to, and that descriptor was
 * present, passed the walker's checks and was a table descriptor: the translation unit fills its
 * walk caches from these calls, without another walker API.
 */
export type TableFetchTranslator = (tableAddress: number, level: number) => number;

/** One depth of a walk (see {@link HwWalker.walkLevels}). */
export interface WalkLevel {
  /** Level number, in the format's own numbering, of the entries read at this depth. */
  readonly level: number;
  /** log2 of the input bytes one entry of this depth maps (ARM 4K: 39, 30, 21, 12). */
  readonly shift: number;
}

/** One level of a verbose walk. */
export interface WalkStep {
  /** Level number in the format's numbering. */
  readonly level: number;
  /** Physical address of the table read at this level. */
  readonly tableAddress: bigint;
  /** Index of the descriptor within the table. */
  readonly index: number;
  /** Physical address of the descriptor. */
  readonly descriptorAddress: bigint;
  /** Raw descriptor. */
  readonly descriptor: bigint;
  /** The descriptor decoded into named fields. */
  readonly decoded: DecodedDescriptor;
}

/** Result of a verbose walk: each level visited, then the translation or the fault. */
export interface WalkTrace {
  readonly iova: bigint;
  readonly steps: readonly WalkStep[];
  /** Set when the walk faulted. */
  readonly fault?: WalkFaultKind;
  /** Level of the leaf or of the fault. */
  readonly level: number;
  /** Output address for `iova` (absent on a fault). */
  readonly outputAddress?: bigint;
  /** Leaf size in bytes (absent on a fault). */
  readonly pageSize?: bigint;
  /** Effective permissions as Linux prot bits (absent on a fault). */
  readonly prot?: number;
}

/**
 * The hardware side of a format: reads descriptors from physical memory only (never the driver's
 * objects), so a wrong bit written by the driver side is a wrong translation here.
 */
export interface HwWalker {
  readonly format: FormatName;
  readonly geometry: PageTableGeometry;
  /**
   * Fast walk from the table at `root` for input address `iova`; fills `out`. Allocates nothing.
   * Permission checks are the caller's (the translation unit's): the walker reports `perm`.
   * With `fetch`, every table address is first translated through it (nested stage 1 over stage 2).
   */
  translate(root: number, iova: number, out: WalkOut, fetch?: TableFetchTranslator): void;
  /**
   * The walk's depths, top table first: index `d` is the depth {@link translateFrom} takes, with the
   * format's level number and the span of one entry there. A walk cache maps depths to its levels
   * with it.
   */
  readonly walkLevels: readonly WalkLevel[];
  /**
   * A walk that starts below the root (after a walk-cache hit): reads the table at `table` as the
   * table of walk depth `depth` (an index of {@link walkLevels}), then goes on as {@link translate}
   * does; `translateFrom(0, root, ...)` is `translate(root, ...)`. With `fetch`, `table` is translated
   * through it first like every other table. `EINVAL` for a depth the walk does not have.
   */
  translateFrom(depth: number, table: number, iova: number, out: WalkOut, fetch?: TableFetchTranslator): void;
  /**
   * Walks every address of `iovas` from `root` (a trace of device accesses, a sweep of a range, an
   * RTL transaction log): `outputs[i]` is the output address, or -1 when that walk faults (then
   * `translate` of the address says how); `perms[i]`, when given, the leaf's Linux prot bits (0 on
   * a fault). Returns the number of faults. Same answers as `translate` address by address, without
   * its per-call cost. `outputs` and `perms` must be at least as long as `iovas` (else `EINVAL`).
   */
  translateMany(root: number, iovas: Float64Array, outputs: Float64Array, perms?: Uint8Array): number;
  /** Verbose walk: every level's table, index and descriptor, decoded. */
  trace(root: number, iova: number): WalkTrace;
}

/** Context a descriptor is decoded or encoded in. */
export interface DescriptorContext {
  /** Level of the descriptor, in the format's numbering. */
  level: number;
  /** Granule in bytes (ARM LPAE). @default 4096 */
  granule?: number;
  /** Output address size in bits (ARM LPAE 52-bit packing with 64 KiB granules). @default 48 */
  oas?: number;
}

/** What kind of entry a descriptor is. */
export type DescriptorType =
  | "invalid"
  | "table"
  | "block"
  | "page"
  | "section"
  | "supersection"
  | "large-page"
  | "small-page"
  | "reserved";

/** A descriptor decoded into named fields; `fields` holds every architectural field by its spec name. */
export interface DecodedDescriptor {
  readonly format: FormatName;
  readonly type: DescriptorType;
  /** Output address (leaf) - the base of the page or block. */
  readonly outputAddress?: bigint;
  /** Next-level table address (table descriptor). */
  readonly nextTable?: bigint;
  /** Bytes mapped by a leaf. */
  readonly pageSize?: bigint;
  /** Permissions and memory type as Linux prot bits (leaf). */
  readonly prot?: number;
  /** Every field, by the specification's names. */
  readonly fields: Readonly<Record<string, number | bigint | boolean | string>>;
}

/** A driver-side page table: Linux's `io_pgtable_ops` over real bytes in physical memory. */
export interface PageTable {
  readonly format: FormatName;
  readonly geometry: PageTableGeometry;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  /** Physical address of the top table. */
  readonly root: bigint;
  /** The same, as a number. */
  readonly rootAddress: number;
  /** The hardware walker for this table's format and geometry. */
  readonly walker: HwWalker;
  /**
   * Maps `pgcount` pages of `pgsize` bytes from `iova` to `paddr` (`map_pages`). Allocates tables on
   * demand. Refuses (and changes nothing): `EINVAL` for a size not in the bitmap, misalignment, a
   * zero count or prot without READ/WRITE; `ERANGE` for addresses beyond ias/oas; `EEXIST` when a
   * valid entry is in the way; `ENOMEM` when a table cannot be allocated (after undoing this call).
   */
  map(iova: AddressLike, paddr: AddressLike, pgsize: AddressLike, pgcount: number, prot: number): void;
  /** Fast path of {@link map} for validated numbers (the IOMMU core's `map_pages`). Same errors. */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): void;
  /**
   * Unmaps `pgcount` pages of `pgsize` from `iova` (`unmap_pages`) and returns the bytes unmapped,
   * stopping at the first hole, with the format's rule for a partial unmap of a larger leaf. What must
   * be invalidated is added to `gather`.
   */
  unmap(iova: AddressLike, pgsize: AddressLike, pgcount: number, gather?: UnmapGather): bigint;
  /** Fast path of {@link unmap} for validated numbers; returns bytes as a number. */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: UnmapGather): number;
  /** Output address of `iova`, or 0n when it is not mapped (`iova_to_phys`). */
  iovaToPhys(iova: AddressLike): bigint;
  /** Verbose hardware walk from the root. */
  walk(iova: AddressLike): WalkTrace;
  /** Frees every table page back to the allocator. The table is unusable afterwards. */
  free(): void;
}

/** A format in the registry. */
export interface PageTableFormatDefinition {
  readonly name: FormatName;
  /** One line for listings. */
  readonly description: string;
  /** Bytes per descriptor (4 for v7s, else 8). */
  readonly descriptorBytes: 4 | 8;
  /** Geometry for a config, validated (throws `EINVAL`), without allocating anything. */
  geometry(config: Omit<PageTableConfig, "memory" | "allocator">): PageTableGeometry;
  /** Creates an empty table (allocates the top table). */
  create(config: PageTableConfig): PageTable;
  /** A hardware walker for tables of this geometry in `memory`. */
  createWalker(config: Omit<PageTableConfig, "allocator">): HwWalker;
  /** Decodes a raw descriptor. */
  decode(descriptor: bigint, context: DescriptorContext): DecodedDescriptor;
  /** Encodes a descriptor from its decoded form (`encode(decode(d)) === d` for valid descriptors). */
  encode(decoded: Pick<DecodedDescriptor, "type" | "fields">, context: DescriptorContext): bigint;
}
