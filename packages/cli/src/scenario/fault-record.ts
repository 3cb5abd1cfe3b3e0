/**
 * The architecture's own record of a DMA fault, read back from the hardware model after the fact
 * and decoded with the architecture's names: the SMMUv3 event-queue entry (four 64-bit words), the
 * VT-d primary fault recording register (128 bits), the AMD-Vi event-log entry (four 32-bit words;
 * the driver zeroes it after reading, so it is rebuilt from the driver's report),
 * or, for the SMMU v2, which keeps no record in memory, the context bank's fault syndrome registers
 * as the fault handler read them (FSR, FAR, FSYNR0, CBFRSYNRA; it clears FSR, so they are taken
 * from its report). Like `hardware-view.ts` this is a viewer's structural peek at the backends'
 * exposed hardware, keyed by driver name; a backend it does not know gives no record.
 */
import { fsrNames } from "@iommu-sim/arm-smmu";
import {
  amdEventWords,
  decodeAmdEvent,
  decodeSmmuEvent,
  decodeVtdFaultRecord,
  encodeAmdEvent,
  formatSourceId,
  smmuEventDwords,
  vtdFaultReason,
} from "@iommu-sim/hw";
import type { IommuBackend } from "@iommu-sim/iommu";
import type { RunContext } from "./context.js";
import { hex } from "./format.js";

/** A fault record, raw and decoded. */
export interface FaultRecordView {
  /** The IOMMU instance. */
  readonly iommu: string;
  /** What the record is (`SMMUv3 event record`, `VT-d fault recording register`...). */
  readonly record: string;
  /** Where it was read (`EVTQ[3] at 0x60004060`). */
  readonly location: string;
  /** The raw words, lowest first, as hex. */
  readonly words: readonly string[];
  /** Width of each word: 64 or 32 bits. */
  readonly wordBits: 32 | 64;
  /** The words' names where they are registers (SMMU v2: `FSR`, `FAR`...); absent for records. */
  readonly wordNames?: readonly string[];
  /** The architecture's name of the event (`F_TRANSLATION`, `IO_PAGE_FAULT`, `TF`, `0x6`). */
  readonly event: string;
  /** What the event means, one line. */
  readonly meaning: string;
  /** Every field, by the specification's names. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  /** What the driver logged for it (Linux's format), if anything. */
  readonly log: readonly string[];
}

/** A point in an IOMMU's fault history, taken before a transaction. */
export interface FaultRecordMark {
  readonly records: number;
  readonly log: number;
}

type Loose = Record<string, unknown>;
const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Loose)[k] : undefined), o);
const plain = (fields: Readonly<Record<string, unknown>>): Record<string, string | number | boolean> => {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields))
    out[k] = typeof v === "bigint" ? hex(v) : typeof v === "number" || typeof v === "boolean" ? v : String(v);
  return out;
};
const call = (o: unknown, name: string, ...args: unknown[]): unknown => {
  const f = get(o, name);
  return typeof f === "function" ? (f as (...a: unknown[]) => unknown).apply(o, args) : undefined;
};

function recordsWritten(backend: IommuBackend): number {
  const hw = get(backend, "hardware");
  const stats = call(hw, "stats");
  switch (backend.driver.name) {
    case "arm-smmu-v3":
      return Number(get(stats, "eventsWritten") ?? 0);
    case "intel-iommu":
      return Number(get(stats, "faultsRecorded") ?? 0);
    case "amd-vi":
      return Number(get(stats, "events", "written") ?? 0);
    default:
      return 0;
  }
}

/** Marks where `backend`'s fault history stands now. */
export function markFaultRecords(ctx: RunContext, backend: IommuBackend): FaultRecordMark {
  return { records: recordsWritten(backend), log: ctx.core.log.length };
}

const SMMU_MEANINGS: Readonly<Record<string, string>> = {
  F_TRANSLATION: "translation fault: no valid descriptor maps the input address",
  F_PERMISSION: "permission fault: the descriptor forbids this access",
  F_ADDR_SIZE: "address size fault: the address is beyond the configured input or output size",
  F_ACCESS: "access flag fault: the descriptor's AF bit is clear",
  C_BAD_STE: "the stream table entry is invalid",
};

