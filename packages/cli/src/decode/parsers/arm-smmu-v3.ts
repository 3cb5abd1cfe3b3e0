import { hex, parseHex, parseHexNumber } from "../hex.js";
import { decodeSmmuV3Event, smmuV3EventName } from "../hw-records.js";
import type { LogLine } from "../log-line.js";
import { type LogParser, type ParseContext, type ParseResult, sameSource, scanAhead } from "../parser.js";
import type { DecodedRecord } from "../record.js";

/*
 * arm-smmu-v3 event queue dumps. Every kernel since the driver landed prints, through dev_info()
 * (dev_err() in newer kernels), a header and then the four raw record words one per line:
 *
 *   arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:
 *   arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000001000000010        (x4)
 *
 * Kernels with arm_smmu_dump_event() follow that with a decode (whose values are `%#x`, so a
 * zero prints as `0`):
 *
 *   ... event: F_TRANSLATION client: 0000:03:00.0 sid: 0x10 ssid: 0 iova: 0xdead000 ipa: 0
 *   ... unpriv data write s1 "Input address caused fault" stag: 0
 *
 * or `... fetch_addr: %#llx` for fetch faults, or only the first three fields for the rest.
 * The words are decoded with the hardware model's record decoder; the decode lines only
 * contribute the client device name, which the record itself does not carry.
 */

const HEADER = /^event (?:0x)?([0-9a-f]{1,2}) received:?$/i;
const WORD = /^0x([0-9a-f]{16})$/i;
const NUM = "(0x[0-9a-f]+|0)";
const DECODE = new RegExp(
  `^event: (\\S+) client: (.+?) sid: ${NUM} ssid: ${NUM}(?: iova: ${NUM} ipa: ${NUM}| fetch_addr: ${NUM})?$`,
  "i",
);
const PERMS =
  /^(priv|unpriv) (inst|data) (read|write) (s1|s2) "([^"]*)"(?: ttd_(?:read|write))?( stall)? stag: (0x[0-9a-f]+|0)$/i;

/** The driver's class strings (event_class_str) to the architecture's CLASS names. */
const CLASS_TEXT: Readonly<Record<string, string>> = {
  "CD fetch": "CD",
  "Stage 1 translation table fetch": "TT",
  "Input address caused fault": "IN",
  Reserved: "RESERVED",
};

// Which decoded fields are shown follows what the record means for the event (Linux prints the
// access line only for the translation faults): the decoder yields them for every event.
/** Event IDs whose dw1 describes the faulting access (RnW, InD, PnU, S2, CLASS, stall). */
const ACCESS_EVENTS = new Set([0x01, 0x0b, 0x10, 0x11, 0x12, 0x13]);
/** Event IDs whose dw2 is the input address. */
const INPUT_ADDR_EVENTS = new Set([0x01, 0x05, 0x07, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x20, 0x24]);

const headerOf = (line: LogLine) => (line.ftrace ? null : HEADER.exec(line.message));
const wordOf = (line: LogLine) => (line.ftrace ? null : WORD.exec(line.message.trim()));

function fromWords(record: DecodedRecord, words: readonly [bigint, bigint, bigint, bigint]): void {
  const e = decodeSmmuV3Event(words);
  record.event = e.name;
  record.id = e.id;
  record.sid = hex(e.sid);
  record.ssid = e.ssv ? hex(e.ssid) : null;
  if (ACCESS_EVENTS.has(e.id)) {
    record.read = e.read;
    record.write = !e.read;
    record.privileged = e.privileged;
    record.instruction = e.instruction;
    record.stage = e.s2 ? 2 : 1;
    record.class = e.class;
    record.stall = e.stall;
    record.stag = hex(e.stag);
  }
  if (INPUT_ADDR_EVENTS.has(e.id)) record.iova = hex(e.inputAddr);
  if (e.ipa !== undefined) record.ipa = hex(e.ipa);
  if (e.fetchAddr !== undefined) record.address = hex(e.fetchAddr);
}

