/**
 * Intel VT-d primary fault records (128 bits, hw-facts 5.2), the fault-reason table and Linux's
 * log lines (`dmar_fault`, `dmar_fault_do_one`, `dmar_get_fault_reason` in `intel/dmar.c`).
 */
import {
  addressField,
  bigintToBytes,
  bytesToBigint,
  checkLength,
  decodeFields,
  encodeFields,
  field,
  layout,
  type RecordFields,
} from "./record-codec.js";

/** A primary fault record, decoded. */
export interface VtdFaultRecord {
  /** FI: the faulting page address (bits [63:12]; the low 12 bits are zero). */
  fi: bigint;
  /** Source id: bus [15:8], device [7:3], function [2:0]. */
  sid: number;
  /** PASID present. */
  pp: boolean;
  /** Fault reason code. */
  fr: number;
  /** PASID value (meaningful when `pp`). */
  pv: number;
  /** Request type: true = read (or AtomicOp), false = write (Linux `dma_frcd_type`). */
  t: boolean;
  /** Fault: the record is valid (software writes 1 to clear). */
  f: boolean;
}

// A fault record has no opcode: the layout's code field is empty.
const FAULT = layout("primary fault record", 0, { at: 0, width: 0, from: 0 }, [
  addressField("fi", 0, 63, 12),
  field("sid", 1, 15, 0),
  field("pp", 1, 31, 31),
  field("fr", 1, 39, 32),
  field("pv", 1, 59, 40),
  field("t", 1, 62, 62),
  field("f", 1, 63, 63),
]);

/**
 * Encodes a primary fault record to 16 bytes (what the unit writes to a fault recording register).
 * Missing fields are 0. `EINVAL` for a value too wide for its field.
 */
export function encodeVtdFaultRecord(record: Partial<VtdFaultRecord>): Uint8Array {
  const values: RecordFields = {};
  for (const [k, v] of Object.entries(record)) if (v !== undefined) values[k] = v;
  return bigintToBytes(encodeFields(FAULT, values, "VT-d"), 16);
}

/**
 * Decodes a 16-byte primary fault record. `EINVAL` for another length. Reserved bits are ignored:
 * the hardware writes these records and software must ignore what it does not know.
 */
export function decodeVtdFaultRecord(bytes: Uint8Array): VtdFaultRecord {
  checkLength(bytes, [16], "VT-d fault record");
  const f = decodeFields(FAULT, bytesToBigint(bytes));
  return {
    fi: f.fi as bigint,
    sid: f.sid as number,
    pp: f.pp as boolean,
    fr: f.fr as number,
    pv: f.pv as number,
    t: f.t as boolean,
    f: f.f as boolean,
  };
}

/** Legacy (non-scalable-mode) DMA-remapping fault reasons, indexed by code 0x0..0xd. */
const LEGACY_REASONS = [
  "Software",
  "Present bit in root entry is clear",
  "Present bit in context entry is clear",
  "Invalid context entry",
  "Access beyond MGAW",
  "PTE Write access is not set",
  "PTE Read access is not set",
  "Next page table ptr is invalid",
  "Root table address invalid",
  "Context table ptr is invalid",
  "non-zero reserved fields in RTP",
  "non-zero reserved fields in CTP",
  "non-zero reserved fields in PTE",
  "PCE for translation request specifies blocking",
];

/** Interrupt-remapping fault reasons, codes 0x20..0x26. */
const INTR_REASONS = [
  "Detected reserved fields in the decoded interrupt-remapped request",
  "Interrupt index exceeded the interrupt-remapping table size",
  "Present field in the IRTE entry is clear",
  "Error accessing interrupt-remapping table pointed by IRTA_REG",
  "Detected reserved fields in the IRTE entry",
  "Blocked a compatibility format interrupt request",
  "Blocked an interrupt request due to source-id verification failure",
];

