/**
 * SMMUv3 event-queue records as eight 32-bit words (hw-facts 5.1; Linux `EVTQ_*`, `EVT_ID_*`).
 */

/** Bytes per event record (`EVTQ_ENT_DWORDS` = 4). */
export const EVT_BYTES = 32;
/** `EVT_ID_BAD_STREAMID_CONFIG` (C_BAD_STREAMID). */
export const EVT_ID_BAD_STREAMID = 0x02;
/** `EVT_ID_STE_FETCH_FAULT`. */
export const EVT_ID_STE_FETCH = 0x03;
/** `EVT_ID_BAD_STE_CONFIG` (C_BAD_STE). */
export const EVT_ID_BAD_STE = 0x04;
/** `EVT_ID_STREAM_DISABLED_FAULT`. */
export const EVT_ID_STREAM_DISABLED = 0x06;
/** `EVT_ID_BAD_SUBSTREAMID_CONFIG` (C_BAD_SUBSTREAMID). */
export const EVT_ID_BAD_SUBSTREAMID = 0x08;
/** `EVT_ID_CD_FETCH_FAULT`. */
export const EVT_ID_CD_FETCH = 0x09;
/** `EVT_ID_BAD_CD_CONFIG` (C_BAD_CD). */
export const EVT_ID_BAD_CD = 0x0a;
/** `EVT_ID_TRANSLATION_FAULT`. */
export const EVT_ID_TRANSLATION = 0x10;
/** `EVT_ID_ADDR_SIZE_FAULT`. */
export const EVT_ID_ADDR_SIZE = 0x11;
/** `EVT_ID_ACCESS_FAULT`. */
export const EVT_ID_ACCESS = 0x12;
/** `EVT_ID_PERMISSION_FAULT`. */
export const EVT_ID_PERMISSION = 0x13;
/** `EVT_ID_VMS_FETCH_FAULT`. */
export const EVT_ID_VMS_FETCH = 0x25;

/** Linux's `event_str[]`: the names `arm_smmu_dump_event` prints. */
export const EVENT_NAMES: Readonly<Record<number, string>> = {
  [EVT_ID_BAD_STREAMID]: "C_BAD_STREAMID",
  [EVT_ID_STE_FETCH]: "F_STE_FETCH",
  [EVT_ID_BAD_STE]: "C_BAD_STE",
  [EVT_ID_STREAM_DISABLED]: "F_STREAM_DISABLED",
  [EVT_ID_BAD_SUBSTREAMID]: "C_BAD_SUBSTREAMID",
  [EVT_ID_CD_FETCH]: "F_CD_FETCH",
  [EVT_ID_BAD_CD]: "C_BAD_CD",
  [EVT_ID_TRANSLATION]: "F_TRANSLATION",
  [EVT_ID_ADDR_SIZE]: "F_ADDR_SIZE",
  [EVT_ID_ACCESS]: "F_ACCESS",
  [EVT_ID_PERMISSION]: "F_PERMISSION",
  [EVT_ID_VMS_FETCH]: "F_VMS_FETCH",
};

/** Linux's `event_class_str[]`, indexed by CLASS. */
export const EVENT_CLASS_NAMES: readonly string[] = [
  "CD fetch",
  "Stage 1 translation table fetch",
  "Input address caused fault",
  "Reserved",
];

/** CLASS values (dw1[41:40]). */
export const EVTQ_CLASS_CD = 0;
/** CLASS = TT: a stage-1 table fetch faulted at stage 2. */
export const EVTQ_CLASS_TT = 1;
/** CLASS = IN: the input address faulted. */
export const EVTQ_CLASS_IN = 2;

/** The fields of an event record, decoded with numbers (`struct arm_smmu_event`). */
export interface SmmuEventFields {
  /** Event ID, dw0[7:0]. */
  id: number;
  /** SubstreamID valid, dw0[11]. */
  ssv: boolean;
  /** SubstreamID, dw0[31:12]. */
  ssid: number;
  /** StreamID, dw0[63:32]. */
  sid: number;
  /** Stall tag, dw1[15:0]. */
  stag: number;
  /** Stall, dw1[31]. */
  stall: boolean;
  /** PnU (privileged), dw1[33]. */
  privileged: boolean;
  /** InD (instruction), dw1[34]. */
  instruction: boolean;
  /** RnW (1 = read), dw1[35]. */
  read: boolean;
  /** S2, dw1[39]. */
  s2: boolean;
  /** CLASS, dw1[41:40]. */
  class: number;
  /** TT_READ, dw1[44]. */
  ttRead: boolean;
  /** InputAddr, dw2. */
  iova: number;
  /** IPA dw3[51:12] (translation faults) or FetchAddr dw3[51:3] (fetch faults). */
  addr3: number;
}

/** Writes an event record into `out` (8 words, zeroed first). */
export function buildEvent(out: Uint32Array, e: SmmuEventFields): void {
  out.fill(0);
  out[0] = (e.id | (e.ssv ? 1 << 11 : 0) | ((e.ssid & 0xfffff) << 12)) >>> 0;
  out[1] = e.sid >>> 0;
  out[2] = ((e.stag & 0xffff) | (e.stall ? 0x8000_0000 : 0)) >>> 0;
  out[3] =
    ((e.privileged ? 1 << 1 : 0) |
      (e.instruction ? 1 << 2 : 0) |
      (e.read ? 1 << 3 : 0) |
      (e.s2 ? 1 << 7 : 0) |
      ((e.class & 3) << 8) |
      (e.ttRead ? 1 << 12 : 0)) >>>
    0;
  out[4] = e.iova >>> 0;
  out[5] = Math.floor(e.iova / 0x1_0000_0000) >>> 0;
  out[6] = (e.addr3 >>> 0) & 0xffff_fff8;
  out[7] = Math.floor(e.addr3 / 0x1_0000_0000) & 0xfffff;
}

/** Decodes an event record from 8 words (`arm_smmu_decode_event`). */
export function decodeEvent(w: Uint32Array): SmmuEventFields {
  const w0 = w[0]!;
  const w3 = w[3]!;
  return {
    id: w0 & 0xff,
    ssv: (w0 & (1 << 11)) !== 0,
    ssid: (w0 >>> 12) & 0xfffff,
    sid: w[1]!,
    stag: w[2]! & 0xffff,
    stall: (w[2]! & 0x8000_0000) !== 0,
    privileged: (w3 & (1 << 1)) !== 0,
    instruction: (w3 & (1 << 2)) !== 0,
    read: (w3 & (1 << 3)) !== 0,
    s2: (w3 & (1 << 7)) !== 0,
    class: (w3 >>> 8) & 3,
    ttRead: (w3 & (1 << 12)) !== 0,
    iova: w[5]! * 0x1_0000_0000 + w[4]!,
    addr3: (w[7]! & 0xfffff) * 0x1_0000_0000 + w[6]!,
  };
}