function smmuV3(backend: IommuBackend, count: number, log: string[]): FaultRecordView | undefined {
  const base = Number(get(backend, "smmu", "evtqBase"));
  const shift = Number(get(backend, "smmu", "evtqShift"));
  if (!Number.isFinite(base) || !Number.isFinite(shift)) return undefined;
  const index = (count - 1) % 2 ** shift;
  const at = base + index * 32;
  const bytes = backend.memory.read(BigInt(at), 32);
  const e = decodeSmmuEvent(bytes);
  return {
    iommu: backend.name,
    record: "SMMUv3 event record (event queue entry)",
    location: `EVTQ[${index}] at ${hex(at)}`,
    words: smmuEventDwords(bytes).map((w) => `0x${w.toString(16).padStart(16, "0")}`),
    wordBits: 64,
    event: e.name,
    meaning: SMMU_MEANINGS[e.name] ?? e.name,
    fields: { EventID: `${hex(e.code)} (${e.name})`, ...smmuV3Fields(plain(e.fields)) },
    log,
  };
}

// The specification's names of the SMMUv3 event fields (the codec's keys are camel-cased).
const SMMU_FIELD_NAMES: Readonly<Record<string, string>> = {
  sid: "StreamID",
  ssv: "SSV",
  ssid: "SubstreamID",
  stag: "STAG",
  stall: "Stall",
  pnu: "PnU",
  ind: "InD",
  rnw: "RnW",
  s2: "S2",
  class: "CLASS",
  ttRead: "TT_READ",
  inputAddr: "InputAddr",
  ipa: "IPA",
  fetchAddr: "FetchAddr",
};
const SMMU_CLASSES = ["CD", "TT", "IN", "reserved"];

function smmuV3Fields(
  fields: Record<string, string | number | boolean>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields)) {
    const name = SMMU_FIELD_NAMES[k] ?? k;
    if (k === "sid") out[name] = hex(Number(v));
    else if (k === "class") out[name] = `${v} (${SMMU_CLASSES[Number(v)] ?? "?"})`;
    else if (k === "rnw") out[name] = v ? "1 (read)" : "0 (write)";
    else out[name] = v;
  }
  return out;
}

function vtd(backend: IommuBackend, count: number, log: string[]): FaultRecordView | undefined {
  const hw = get(backend, "hardware");
  const offset = Number(get(hw, "capability", "faultRecordOffset"));
  const records = Number(get(hw, "capability", "faultRecords"));
  if (!Number.isFinite(offset) || !(records > 0)) return undefined;
  const index = (count - 1) % records;
  const reg = offset + index * 16;
  const words = [0, 4, 8, 12].map((o) => Number(call(hw, "read32", reg + o)) >>> 0);
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  for (const [i, w] of words.entries()) view.setUint32(i * 4, w, true);
  const r = decodeVtdFaultRecord(bytes);
  const reason = vtdFaultReason(r.fr);
  return {
    iommu: backend.name,
    record: "VT-d primary fault recording register (FRCD)",
    location: `FRCD[${index}] at register offset ${hex(reg)} (F already cleared by dmar_fault)`,
    words: [
      `0x${(BigInt(words[1]!) * 2n ** 32n + BigInt(words[0]!)).toString(16).padStart(16, "0")}`,
      `0x${(BigInt(words[3]!) * 2n ** 32n + BigInt(words[2]!)).toString(16).padStart(16, "0")}`,
    ],
    wordBits: 64,
    event: `fault reason 0x${r.fr.toString(16).padStart(2, "0")}`,
    meaning: `${reason.text} (${reason.type})`,
    fields: {
      FI: hex(r.fi),
      SID: `${hex(r.sid)} (${formatSourceId(r.sid)})`,
      PP: r.pp,
      FR: hex(r.fr),
      PV: hex(r.pv),
      T: r.t ? "1 (read)" : "0 (write)",
      F: r.f,
    },
    log,
  };
}

