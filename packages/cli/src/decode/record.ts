/** The five families of IOMMU log records `iommu-sim decode` recognises. */
export type RecordKind =
  | "arm-smmu-v3-event"
  | "arm-smmu-context-fault"
  | "vtd-fault"
  | "amd-vi-event"
  | "iommu-trace";

/**
 * One decoded IOMMU record, in the shape `decode --json` prints. A field is present only when the
 * record carries it. Addresses and register values are lowercase minimal `0x` hex strings; counts,
 * indices and codes are numbers. A record the decoder recognised but could not decode has `error`.
 */
export interface DecodedRecord {
  /** Which log family the record came from. */
  kind: RecordKind;
  /** 1-based line of the record's first line in the input. */
  line: number;
  /** The IOMMU instance that logged the record (`arm-smmu-v3.0.auto`, `ivhd0`), from the dev prefix. */
  iommu?: string;
  /** The master device the record names (`0000:03:00.0`), from the message or the dev prefix. */
  device?: string;
  /** The event name as the driver prints it (`F_TRANSLATION`, `IO_PAGE_FAULT`, `TF`, `map`, ...). */
  event?: string;
  /** The architecture's numeric event code (SMMUv3 event ID, AMD event type). */
  id?: number;
  /** Stream ID (SMMUv3 StreamID, SMMUv2 CBFRSYNRA.SID). */
  sid?: string;
  /** SMMUv3 SubstreamID; `null` when the record marks it not valid. */
  ssid?: string | null;
  /** The faulting access was a read. */
  read?: boolean;
  /** The faulting access was a write. */
  write?: boolean;
  /** The faulting access was privileged. */
  privileged?: boolean;
  /** The faulting access was an instruction fetch. */
  instruction?: boolean;
  /** Translation stage that faulted (SMMUv3 S2 bit: 1 or 2). */
  stage?: number;
  /** SMMUv3 fault class: `CD`, `TT`, `IN` or `RESERVED`. */
  class?: string;
  /** The transaction is stalled awaiting a resume. */
  stall?: boolean;
  /** SMMUv3 stall tag. */
  stag?: string;
  /** Input (IO virtual) address. */
  iova?: string;
  /** Intermediate physical address (SMMUv3 stage-2 faults). */
  ipa?: string;
  /** Other address the record carries (VT-d fault address, AMD event address, SMMUv3 fetch address). */
  address?: string;
  /** PCI requester as `bb:dd.f`. */
  requester?: string;
  /** Domain ID (AMD). */
  domain?: string;
  /** Raw flags (AMD event flags, io_page_fault trace flags). */
  flags?: string;
  /** Names of the set AMD event flags (`RW`, `PR`, ...), lowest bit first. */
  flagNames?: string[];
  /** VT-d fault reason code. */
  reason?: number;
  /** VT-d fault reason text from the hardware model's table. */
  reasonText?: string;
  /** PASID; `null` when the record says there is none. */
  pasid?: string | null;
  /** VT-d interrupt-remapping fault index. */
  index?: string;
  /** SMMUv2 context bank fault status register. */
  fsr?: string;
  /** SMMUv2 fault syndrome register 0. */
  fsynr0?: string;
  /** SMMUv2 CBFRSYNRA (stream ID of the faulting transaction). */
  cbfrsynra?: string;
  /** SMMUv2 context bank index. */
  cb?: number;
  /** Physical address (map trace). */
  paddr?: string;
  /** IOMMU_* protection flags (map traces that print them). */
  prot?: string;
  /** Size in bytes (map/unmap traces). */
  size?: number;
  /** Bytes actually unmapped (unmap trace). */
  unmappedSize?: number;
  /** IOMMU group ID (group traces). */
  group?: number;
  /** Why a recognised record could not be decoded (fully). */
  error?: string;
}

/** Every key of {@link DecodedRecord} in the order the JSON and table renderers print them. */
export const RECORD_KEYS = [
  "kind",
  "line",
  "iommu",
  "device",
  "event",
  "id",
  "sid",
  "ssid",
  "read",
  "write",
  "privileged",
  "instruction",
  "stage",
  "class",
  "stall",
  "stag",
  "iova",
  "ipa",
  "address",
  "requester",
  "domain",
  "flags",
  "flagNames",
  "reason",
  "reasonText",
  "pasid",
  "index",
  "fsr",
  "fsynr0",
  "cbfrsynra",
  "cb",
  "paddr",
  "prot",
  "size",
  "unmappedSize",
  "group",
  "error",
] as const satisfies readonly (keyof DecodedRecord)[];
