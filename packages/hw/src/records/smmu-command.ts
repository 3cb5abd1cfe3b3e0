/**
 * SMMUv3 command-queue entries: 16 bytes, two little-endian dwords, opcode in dw0[7:0]
 * (hw-facts 4.1; Linux `arm-smmu-v3.h` `CMDQ_*`, `arm_smmu_cmdq_build_cmd`).
 */
import {
  addressField,
  type DecodedRecord,
  field,
  layout,
  RecordFamily,
  type RecordFields,
  recordToU64s,
} from "./record-codec.js";

/** Command names, as the specification and Linux (`CMDQ_OP_*`) name them. */
export type SmmuCommandName =
  | "PREFETCH_CFG"
  | "CFGI_STE"
  | "CFGI_ALL"
  | "CFGI_CD"
  | "CFGI_CD_ALL"
  | "TLBI_NH_ALL"
  | "TLBI_NH_ASID"
  | "TLBI_NH_VA"
  | "TLBI_NH_VAA"
  | "TLBI_EL2_ALL"
  | "TLBI_EL2_ASID"
  | "TLBI_EL2_VA"
  | "TLBI_EL2_VAA"
  | "TLBI_S12_VMALL"
  | "TLBI_S2_IPA"
  | "TLBI_NSNH_ALL"
  | "ATC_INV"
  | "PRI_RESP"
  | "RESUME"
  | "CMD_SYNC";

/** Opcodes (`CMDQ_OP_*`). */
export const SMMU_CMD_OPCODES: Readonly<Record<SmmuCommandName, number>> = {
  PREFETCH_CFG: 0x01,
  CFGI_STE: 0x03,
  CFGI_ALL: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  CMD_SYNC: 0x46,
};

const OP = { at: 0, width: 8, from: 0 } as const;
const sid = field("sid", 0, 63, 32);
const ssid = field("ssid", 0, 31, 12);
const ssv = field("ssv", 0, 11, 11);
const vmid = field("vmid", 0, 47, 32);
const asid = field("asid", 0, 63, 48);
const num = field("num", 0, 16, 12);
const scale = field("scale", 0, 24, 20);
const leaf = field("leaf", 1, 0, 0);
const ttl = field("ttl", 1, 9, 8);
const tg = field("tg", 1, 11, 10);
const addr = addressField("addr", 1, 63, 12);
/** TLBI range fields: dw0 NUM/SCALE, dw1 LEAF/TTL/TG/ADDR. */
const range = [num, scale, leaf, ttl, tg] as const;

const L = (name: SmmuCommandName, ...fields: Parameters<typeof layout>[3]) =>
  layout(name, SMMU_CMD_OPCODES[name], OP, fields);

/** Every command layout; field names are the specification's in lower camel case. */
export const SMMU_COMMAND_LAYOUTS = [
  L("PREFETCH_CFG", ssv, ssid, sid, field("size", 1, 4, 0), addr),
  L("CFGI_STE", sid, leaf),
  // CFGI_ALL is CFGI_STE_RANGE with RANGE = 31 (every StreamID), as Linux encodes it.
  L("CFGI_ALL", sid, field("range", 1, 4, 0, 31)),
  L("CFGI_CD", ssid, sid, leaf),
  L("CFGI_CD_ALL", sid),
  L("TLBI_NH_ALL", vmid),
  L("TLBI_NH_ASID", vmid, asid),
  L("TLBI_NH_VA", ...range, vmid, asid, addr),
  L("TLBI_NH_VAA", ...range, vmid, addr),
  L("TLBI_EL2_ALL"),
  L("TLBI_EL2_ASID", asid),
  L("TLBI_EL2_VA", ...range, asid, addr),
  L("TLBI_EL2_VAA", ...range, addr),
  L("TLBI_S12_VMALL", vmid),
  L("TLBI_S2_IPA", ...range, vmid, addressField("addr", 1, 51, 12)),
  L("TLBI_NSNH_ALL"),
  // SIZE = log2 of the span in 4 KiB pages; 52 invalidates everything (ATC_INV_SIZE_ALL).
  L("ATC_INV", ssv, ssid, sid, field("global", 0, 9, 9), field("size", 1, 5, 0), addr),
  L("PRI_RESP", ssv, ssid, sid, field("grpid", 1, 8, 0), field("resp", 1, 13, 12)),
  // RESP: 0 TERM, 1 RETRY, 2 ABORT.
  L("RESUME", field("resp", 0, 13, 12), sid, field("stag", 1, 15, 0)),
  // CS: 0 none, 1 IRQ, 2 SEV; MSH: shareability of the MSI write; MSIADDR [51:2].
  L(
    "CMD_SYNC",
    field("cs", 0, 13, 12),
    field("msh", 0, 23, 22),
    field("msiattr", 0, 27, 24),
    field("msidata", 0, 63, 32),
    addressField("msiaddr", 1, 51, 2),
  ),
] as const;

const FAMILY = new RecordFamily<SmmuCommandName>("SMMUv3 command", [16], SMMU_COMMAND_LAYOUTS);

/** A decoded command. */
export type SmmuCommand = DecodedRecord<SmmuCommandName>;

/**
 * Encodes one command to its 16 bytes. Missing fields are 0 (CFGI_ALL's RANGE defaults to 31).
 * `EINVAL` for an unknown field, a value too wide, or an address with bits below the field set.
 * Models `arm_smmu_cmdq_build_cmd`.
 */
export function encodeSmmuCommand(name: SmmuCommandName, fields: RecordFields = {}): Uint8Array {
  return FAMILY.encode(name, fields);
}

/**
 * Decodes 16 bytes. `EINVAL` for another length, an opcode the model does not define (the SMMU
 * answers CERROR_ILL), or - when `strict` (the default) - reserved bits set: the specification makes
 * commands with non-zero reserved fields CONSTRAINED UNPREDICTABLE, so a golden model reports them.
 */
export function decodeSmmuCommand(bytes: Uint8Array, options: { strict?: boolean } = {}): SmmuCommand {
  return FAMILY.decode(bytes, options.strict ?? true);
}

/** The two dwords of an encoded command. */
export function smmuCommandDwords(bytes: Uint8Array): [bigint, bigint] {
  const [dw0 = 0n, dw1 = 0n] = recordToU64s(bytes);
  return [dw0, dw1];
}