/** Fills a record from the decode lines alone, for pastes that lost the raw words. */
function fromDecodeLines(
  record: DecodedRecord,
  decode: RegExpExecArray,
  perms: RegExpExecArray | null,
): void {
  record.event = decode[1]!;
  const sid = parseHexNumber(decode[3]!) ?? 0;
  const ssid = parseHexNumber(decode[4]!) ?? 0;
  record.sid = hex(sid);
  // Linux prints IOMMU_NO_PASID (0) when SSV is clear, so 0 reads as "no SSID".
  record.ssid = ssid === 0 ? null : hex(ssid);
  if (perms) {
    record.read = perms[3]!.toLowerCase() === "read";
    record.write = !record.read;
    record.privileged = perms[1]!.toLowerCase() === "priv";
    record.instruction = perms[2]!.toLowerCase() === "inst";
    record.stage = perms[4]!.toLowerCase() === "s2" ? 2 : 1;
    const cls = CLASS_TEXT[perms[5]!];
    if (cls !== undefined) record.class = cls;
    record.stall = perms[6] !== undefined;
    record.stag = hex(parseHex(perms[7]!) ?? 0n);
  }
  if (decode[5] !== undefined) record.iova = hex(parseHex(decode[5]) ?? 0n);
  if (decode[6] !== undefined) record.ipa = hex(parseHex(decode[6]) ?? 0n);
  if (decode[7] !== undefined) record.address = hex(parseHex(decode[7]) ?? 0n);
}

function clientOf(decode: RegExpExecArray): string | undefined {
  const client = decode[2]!;
  return client.startsWith("(") ? undefined : client;
}

/** Takes the decode lines (`event: ...` and the permissions line) that follow a dump. */
function takeDecodeLines(ctx: ParseContext, after: number, first: LogLine) {
  let decode: RegExpExecArray | null = null;
  let perms: RegExpExecArray | null = null;
  const taken = scanAhead(ctx, after, 2, (line) => {
    if (!sameSource(first, line) || line.ftrace) return "skip";
    if (headerOf(line) || wordOf(line)) return "stop";
    if (!decode) {
      const d = DECODE.exec(line.message);
      if (d) {
        decode = d;
        return "take";
      }
      return "skip";
    }
    const p = PERMS.exec(line.message);
    if (p) {
      perms = p;
      return "take";
    }
    return "stop";
  });
  return { taken, decode: decode as RegExpExecArray | null, perms: perms as RegExpExecArray | null };
}

/** Parses arm-smmu-v3 event dumps (header plus four words, with or without the decode lines). */
export const armSmmuV3Parser: LogParser = {
  parse(ctx: ParseContext, index: number): ParseResult | null {
    const first = ctx.lines[index]!;
    const header = headerOf(first);
    if (!header) return standaloneDecode(ctx, index);
    const record: DecodedRecord = { kind: "arm-smmu-v3-event", line: first.line };
    if (first.device !== undefined) record.iommu = first.device;
    const headerId = Number.parseInt(header[1]!, 16);
    const wordLines = scanAhead(ctx, index, 4, (line) => {
      if (!sameSource(first, line)) return "skip";
      if (headerOf(line)) return "stop";
      return wordOf(line) ? "take" : "skip";
    });
    if (wordLines.length < 4) {
      record.event = smmuV3EventName(headerId);
      record.id = headerId;
      record.error = `expected 4 event record words after the header, found ${wordLines.length}`;
      return { record, consumed: [index, ...wordLines] };
    }
    const words = wordLines.map((i) => BigInt(`0x${wordOf(ctx.lines[i]!)![1]}`)) as [
      bigint,
      bigint,
      bigint,
      bigint,
    ];
    fromWords(record, words);
    const warnings: string[] = [];
    if (record.id !== headerId) {
      warnings.push(
        `header says event 0x${headerId.toString(16)} but the record's EventID is ${hex(record.id!)}`,
      );
    }
    const { taken, decode } = takeDecodeLines(ctx, wordLines[3]!, first);
    if (decode) {
      const client = clientOf(decode);
      if (client !== undefined) record.device = client;
    }
    return { record, consumed: [index, ...wordLines, ...taken], warnings };
  },
};

function standaloneDecode(ctx: ParseContext, index: number): ParseResult | null {
  const first = ctx.lines[index]!;
  if (first.ftrace) return null;
  const decode = DECODE.exec(first.message);
  if (!decode) return null;
  const record: DecodedRecord = { kind: "arm-smmu-v3-event", line: first.line };
  if (first.device !== undefined) record.iommu = first.device;
  const client = clientOf(decode);
  if (client !== undefined) record.device = client;
  let perms: RegExpExecArray | null = null;
  const taken = scanAhead(ctx, index, 1, (line) => {
    if (!sameSource(first, line) || line.ftrace) return "skip";
    perms = PERMS.exec(line.message);
    return perms ? "take" : "stop";
  });
  fromDecodeLines(record, decode, perms);
  return {
    record,
    consumed: [index, ...taken],
    warnings: ["decoded from the driver's text only: the raw event record words are missing"],
  };
}
