/**
 * Options of {@link createIntelVtd} and the defaults of the modelled unit's capability registers.
 */
import type { IotlbOptions, PageAllocator, PhysMemory, WalkCache, WalkCacheOptions } from "@iommu-sim/hw";
import type { IommuDevice } from "@iommu-sim/iommu";
import type { VtdRmrr } from "./driver/resv-regions.js";

/**
 * Default CAP_REG, field by field (VT-d specification 11.4.2; QEMU's `intel-iommu` where it
 * decides, real server parts where QEMU is unrepresentative):
 * ND = 6 (65536 domain ids, QEMU's `VTD_DOMAIN_ID_SHIFT` 16), SAGAW = 0b00110 (39- and 48-bit,
 * 3- and 4-level), MGAW = 48 (field 47), FRO = 0x22 (fault records at 0x220, as QEMU),
 * SLLPS = 0b11 (2 MiB and 1 GiB), PSI, NFR = 8 records (field 7; QEMU has 1, hardware commonly 8),
 * MAMV = 18 (QEMU's `VTD_MAMV`), DWD and DRD (write/read draining), FL1GP. CM, RWBF, ESRTPS clear.
 */
export const DEFAULT_VTD_CAP =
  6n |
  (0b00110n << 8n) |
  (47n << 16n) |
  (0x22n << 24n) |
  (0b11n << 34n) |
  (1n << 39n) |
  (7n << 40n) |
  (18n << 48n) |
  (1n << 54n) |
  (1n << 55n) |
  (1n << 56n);

/**
 * Default ECAP_REG: QI (queued invalidation), PT (pass-through), IRO = 0xf (IOTLB registers at
 * 0xf0, as QEMU). No device-TLB, interrupt remapping, snoop control or scalable mode.
 */
export const DEFAULT_VTD_ECAP = (1n << 1n) | (1n << 6n) | (0xfn << 8n);

/**
 * Default ECAP_REG with `scalableMode: true`: {@link DEFAULT_VTD_ECAP} plus PSS = 19 (20-bit
 * PASIDs, [39:35]), PASID (40), SMTS (43), SLTS (46) and FLTS (47), as QEMU's `x-scalable-mode`
 * unit with first-stage support. No SMPWC, nesting, PRS or device-TLB.
 */
export const DEFAULT_VTD_SM_ECAP =
  DEFAULT_VTD_ECAP | (19n << 35n) | (1n << 40n) | (1n << 43n) | (1n << 46n) | (1n << 47n);

/** Default VER_REG: 1.0. */
export const DEFAULT_VTD_VERSION = 0x10;

/**
 * Default IOTLB: QEMU's VT-d IOTLB, a hash table emptied whole when it holds 1024 entries
 * (`VTD_IOTLB_MAX_SIZE`; hw's `IOTLB_PRESETS["qemu-vtd"]`).
 */
export const DEFAULT_VTD_IOTLB: IotlbOptions = { entries: 1024, replacement: "qemu", globalIgnores: "pasid" };

/**
 * Where table pages come from by default: [64 GiB, 65 GiB), which the default memory makes its
 * dense window (fast table walks); DMA buffers below it are held sparsely.
 */
export const DEFAULT_TABLE_BASE = 0x10_0000_0000;
/** Bytes of the default table region (1 GiB: 262144 pages). */
export const DEFAULT_TABLE_SIZE = 0x4000_0000;

/** Options for `createIntelVtd`. */
export interface IntelVtdOptions {
  /** Instance name devices refer to. @default "dmar0" */
  name?: string;
  /**
   * Physical memory (tables, invalidation queue, DMA).
   * @default a new `createPhysMemory()` whose dense window is [64 GiB, 65 GiB)
   */
  memory?: PhysMemory;
  /** Allocator of table pages (root, context and page tables, the queue). @default one over `memory`'s dense window */
  tableAllocator?: PageAllocator;
  /** CAP_REG. @default {@link DEFAULT_VTD_CAP} */
  cap?: bigint;
  /** ECAP_REG. @default {@link DEFAULT_VTD_ECAP}, or {@link DEFAULT_VTD_SM_ECAP} with `scalableMode` */
  ecap?: bigint;
  /** VER_REG. @default 0x10 */
  version?: number;
  /**
   * Guest address width, as QEMU's `aw-bits`: 39, 48 or 57. Replaces CAP.SAGAW (every AGAW up to
   * this width) and CAP.MGAW (this width). @default the CAP's own fields (48)
   */
  addressWidth?: 39 | 48 | 57;
  /**
   * Scalable mode (`intel_iommu=sm_on`): the driver sets RTADDR.TTM = 01b and programs
   * scalable-mode context entries, PASID directories and PASID tables. Needs ECAP.SMTS (`EOPNOTSUPP`
   * otherwise). @default false (legacy mode)
   */
  scalableMode?: boolean;
  /**
   * Use first-stage (`intel-vtd-fs`) tables for paging domains. Needs `scalableMode` and ECAP.FLTS
   * (`EOPNOTSUPP` otherwise). A scalable-mode unit with FLTS but no SLTS uses first stage anyway.
   * @default false
   */
  firstStage?: boolean;
  /** RMRRs of the ACPI DMAR table. @default none */
  rmrr?: readonly VtdRmrr[];
  /**
   * Whether a device is a USB controller or a graphics device, whose RMRRs Linux reports as
   * `direct-relaxable` (`device_rmrr_is_relaxable`). @default none is
   */
  rmrrRelaxable?: (device: IommuDevice) => boolean;
  /** IOTLB geometry, or false for none. @default {@link DEFAULT_VTD_IOTLB} */
  iotlb?: IotlbOptions | false;
  /**
   * Paging-structure caches, modelled as gem5-style walk caches: an instance, options (levels not
   * given default to the VT-d levels 1..4, 2 MiB to 256 TiB spans, `walkCacheLevelsFor`), or
   * `false`. A page-selective invalidation with IH = 0 drops their entries over its range, IH = 1
   * (leaf only) keeps them; domain, PASID and global invalidations drop by tag. Read them through
   * `hardware.translation.walkCache`. @default false
   */
  walkCache?: WalkCache | WalkCacheOptions | false;
  /** PCI segment the unit serves. @default 0 */
  segment?: number;
  /** Firmware asks for DMA protection before the OS (`dmar_platform_optin()`). @default false */
  preBootProtection?: boolean;
}

/** CAP_REG with SAGAW and MGAW replaced for an `aw-bits` value, as QEMU builds it. */
export function capWithAddressWidth(cap: bigint, width: 39 | 48 | 57): bigint {
  const sagaw = width === 39 ? 0b00010n : width === 48 ? 0b00110n : 0b01110n;
  const cleared = cap & ~((0x1fn << 8n) | (0x3fn << 16n));
  return cleared | (sagaw << 8n) | (BigInt(width - 1) << 16n);
}
