/**
 * SMMUv3 event-queue records: 32 bytes, four little-endian dwords (hw-facts 5.1; Linux `EVTQ_*`,
 * `arm_smmu_evtq_thread`).
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

/** Event names of the specification (Linux defines a subset as `EVT_ID_*`). */
export type SmmuEventName =
  | "F_UUT"
  | "C_BAD_STREAMID"
  | "F_STE_FETCH"
  | "C_BAD_STE"
  | "F_BAD_ATS_TREQ"
  | "F_STREAM_DISABLED"
  | "F_TRANSL_FORBIDDEN"
  | "C_BAD_SUBSTREAMID"
  | "F_CD_FETCH"
  | "C_BAD_CD"
  | "F_WALK_EABT"
  | "F_TRANSLATION"
  | "F_ADDR_SIZE"
  | "F_ACCESS"
  | "F_PERMISSION"
  | "F_TLB_CONFLICT"
  | "F_CFG_CONFLICT"
  | "E_PAGE_REQUEST"
  | "F_VMS_FETCH";

/** Event IDs (dw0[7:0]). */
export const SMMU_EVENT_IDS: Readonly<Record<SmmuEventName, number>> = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
};

/** `CLASS` values (dw1[41:40]): what the SMMU was accessing when stage 2 faulted. */
export const SMMU_EVENT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;

const OP = { at: 0, width: 8, from: 0 } as const;
/** Fields every event record carries (the record is self-describing enough to decode them all). */
const COMMON = [
  field("ssv", 0, 11, 11),
  field("ssid", 0, 31, 12),
  field("sid", 0, 63, 32),
  field("stag", 1, 15, 0),
  field("stall", 1, 31, 31),
  field("pnu", 1, 33, 33),
  field("ind", 1, 34, 34),
  field("rnw", 1, 35, 35),
  field("s2", 1, 39, 39),
  field("class", 1, 41, 40),
  field("ttRead", 1, 44, 44),
  addressField("inputAddr", 2, 63, 0),
];
/** Stage-2 translation faults report the faulting IPA in dw3[51:12]. */
const IPA = addressField("ipa", 3, 51, 12);
/** Fetch faults (STE, CD, VMS, walk external abort) report the fetched address in dw3[51:3]. */
const FETCH = addressField("fetchAddr", 3, 51, 3);
const FETCH_EVENTS = new Set<SmmuEventName>(["F_STE_FETCH", "F_CD_FETCH", "F_WALK_EABT", "F_VMS_FETCH"]);
const IPA_EVENTS = new Set<SmmuEventName>([
  "F_UUT",
  "F_TRANSLATION",
  "F_ADDR_SIZE",
  "F_ACCESS",
  "F_PERMISSION",
  "F_TLB_CONFLICT",
]);

/** Every event layout. */
export const SMMU_EVENT_LAYOUTS = (Object.keys(SMMU_EVENT_IDS) as SmmuEventName[]).map((name) =>
  layout(name, SMMU_EVENT_IDS[name], OP, [
    ...COMMON,
    ...(FETCH_EVENTS.has(name) ? [FETCH] : IPA_EVENTS.has(name) ? [IPA] : []),
  ]),
);

const FAMILY = new RecordFamily<SmmuEventName>("SMMUv3 event", [32], SMMU_EVENT_LAYOUTS);

/** A decoded event record. */
export type SmmuEvent = DecodedRecord<SmmuEventName>;

/**
 * Encodes an event record (what the SMMU writes to the event queue). Fields: `ssv`, `ssid`, `sid`,
 * `stag`, `stall`, `pnu`, `ind`, `rnw` (1 = read), `s2`, `class`, `ttRead`, `inputAddr`, and `ipa`
 * (translation-class events) or `fetchAddr` (fetch faults). Missing fields are 0.
 */
export function encodeSmmuEvent(name: SmmuEventName, fields: RecordFields = {}): Uint8Array {
  return FAMILY.encode(name, fields);
}

/**
 * Decodes a 32-byte event record. `EINVAL` for another length or an event ID the specification does
 * not define. Reserved bits are not checked by default: software must ignore them in records the
 * hardware writes (and event-specific fields the model does not name, such as E_PAGE_REQUEST's, live
 * there); pass `strict: true` to refuse them.
 */
export function decodeSmmuEvent(bytes: Uint8Array, options: { strict?: boolean } = {}): SmmuEvent {
  return FAMILY.decode(bytes, options.strict ?? false);
}

/** The four dwords of an encoded event record. */
export function smmuEventDwords(bytes: Uint8Array): [bigint, bigint, bigint, bigint] {
  const [a = 0n, b = 0n, c = 0n, d = 0n] = recordToU64s(bytes);
  return [a, b, c, d];
}
