/**
 * The one seam between the log parsers and the architecture record decoders of `@iommu-sim/hw`:
 * parsers extract raw values from text, these adapters decode them with the hardware model's own
 * codecs (one definition of every field, shared with the simulated hardware that writes the
 * records), adding what a log decoder needs on top: undefined event codes decode as `UNKNOWN` with
 * the fields every record carries, instead of being refused.
 */
import {
  AMD_EVENT_CODES,
  AMD_FAULT_FLAGS,
  decodeSmmuEvent,
  decodeAmdEvent as hwDecodeAmdEvent,
  vtdFaultReason as hwVtdFaultReason,
  isIommuSimError,
  SMMU_EVENT_IDS,
  u32sToRecord,
  u64sToRecord,
} from "@iommu-sim/hw";

// ---------------------------------------------------------------------------------------------
// SMMUv3 event records (hw-facts 5.1)

/** The fields of one SMMUv3 event record. */
export interface SmmuV3Event {
  /** EventID, dw0[7:0]. */
  id: number;
  /** Architecture name of the event (`F_TRANSLATION`), `UNKNOWN` for an undefined ID. */
  name: string;
  /** StreamID, dw0[63:32]. */
  sid: number;
  /** SubstreamID valid, dw0[11]. */
  ssv: boolean;
  /** SubstreamID, dw0[31:12]. */
  ssid: number;
  /** Stall tag, dw1[15:0]. */
  stag: number;
  /** Stall, dw1[31]. */
  stall: boolean;
  /** PnU, dw1[33]: privileged. */
  privileged: boolean;
  /** InD, dw1[34]: instruction fetch. */
  instruction: boolean;
  /** RnW, dw1[35]: read (else write). */
  read: boolean;
  /** S2, dw1[39]: the fault was at stage 2. */
  s2: boolean;
  /** CLASS, dw1[41:40]: `CD`, `TT`, `IN` or `RESERVED`. */
  class: "CD" | "TT" | "IN" | "RESERVED";
  /** TT_READ, dw1[44]. */
  ttRead: boolean;
  /** InputAddr, dw2. */
  inputAddr: bigint;
  /** IPA, dw3[51:12], for the events that report one. */
  ipa?: bigint;
  /** FetchAddr, dw3[51:3], for the fetch faults. */
  fetchAddr?: bigint;
}

const SMMUV3_NAMES = new Map<number, string>(Object.entries(SMMU_EVENT_IDS).map(([name, id]) => [id, name]));
// One-bit fields come back as booleans (or numbers, depending on the layout): accept either.
const flag = (v: unknown): boolean => v === true || v === 1 || v === 1n;
const SMMUV3_CLASSES = ["CD", "TT", "IN", "RESERVED"] as const;
// An event ID with only the common fields, used to decode records whose ID the spec does not define.
const COMMON_ONLY_ID = BigInt(SMMU_EVENT_IDS.C_BAD_STREAMID);

/** Name of an SMMUv3 event ID (`0x10` -> `F_TRANSLATION`), `UNKNOWN` when undefined. */
export function smmuV3EventName(id: number): string {
  return SMMUV3_NAMES.get(id) ?? "UNKNOWN";
}

/**
 * Decodes the four 64-bit words of an SMMUv3 event record with hw's decoder. An undefined event ID
 * decodes as `UNKNOWN` with the fields every record has.
 */
export function decodeSmmuV3Event(words: readonly [bigint, bigint, bigint, bigint]): SmmuV3Event {
  const id = Number(words[0] & 0xffn);
  const known = SMMUV3_NAMES.has(id);
  const dw0 = known ? words[0] : (words[0] & ~0xffn) | COMMON_ONLY_ID;
  const f = decodeSmmuEvent(u64sToRecord([dw0, words[1], words[2], words[3]])).fields;
  const event: SmmuV3Event = {
    id,
    name: smmuV3EventName(id),
    sid: Number(f.sid),
    ssv: flag(f.ssv),
    ssid: Number(f.ssid),
    stag: Number(f.stag),
    stall: flag(f.stall),
    privileged: flag(f.pnu),
    instruction: flag(f.ind),
    read: flag(f.rnw),
    s2: flag(f.s2),
    class: SMMUV3_CLASSES[Number(f.class)]!,
    ttRead: flag(f.ttRead),
    inputAddr: BigInt(f.inputAddr ?? 0),
  };
  if (known && f.ipa !== undefined) event.ipa = BigInt(f.ipa);
  if (known && f.fetchAddr !== undefined) event.fetchAddr = BigInt(f.fetchAddr);
  return event;
}

// ---------------------------------------------------------------------------------------------
// VT-d fault reasons (hw-facts 5.2)

/** What a VT-d fault reason code means and which remapping function raised it. */
export interface VtdFaultReason {
  /** The reason text (`PTE Read access is not set`), `Unknown` for an undefined code. */
  text: string;
  /** DMA remapping or interrupt remapping fault. */
  type: "dma-remap" | "intr-remap" | "unknown";
}

/** Looks up a VT-d fault reason code in hw's table (legacy, interrupt remapping, scalable mode). */
export function vtdFaultReason(code: number): VtdFaultReason {
  return hwVtdFaultReason(code);
}

// ---------------------------------------------------------------------------------------------
// AMD event log (hw-facts 5.3)

const AMD_NAMES = new Map<number, string>(
  Object.entries(AMD_EVENT_CODES).map(([name, code]) => [code, name]),
);
const AMD_FLAG_BITS = Object.entries(AMD_FAULT_FLAGS) as Array<[string, number]>;

