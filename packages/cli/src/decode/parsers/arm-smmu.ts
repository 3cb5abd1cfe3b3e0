import { hex, parseHex, parseHexNumber } from "../hex.js";
import { decodeSmmuFsr, decodeSmmuFsynr0 } from "../hw-records.js";
import type { LogLine } from "../log-line.js";
import { type LogParser, type ParseContext, type ParseResult, sameSource, scanAhead } from "../parser.js";
import type { DecodedRecord } from "../record.js";

/*
 * arm-smmu (SMMUv1/v2) context faults. The one-line report has grown over the years; every
 * version is `Unhandled context fault: ` then comma-separated `key=value` pairs:
 *
 *   iova=0x%08lx, fsynr=0x%x, cb=%d                                  (oldest)
 *   fsr=0x%x, iova=0x%08lx, fsynr=0x%x, cb=%d
 *   fsr=0x%x, iova=0x%08lx, fsynr=0x%x, cbfrsynra=0x%x, cb=%d         (5.1 onwards)
 *
 * Kernels with arm_smmu_print_context_fault_info() (6.11+) follow it with two decode lines:
 *
 *   FSR    = %08x [%s%sFormat=%u%s%s%s%s%s%s%s%s], SID=0x%x
 *   FSYNR0 = %08x [S1CBNDX=%u%s%s%s%s%s%s PLVL=%u]
 *
 * and for a while (6.11-rc) the first line was dev_dbg(), so a paste may hold only the two
 * decode lines; those still make a record (without IOVA and context bank).
 */

const HEADER = /^Unhandled context fault: (.*)$/;
const FSR_LINE = /^FSR\s+= ([0-9a-f]{1,8}) \[[^\]]*\](?:, SID=(0x[0-9a-f]+))?$/i;
const FSYNR0_LINE = /^FSYNR0\s+= ([0-9a-f]{1,8}) \[[^\]]*\]$/i;

function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(",")) {
    const m = /^\s*(\w+)=(\S+)\s*$/.exec(part);
    if (m) out.set(m[1]!.toLowerCase(), m[2]!);
  }
  return out;
}

function applyRegisters(record: DecodedRecord, fsr: number | undefined, fsynr0: number | undefined): void {
  if (fsr !== undefined) {
    const f = decodeSmmuFsr(fsr);
    const event = f.names.filter((n) => n !== "SS" && n !== "MULTI").join("|") || f.names.join("|");
    if (event !== "") record.event = event;
    record.stall = f.stalled;
    record.fsr = hex(fsr);
  }
  if (fsynr0 !== undefined) {
    const s = decodeSmmuFsynr0(fsynr0);
    record.read = !s.write;
    record.write = s.write;
    record.privileged = s.privileged;
    record.instruction = s.instruction;
    record.fsynr0 = hex(fsynr0);
  }
}

function applyCbfrsynra(record: DecodedRecord, cbfrsynra: number): void {
  record.cbfrsynra = hex(cbfrsynra);
  record.sid = hex(cbfrsynra & 0xffff);
}

/** Takes the FSR / FSYNR0 decode lines that follow a context fault line from the same SMMU. */
function takeDecodeLines(ctx: ParseContext, after: number, first: LogLine, wantFsr: boolean) {
  let fsrLine: RegExpExecArray | null = null;
  let fsynrLine: RegExpExecArray | null = null;
  const taken = scanAhead(ctx, after, wantFsr ? 2 : 1, (line) => {
    if (!sameSource(first, line) || line.ftrace) return "skip";
    if (HEADER.test(line.message)) return "stop";
    if (wantFsr && !fsrLine) {
      fsrLine = FSR_LINE.exec(line.message);
      return fsrLine ? "take" : "stop";
    }
    fsynrLine = FSYNR0_LINE.exec(line.message);
    return fsynrLine ? "take" : "stop";
  });
  return {
    taken,
    fsrLine: fsrLine as RegExpExecArray | null,
    fsynrLine: fsynrLine as RegExpExecArray | null,
  };
}

/** Parses arm-smmu context fault reports (every version of the line, and the decode lines). */
export const armSmmuParser: LogParser = {
  parse(ctx: ParseContext, index: number): ParseResult | null {
    const first = ctx.lines[index]!;
    if (first.ftrace) return null;
    const record: DecodedRecord = { kind: "arm-smmu-context-fault", line: first.line };
    if (first.device !== undefined) record.iommu = first.device;
    const header = HEADER.exec(first.message);
    if (!header) {
      const fsrLine = FSR_LINE.exec(first.message);
      if (!fsrLine) return null;
      const { taken, fsynrLine } = takeDecodeLines(ctx, index, first, false);
      const fsynr0 = fsynrLine ? parseHexNumber(fsynrLine[1]!) : undefined;
      applyRegisters(record, parseHexNumber(fsrLine[1]!), fsynr0);
      if (fsrLine[2] !== undefined) applyCbfrsynra(record, parseHexNumber(fsrLine[2]) ?? 0);
      return {
        record,
        consumed: [index, ...taken],
        warnings: ["no 'Unhandled context fault' line: IOVA and context bank unknown"],
      };
    }
    const kv = keyValues(header[1]!);
    const bad: string[] = [];
    const num = (key: string): number | undefined => {
      const text = kv.get(key);
      if (text === undefined) return undefined;
      const v = parseHexNumber(text);
      if (v === undefined) bad.push(`${key}=${text}`);
      return v;
    };
    const fsr = num("fsr");
    const fsynr0 = num("fsynr");
    const cbfrsynra = num("cbfrsynra");
    applyRegisters(record, fsr, fsynr0);
    const iovaText = kv.get("iova");
    if (iovaText !== undefined) {
      const iova = parseHex(iovaText);
      if (iova === undefined) bad.push(`iova=${iovaText}`);
      else record.iova = hex(iova);
    }
    if (cbfrsynra !== undefined) applyCbfrsynra(record, cbfrsynra);
    const cbText = kv.get("cb");
    if (cbText !== undefined) {
      if (/^\d+$/.test(cbText)) record.cb = Number(cbText);
      else bad.push(`cb=${cbText}`);
    }
    if (iovaText === undefined && fsr === undefined) bad.push("no fsr or iova");
    if (bad.length > 0) record.error = `malformed context fault line: ${bad.join(", ")}`;
    const { taken } = takeDecodeLines(ctx, index, first, true);
    return { record, consumed: [index, ...taken] };
  },
};
