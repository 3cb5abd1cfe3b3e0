import type { AddressLike } from "../address.js";
import type { FormatName, PageTableQuirks, WalkFaultKind } from "../page-table/types.js";

/**
 * What a DMA transaction asks for, as bit flags: the permission check compares these with the
 * leaf's Linux prot bits (`IOMMU_READ`, `IOMMU_WRITE`, `IOMMU_NOEXEC`, `IOMMU_PRIV`).
 */
export const DmaAccess = {
  /** Data read by the device (memory -> device). */
  READ: 1,
  /** Data write by the device (device -> memory). */
  WRITE: 2,
  /** Instruction fetch (SMMUv3 InD). */
  EXEC: 4,
  /** Privileged access (SMMUv3 PnU = 1). */
  PRIV: 8,
} as const;

/** One translation stage of a stream: a page-table format, its root and the tags it is cached by. */
export interface StageConfig {
  /** Page-table format the walker reads. */
  format: FormatName;
  /** Physical (stage 2, single stage) or intermediate physical (nested stage 1) address of the top table. */
  root: AddressLike;
  /** Input address size in bits. */
  ias: number;
  /** Output address size in bits. */
  oas: number;
  /** Translation granule in bytes (ARM LPAE). @default 4096 */
  granule?: number;
  /** Format quirks the walker must know (ARMv7 / LPAE NS). */
  quirks?: PageTableQuirks;
  /** Stage-2 concatenation rule (ARM LPAE stage 2). @default "mainline" */
  s2Concat?: "mainline" | "legacy";
}

/**
 * How the hardware handles a stream (one SMMU StreamID, one PCI requester ID): the decoded form of
 * an STE, a VT-d context entry, an AMD device table entry or an SMMU v2 stream-to-context mapping.
 */
export type StreamConfig =
  /** Transactions are terminated; `record` says whether a fault record is written (SMMUv3 abort STEs write none). */
  | { readonly mode: "abort"; readonly record?: boolean }
  /** Transactions pass untranslated (output = input). */
  | { readonly mode: "bypass" }
  /**
   * Translate. Stage 1 alone (tags: asid), stage 2 alone (tags: vmid), or nested (every stage-1 table
   * address and the stage-1 output are IPAs translated by stage 2). `asid` is also the VT-d/AMD domain id.
   */
  | {
      readonly mode: "translate";
      readonly stage1?: StageConfig;
      readonly stage2?: StageConfig;
      readonly asid?: number;
      readonly vmid?: number;
      /** Substreams (PASIDs) with their own stage 1; a PASID not listed faults as a bad substream. */
      readonly pasids?: ReadonlyMap<number, StageConfig & { readonly asid?: number }>;
      /** With a PASID table, requests without PASID use this stage 1 (SMMUv3 S1DSS=SSID0, VT-d RID_PASID). */
      readonly noPasid?: "stage1" | "abort" | "bypass";
    };

/** Why a translation failed, in architecture-neutral terms the backends turn into their records. */
export type TranslationFaultKind =
  | WalkFaultKind
  /** The stream has no configuration (SMMUv3 C_BAD_STREAMID, VT-d context not present). */
  | "bad-stream"
  /** The configuration aborts the stream (SMMUv3 abort STE, VT-d blocked). */
  | "stream-disabled"
  /** A PASID/SSID the configuration does not have (SMMUv3 C_BAD_SUBSTREAMID). */
  | "bad-substream";

/** Everything a backend needs to write its architecture's fault record. */
export interface TranslationFault {
  readonly kind: TranslationFaultKind;
  readonly stream: number;
  /** PASID / SubstreamID, or -1 when the request had none. */
  readonly pasid: number;
  /** The input address of the transaction. */
  readonly iova: number;
  /** {@link DmaAccess} flags of the transaction. */
  readonly access: number;
  /** Stage that faulted (1 or 2; 0 for configuration faults). */
  readonly stage: 0 | 1 | 2;
  /**
   * SMMUv3 CLASS: `"in"` when the input address faulted, `"tt"` when a stage-1 table fetch faulted
   * at stage 2, `"cd"` when fetching configuration faulted.
   */
  readonly class: "in" | "tt" | "cd";
  /** Level of the entry that faulted (format numbering), or -1. */
  readonly level: number;
  /** For stage-2 faults: the IPA (the stage-1 output, or the table address being fetched). */
  readonly ipa: number;
  /** The (first) descriptor involved, raw. */
  readonly descriptor: bigint;
}

/** Receives faults; the backend writes them into its event queue or fault registers. Never throws. */
export interface FaultSink {
  record(fault: TranslationFault): void;
}

/**
 * Reusable result of {@link TranslationUnit.translate}: numbers only. `fault` is 0 on success, else a
 * {@link TRANSLATION_FAULT_CODES} index.
 */
export interface TranslateOut {
  fault: number;
  outputAddress: number;
  /** Bytes of the translation around the address (the smaller of the stages' leaves). */
  pageSize: number;
  /** Effective Linux prot bits (both stages combined). */
  perm: number;
  /** True when the IOTLB answered. */
  hit: boolean;
}

/** Numeric fault codes of {@link TranslateOut.fault}, index = code. */
export const TRANSLATION_FAULT_CODES: readonly (TranslationFaultKind | "none")[] = [
  "none",
  "translation",
  "permission",
  "address-size",
  "access-flag",
  "bad-stream",
  "stream-disabled",
  "bad-substream",
];

/** Creates a zeroed {@link TranslateOut}. */
export function createTranslateOut(): TranslateOut {
  return { fault: 0, outputAddress: 0, pageSize: 0, perm: 0, hit: false };
}