/** Name of an AMD event code (`2` -> `IO_PAGE_FAULT`), `UNKNOWN` when undefined. */
export function amdEventName(code: number): string {
  return AMD_NAMES.get(code) ?? "UNKNOWN";
}

/** The AMD event code for a name the driver printed, `undefined` when the name is not an event. */
export function amdEventCode(name: string): number | undefined {
  return (AMD_EVENT_CODES as Readonly<Record<string, number>>)[name];
}

/** AMD event flags (the 12-bit field at data[1][27:16]) decoded. */
export interface AmdEventFlags {
  /** Names of the set flags, lowest bit first (`GN NX US I PR RW PE RZ TR`), then undefined bits in hex. */
  names: string[];
  /** GN: the domain field holds a PASID. */
  guest: boolean;
  /** RW: the access was a write. */
  write: boolean;
}

/** Decodes the flags of an AMD event log entry (bit meanings from hw's `AMD_FAULT_FLAGS`). */
export function decodeAmdEventFlags(flags: number): AmdEventFlags {
  const names = AMD_FLAG_BITS.filter(([, b]) => flags & b).map(([n]) => n);
  const defined = AMD_FLAG_BITS.reduce((m, [, b]) => m | b, 0);
  const undefinedBits = flags & ~defined & 0xfff;
  if (undefinedBits) names.push(`0x${undefinedBits.toString(16)}`);
  return { names, guest: (flags & AMD_FAULT_FLAGS.GN) !== 0, write: (flags & AMD_FAULT_FLAGS.RW) !== 0 };
}

/** The fields of one AMD event log entry (four 32-bit words). */
export interface AmdEvent {
  /** Event code, data[1][31:28]. */
  code: number;
  /** Event name. */
  name: string;
  /** DeviceID, data[0][15:0]. */
  deviceId: number;
  /** Domain ID or PASID: data[0][19:16] above data[1][15:0]. */
  domainOrPasid: number;
  /** Flags, data[1][27:16]. */
  flags: number;
  /** Address, data[3]:data[2]. */
  address: bigint;
}

/**
 * Decodes the four 32-bit words of an AMD event log entry with hw's decoder; an undefined code
 * decodes as `UNKNOWN` with the common fields.
 */
export function decodeAmdEvent(words: readonly [number, number, number, number]): AmdEvent {
  const code = (words[1] >>> 28) & 0xf;
  const known = AMD_NAMES.has(code);
  const w1 = known ? words[1] : ((words[1] & 0x0fff_ffff) | (AMD_EVENT_CODES.IO_PAGE_FAULT << 28)) >>> 0;
  const ev = hwDecodeAmdEvent(u32sToRecord([words[0], w1, words[2], words[3]]));
  return {
    code,
    name: amdEventName(code),
    deviceId: Number(ev.fields.deviceId),
    domainOrPasid: Number(ev.fields.pasid),
    flags: Number(ev.fields.flags),
    address: BigInt(ev.fields.address ?? 0),
  };
}

/** True when `error` is hw refusing a record (for parsers that want to report it). */
export function isRecordError(error: unknown): boolean {
  return isIommuSimError(error) && error.code === "EINVAL";
}

// ---------------------------------------------------------------------------------------------
// ARM SMMU (v1/v2) context bank fault registers (Linux arm-smmu.h ARM_SMMU_CB_FSR_*/FSYNR0_*)

const SMMU_FSR_BITS: ReadonlyArray<readonly [number, string]> = [
  [1, "TF"],
  [2, "AFF"],
  [3, "PF"],
  [4, "EF"],
  [5, "TLBMCF"],
  [6, "TLBLKF"],
  [7, "ASF"],
  [8, "UUT"],
  [30, "SS"],
  [31, "MULTI"],
];

/** An SMMUv2 context bank FSR decoded. */
export interface SmmuFsr {
  /** Names of the set fault bits, lowest first (`TF`, `PF`, ..., `SS`, `MULTI`). */
  names: string[];
  /** FSR.FORMAT, bits 10:9. */
  format: number;
  /** SS: the faulting transaction is stalled. */
  stalled: boolean;
}

/** Decodes an SMMUv2 context bank fault status register. */
export function decodeSmmuFsr(fsr: number): SmmuFsr {
  const names = SMMU_FSR_BITS.filter(([b]) => (fsr >>> b) & 1).map(([, n]) => n);
  return { names, format: (fsr >>> 9) & 3, stalled: ((fsr >>> 30) & 1) === 1 };
}

/** An SMMUv2 FSYNR0 decoded. */
export interface SmmuFsynr0 {
  /** PLVL, bits 1:0: table level of the fault. */
  level: number;
  /** WNR, bit 4: write. */
  write: boolean;
  /** PNU, bit 5: privileged. */
  privileged: boolean;
  /** IND, bit 6: instruction fetch. */
  instruction: boolean;
  /** PTWF, bit 10: fault on a page-table walk. */
  walk: boolean;
  /** S1CBNDX, bits 23:16. */
  s1cbndx: number;
}

/** Decodes an SMMUv2 context bank FSYNR0. */
export function decodeSmmuFsynr0(fsynr0: number): SmmuFsynr0 {
  return {
    level: fsynr0 & 3,
    write: ((fsynr0 >>> 4) & 1) === 1,
    privileged: ((fsynr0 >>> 5) & 1) === 1,
    instruction: ((fsynr0 >>> 6) & 1) === 1,
    walk: ((fsynr0 >>> 10) & 1) === 1,
    s1cbndx: (fsynr0 >>> 16) & 0xff,
  };
}