// Linux zeroes each event-log entry once it has printed it (AMD erratum 732), so the entry is
// rebuilt from the driver's report of it, field for field, with the architecture's encoder.
function amd(backend: IommuBackend, log: string[]): FaultRecordView | undefined {
  const line = log.find((l) => l.includes("Event logged [IO_PAGE_FAULT"));
  const m = line
    ? /([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])[: ].*domain=0x([0-9a-f]+) address=0x([0-9a-f]+) flags=0x([0-9a-f]+)/.exec(
        line,
      )
    : null;
  if (!m) return undefined;
  const deviceId =
    (Number.parseInt(m[2]!, 16) << 8) | (Number.parseInt(m[3]!, 16) << 3) | Number.parseInt(m[4]!, 16);
  const bytes = encodeAmdEvent("IO_PAGE_FAULT", {
    deviceId,
    domainId: Number.parseInt(m[5]!, 16),
    address: BigInt(`0x${m[6]}`),
    flags: Number.parseInt(m[7]!, 16),
  });
  const e = decodeAmdEvent(bytes);
  const flagNames = Object.entries(e.faultFlags)
    .filter(([, v]) => v)
    .map(([k]) => k.toUpperCase());
  return {
    iommu: backend.name,
    record: "AMD-Vi event log entry",
    location: "event log (zeroed by the driver after reading, erratum 732; rebuilt from its report)",
    words: amdEventWords(bytes).map((w) => `0x${(w >>> 0).toString(16).padStart(8, "0")}`),
    wordBits: 32,
    event: e.name,
    meaning: "IO page fault: the page table has no valid translation for this access",
    fields: {
      EventCode: "0x2 (IO_PAGE_FAULT)",
      DeviceID: `${hex(deviceId)} (${m[2]}:${m[3]}.${m[4]})`,
      DomainID: hex(e.domainId),
      Address: hex(e.fields.address as bigint),
      Flags: `${hex(e.fields.flags as number)}${flagNames.length ? ` [${flagNames.join(" ")}]` : ""}`,
      "Flags.RW": e.faultFlags.rw ? "1 (write)" : "0 (read)",
      "Flags.PR": e.faultFlags.pr,
      "Flags.PE": e.faultFlags.pe,
    },
    log,
  };
}

function smmuV2(backend: IommuBackend, log: string[]): FaultRecordView | undefined {
  const line = log.find((l) => l.includes("Unhandled context fault:"));
  const m = line
    ? /fsr=0x([0-9a-f]+), iova=0x([0-9a-f]+), fsynr=0x([0-9a-f]+), cbfrsynra=0x([0-9a-f]+), cb=(\d+)/.exec(
        line,
      )
    : null;
  if (!m) return undefined;
  const fsr = Number.parseInt(m[1]!, 16);
  const fsynr0 = Number.parseInt(m[3]!, 16);
  const names = fsrNames(fsr);
  const x32 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
  return {
    iommu: backend.name,
    record: "SMMU v2 context bank fault syndrome registers",
    location: `context bank ${m[5]} (FSR, FAR, FSYNR0) and CBFRSYNRA${m[5]}`,
    words: [x32(fsr), `0x${m[2]!.padStart(16, "0")}`, x32(fsynr0), x32(Number.parseInt(m[4]!, 16))],
    wordBits: 32,
    wordNames: ["FSR", "FAR", "FSYNR0", "CBFRSYNRA"],
    event: names.includes("TF") ? "TF" : (names[0] ?? "none"),
    meaning: names.includes("TF")
      ? "FSR.TF: translation fault, no valid descriptor maps the address"
      : `FSR ${names.join(" ")}`,
    fields: {
      FSR: `${x32(fsr)} [${names.join(" ")}]`,
      FAR: `0x${m[2]!.replace(/^0+(?=.)/, "")}`,
      "FSYNR0.WNR": (fsynr0 & 0x10) !== 0 ? "1 (write)" : "0 (read)",
      "FSYNR0.PLVL": fsynr0 & 3,
      "FSYNR0.PNU": (fsynr0 & 0x20) !== 0,
      "FSYNR0.IND": (fsynr0 & 0x40) !== 0,
      "CBFRSYNRA.SID": hex(Number.parseInt(m[4]!, 16) & 0xffff),
      CB: Number(m[5]),
    },
    log,
  };
}

/**
 * The fault record `backend` produced since `mark`, decoded; `undefined` when it produced none (an
 * aborted or bypassed transaction, a backend without records, a fault a handler took silently).
 */
export function faultRecordSince(
  ctx: RunContext,
  backend: IommuBackend,
  mark: FaultRecordMark,
): FaultRecordView | undefined {
  const log = ctx.core.log.slice(mark.log).map((r) => r.message);
  const count = recordsWritten(backend);
  switch (backend.driver.name) {
    case "arm-smmu-v3":
      return count > mark.records ? smmuV3(backend, count, log) : undefined;
    case "intel-iommu":
      return count > mark.records ? vtd(backend, count, log) : undefined;
    case "amd-vi":
      return count > mark.records ? amd(backend, log) : undefined;
    case "arm-smmu":
      return smmuV2(backend, log);
    default:
      return undefined;
  }
}
