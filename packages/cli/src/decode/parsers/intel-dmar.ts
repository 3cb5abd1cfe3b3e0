import { hex, parseHex, requesterOf } from "../hex.js";
import { vtdFaultReason } from "../hw-records.js";
import { type LogParser, type ParseContext, type ParseResult, scanAhead } from "../parser.js";
import type { DecodedRecord } from "../record.js";

/*
 * Intel VT-d primary fault reports, dmar_fault_do_one(). The formats, oldest first:
 *
 *   DMAR:[DMA Read] Request device [03:00.0] fault addr fffff000 \n
 *   DMAR:[fault reason 06] PTE Read access is not set                   (two lines, reason %02d)
 *   DMAR: [DMA Read] Request device [03:00.0] fault addr fffff000 [fault reason 06] PTE Read ...
 *   DMAR: [DMA Read] Request device [03:00.0] PASID ffffffff fault addr fffff000 [fault reason 06] ...
 *   DMAR: [DMA Read NO_PASID] Request device [0x03:0x00.0] fault addr 0xfffff000 [fault reason 0x06] ...
 *   DMAR: [DMA Write PASID 0x5] Request device [03:00.0] fault addr 0xfffff000 [fault reason 0x05] ...
 *
 * and for interrupt remapping `[INTR-REMAP] Request device [f0:1f.0] fault index 0x21 [fault
 * reason 0x25] ...` (older: `INTR-REMAP: Request device [[f0:1f.0] fault index 21` and a second
 * `INTR-REMAP:[fault reason 37] ...` line). The reason is decimal where the kernel printed `%02d`
 * (no `0x`) and hex where it printed `0x%02x`. The reason text comes from the hardware model's
 * table, not from the log, so old kernels' wording does not leak into the output.
 */

const DEV = String.raw`\[\[?((?:0x)?[0-9a-f]{1,2}:(?:0x)?[0-9a-f]{1,2}\.[0-7])\]`;
const REASON = String.raw`\[fault reason (0x[0-9a-f]+|[0-9a-f]+h|\d+)\]\s*(.*)`;
const DMA = new RegExp(
  String.raw`^(?:DMAR:\s?)?\[(DMA Read|DMA Write)(?: (NO_PASID)| PASID (?:0x)?([0-9a-f]+))?\] Request device ${DEV}(?: PASID (?:0x)?([0-9a-f]+))? fault addr (?:0x)?([0-9a-f]+)\s*(?:${REASON})?$`,
  "i",
);
const IR = new RegExp(
  String.raw`^(?:DMAR:\s?)?(?:\[INTR-REMAP\]|INTR-REMAP:) Request device ${DEV} fault index (?:0x)?([0-9a-f]+)\s*(?:${REASON})?$`,
  "i",
);
const REASON_LINE = new RegExp(String.raw`^(?:DMAR:|INTR-REMAP:)\s?${REASON}$`, "i");

function reasonCode(text: string): number {
  if (/^0x/i.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/h$/i.test(text)) return Number.parseInt(text.slice(0, -1), 16);
  return Number.parseInt(text, 10);
}

/** Takes the `[fault reason NN] text` line that old kernels printed on its own. */
function takeReasonLine(ctx: ParseContext, index: number) {
  let reason: RegExpExecArray | null = null;
  const taken = scanAhead(ctx, index, 1, (line) => {
    if (line.ftrace) return "skip";
    if (DMA.test(line.message) || IR.test(line.message)) return "stop";
    reason = REASON_LINE.exec(line.message);
    return reason ? "take" : "skip";
  });
  return { taken, reason: reason as RegExpExecArray | null };
}

/** Parses Intel DMAR fault lines, every format from the split-line one to NO_PASID / PASID. */
export const intelDmarParser: LogParser = {
  parse(ctx: ParseContext, index: number): ParseResult | null {
    const first = ctx.lines[index]!;
    if (first.ftrace) return null;
    const dma = DMA.exec(first.message);
    const ir = dma ? null : IR.exec(first.message);
    if (!dma && !ir) return null;
    const record: DecodedRecord = { kind: "vtd-fault", line: first.line };
    if (first.device !== undefined) record.iommu = first.device;
    let reasonCodeText: string | undefined;
    let consumed = [index];
    if (dma) {
      const read = dma[1]!.toLowerCase() === "dma read";
      record.event = read ? "DMA Read" : "DMA Write";
      record.read = read;
      record.write = !read;
      record.requester = requesterOf(dma[4]!)!;
      // PASID ffffffff in 5.x kernels is "-1": no PASID.
      const pasid = dma[3] ?? dma[5];
      record.pasid = pasid === undefined || /^f{8}$/i.test(pasid) ? null : hex(parseHex(pasid)!);
      record.address = hex(parseHex(dma[6]!)!);
      reasonCodeText = dma[7];
    } else if (ir) {
      record.event = "INTR-REMAP";
      record.requester = requesterOf(ir[1]!)!;
      record.index = hex(parseHex(ir[2]!)!);
      reasonCodeText = ir[3];
    }
    if (reasonCodeText === undefined) {
      const { taken, reason } = takeReasonLine(ctx, index);
      consumed = [index, ...taken];
      reasonCodeText = reason?.[1];
    }
    if (reasonCodeText === undefined) {
      record.error = "fault reason missing: no '[fault reason NN]' after the fault line";
      return { record, consumed };
    }
    const code = reasonCode(reasonCodeText);
    const reason = vtdFaultReason(code);
    record.reason = code;
    record.reasonText = reason.text;
    return { record, consumed };
  },
};
