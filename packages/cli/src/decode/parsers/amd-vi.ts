import { formatRequester, hex, parseHex, parseHexNumber, requesterOf } from "../hex.js";
import { amdEventCode, decodeAmdEvent, decodeAmdEventFlags } from "../hw-records.js";
import type { LogLine } from "../log-line.js";
import { type LogParser, type ParseContext, type ParseResult, scanAhead } from "../parser.js";
import type { DecodedRecord } from "../record.js";

/*
 * AMD-Vi event log reports, iommu_print_event() / amd_iommu_report_page_fault(). Every version
 * prints `Event logged [NAME key=value ...]`; what changed is where the pieces land:
 *
 *   AMD-Vi: Event logged [                                       (old: printk without KERN_CONT,
 *   IO_PAGE_FAULT device=03:00.0 domain=0x000b address=0x00000000fffff000 flags=0x0020]   two lines)
 *   AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x000b address=0x00000000fffff000 flags=0x0020]
 *   vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xfffff000 flags=0x0020]
 *   AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x000b address=0xfffff000 flags=0x0020]
 *   iommu ivhd0: AMD-Vi: Event logged [INVALID_DEVICE_REQUEST device=0000:03:00.0 pasid=0x00000 ...]
 *   iommu ivhd0: AMD-Vi: Event logged [UNKNOWN event[0]=0x... event[1]=0x... event[2]=0x... event[3]=0x...
 *
 * The flags are decoded with the hardware model; an UNKNOWN event's raw words go through its
 * event decoder. For IO_PAGE_FAULT the `domain=` value is a PASID when the GN flag is set.
 */

const EVENT = /^(?:AMD-Vi:\s?)?Event logged \[(.*)$/;
const BODY = /^([A-Z][A-Z0-9_]*)(?=[\s\],]|$)(.*)$/;
const KV = /([A-Za-z_]\w*(?:\[\d\])?)=([^\s,\]]+)/g;

/** Events whose flags carry a meaningful RW bit. */
const ACCESS_EVENTS = new Set([
  "IO_PAGE_FAULT",
  "ILLEGAL_DEV_TABLE_ENTRY",
  "DEV_TAB_HARDWARE_ERROR",
  "PAGE_TAB_HARDWARE_ERROR",
]);

function applyDevice(record: DecodedRecord, text: string, bad: string[]): void {
  const requester = requesterOf(text);
  if (requester === undefined) {
    bad.push(`device=${text}`);
    return;
  }
  record.requester = requester;
  if (/^[0-9a-f]{4}:/i.test(text)) record.device = text.toLowerCase();
}

function applyFlags(record: DecodedRecord, flags: number): void {
  const f = decodeAmdEventFlags(flags);
  record.flags = hex(flags);
  record.flagNames = f.names;
  if (record.event !== undefined && ACCESS_EVENTS.has(record.event)) {
    record.read = !f.write;
    record.write = f.write;
  }
}

/** Fills an UNKNOWN event's fields from its four raw words through the event decoder. */
function applyRawWords(record: DecodedRecord, kv: Map<string, string>, bad: string[]): void {
  const words = [0, 1, 2, 3].map((i) => parseHexNumber(kv.get(`event[${i}]`) ?? ""));
  if (words.some((w) => w === undefined || w > 0xffffffff)) {
    bad.push("UNKNOWN event without four 32-bit event[N] words");
    return;
  }
  const e = decodeAmdEvent(words as [number, number, number, number]);
  record.id = e.code;
  record.requester = formatRequester(e.deviceId);
  record.address = hex(e.address);
  applyFlags(record, e.flags);
  // As for the printed fields: a PASID (all 20 bits) when GN is set, else the 16-bit domain ID.
  if (decodeAmdEventFlags(e.flags).guest) record.pasid = hex(e.domainOrPasid);
  else record.domain = hex(e.domainOrPasid & 0xffff);
}

function decodeBody(record: DecodedRecord, body: string, first: LogLine): void {
  const m = BODY.exec(body)!;
  const name = m[1]!;
  const rest = m[2]!;
  record.event = name;
  const code = amdEventCode(name);
  if (code !== undefined) record.id = code;
  const kv = new Map<string, string>();
  for (const pair of rest.matchAll(KV)) kv.set(pair[1]!.toLowerCase(), pair[2]!);
  const bad: string[] = [];
  const num = (key: string): bigint | undefined => {
    const text = kv.get(key);
    if (text === undefined) return undefined;
    const v = parseHex(text);
    if (v === undefined) bad.push(`${key}=${text}`);
    return v;
  };

  const device = kv.get("device");
  if (device !== undefined) applyDevice(record, device, bad);
  else if (
    first.device !== undefined &&
    first.driver !== "iommu" &&
    requesterOf(first.device) !== undefined
  ) {
    applyDevice(record, first.device, bad);
  }
  const flags = num("flags");
  if (flags !== undefined) applyFlags(record, Number(flags & 0xffffn));
  const domain = num("domain");
  if (domain !== undefined) {
    if (flags !== undefined && decodeAmdEventFlags(Number(flags)).guest) record.pasid = hex(domain);
    else record.domain = hex(domain);
  }
  const pasid = num("pasid");
  if (pasid !== undefined) record.pasid = hex(pasid);
  const address = num("address") ?? num("gpa");
  if (address !== undefined) record.address = hex(address);
  if (name === "UNKNOWN") applyRawWords(record, kv, bad);

  const problems: string[] = [];
  if (bad.length > 0) problems.push(`malformed values: ${bad.join(", ")}`);
  if (name !== "UNKNOWN" && !/\]\s*$/.test(rest)) problems.push("truncated: no closing ']'");
  if (problems.length > 0) record.error = problems.join("; ");
}

/** Parses AMD-Vi `Event logged [...]` reports, one-line and split-line forms. */
export const amdViParser: LogParser = {
  parse(ctx: ParseContext, index: number): ParseResult | null {
    const first = ctx.lines[index]!;
    if (first.ftrace) return null;
    const event = EVENT.exec(first.message);
    if (!event) return null;
    const record: DecodedRecord = { kind: "amd-vi-event", line: first.line };
    if (first.driver === "iommu" && first.device !== undefined) record.iommu = first.device;
    let body = event[1]!.trim();
    let consumed = [index];
    if (body === "") {
      // Old kernels: the rest came from a second printk() without KERN_CONT, on its own line.
      let rest: string | undefined;
      const taken = scanAhead(ctx, index, 1, (line) => {
        if (line.ftrace || EVENT.test(line.message)) return "stop";
        if (line.device === undefined && BODY.test(line.message) && line.message.includes("=")) {
          rest = line.message.trim();
          return "take";
        }
        return "skip";
      });
      if (rest === undefined) {
        record.error = "split event line: the line with the event name and fields is missing";
        return { record, consumed };
      }
      body = rest;
      consumed = [index, ...taken];
    }
    if (!BODY.test(body)) return null; // "Event logged [Device not attached ...]" and the like
    decodeBody(record, body, first);
    return { record, consumed };
  },
};