/** Scalable-mode fault reasons (0x30..0x90); codes absent here read "Unknown", as in Linux. */
const SM_REASONS: ReadonlyMap<number, string> = new Map([
  [0x30, "SM: Invalid Root Table Address"],
  [0x31, "SM: TTM 0 for request with PASID"],
  [0x32, "SM: TTM 0 for page group request"],
  [0x38, "SM: Error attempting to access Root Entry"],
  [0x39, "SM: Present bit in Root Entry is clear"],
  [0x3a, "SM: Non-zero reserved field set in Root Entry"],
  [0x40, "SM: Error attempting to access Context Entry"],
  [0x41, "SM: Present bit in Context Entry is clear"],
  [0x42, "SM: Non-zero reserved field set in the Context Entry"],
  [0x43, "SM: Invalid Context Entry"],
  [0x44, "SM: DTE field in Context Entry is clear"],
  [0x45, "SM: PASID Enable field in Context Entry is clear"],
  [0x46, "SM: PASID is larger than the max in Context Entry"],
  [0x47, "SM: PRE field in Context-Entry is clear"],
  [0x48, "SM: RID_PASID field error in Context-Entry"],
  [0x50, "SM: Error attempting to access the PASID Directory Entry"],
  [0x51, "SM: Present bit in Directory Entry is clear"],
  [0x52, "SM: Non-zero reserved field set in PASID Directory Entry"],
  [0x58, "SM: Error attempting to access PASID Table Entry"],
  [0x59, "SM: Present bit in PASID Table Entry is clear"],
  [0x5a, "SM: Non-zero reserved field set in PASID Table Entry"],
  [0x5b, "SM: Invalid Scalable-Mode PASID Table Entry"],
  [0x5c, "SM: ERE field is clear in PASID Table Entry"],
  [0x5d, "SM: SRE field is clear in PASID Table Entry"],
  [0x70, "SM: Error attempting to access first-level paging entry"],
  [0x71, "SM: Present bit in first-level paging entry is clear"],
  [0x72, "SM: Non-zero reserved field set in first-level paging entry"],
  [0x73, "SM: Error attempting to access FL-PML4 entry"],
  [0x74, "SM: First-level entry address beyond MGAW in Nested translation"],
  [0x75, "SM: Read permission error in FL-PML4 entry in Nested translation"],
  [0x76, "SM: Read permission error in first-level paging entry in Nested translation"],
  [0x77, "SM: Write permission error in first-level paging entry in Nested translation"],
  [0x78, "SM: Error attempting to access second-level paging entry"],
  [0x79, "SM: Read/Write permission error in second-level paging entry"],
  [0x7a, "SM: Non-zero reserved field set in second-level paging entry"],
  [0x7b, "SM: Invalid second-level page table pointer"],
  [0x7c, "SM: A/D bit update needed in second-level entry when set up in no snoop"],
  [0x80, "SM: Address in first-level translation is not canonical"],
  [0x81, "SM: U/S set 0 for first-level translation with user privilege"],
  [0x82, "SM: No execute permission for request with PASID and ER=1"],
  [0x83, "SM: Address beyond the DMA hardware max"],
  [0x84, "SM: Second-level entry address beyond the max"],
  [0x85, "SM: No write permission for Write/AtomicOp request"],
  [0x86, "SM: No read permission for Read/AtomicOp request"],
  [0x87, "SM: Invalid address-interrupt address"],
  [0x90, "SM: A/D bit update needed in first-level entry when set up in no snoop"],
]);

/** What kind of fault a reason code is (Linux's `enum faulttype`). */
export type VtdFaultType = "dma-remap" | "intr-remap" | "unknown";

/**
 * The text and kind of a fault reason, as `dmar_get_fault_reason` gives them: 0x20..0x26
 * interrupt remapping, 0x30..0x90 scalable mode ("Unknown" in the gaps, still DMA remapping),
 * 0x0..0xd legacy; anything else "Unknown".
 */
export function vtdFaultReason(code: number): { text: string; type: VtdFaultType } {
  if (code >= 0x20 && code - 0x20 < INTR_REASONS.length)
    return { text: INTR_REASONS[code - 0x20]!, type: "intr-remap" };
  if (code >= 0x30 && code <= 0x90) return { text: SM_REASONS.get(code) ?? "Unknown", type: "dma-remap" };
  if (code >= 0 && code < LEGACY_REASONS.length) return { text: LEGACY_REASONS[code]!, type: "dma-remap" };
  return { text: "Unknown", type: "unknown" };
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** `bb:dd.f` of a 16-bit source id, as Linux prints it (`%02x:%02x.%d`). */
export function formatSourceId(sid: number): string {
  return `${hex2((sid >> 8) & 0xff)}:${hex2((sid >> 3) & 0x1f)}.${sid & 7}`;
}

/**
 * Linux's line for one fault record (`dmar_fault_do_one`, with the "DMAR: " prefix), e.g.
 * `DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set`.
 * Interrupt-remapping reasons print the interrupt index (address bits 63:48) instead.
 */
export function formatVtdFault(record: VtdFaultRecord): string {
  const { text, type } = vtdFaultReason(record.fr);
  const dev = formatSourceId(record.sid);
  const reason = `[fault reason 0x${hex2(record.fr)}] ${text}`;
  if (type === "intr-remap")
    return `DMAR: [INTR-REMAP] Request device [${dev}] fault index 0x${(record.fi >> 48n).toString(16)} ${reason}`;
  const kind = record.t ? "DMA Read" : "DMA Write";
  const pasid = record.pp ? `PASID 0x${record.pv.toString(16)}` : "NO_PASID";
  return `DMAR: [${kind} ${pasid}] Request device [${dev}] fault addr 0x${record.fi.toString(16)} ${reason}`;
}

/** The line `dmar_fault` prints first: `DMAR: DRHD: handling fault status reg %x`. */
export function formatVtdFaultStatus(fsts: number): string {
  return `DMAR: DRHD: handling fault status reg ${(fsts >>> 0).toString(16)}`;
}
