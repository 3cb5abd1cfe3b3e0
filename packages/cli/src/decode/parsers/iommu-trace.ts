import { hex, parseHex, requesterOf } from "../hex.js";
import type { LogParser, ParseContext, ParseResult } from "../parser.js";
import type { DecodedRecord } from "../record.js";

/*
 * The iommu tracepoints (include/trace/events/iommu.h) as ftrace prints them, e.g.
 *
 *   qemu-kvm-4242  [003] ....  1234.567890: map: IOMMU: iova=0x0000000000100000 - 0x0000000000101000 paddr=0x0000000123456000 size=4096
 *   qemu-kvm-4242  [003] ....  1234.567891: unmap: IOMMU: iova=0x0000000000100000 - 0x0000000000101000 size=4096 unmapped_size=4096
 *   <idle>-0       [001] d.h1.  1234.600000: io_page_fault: IOMMU:vfio-pci 0000:03:00.0 iova=0x00000000fffff000 flags=0x0001
 *   vfio-4242      [000] .....  1234.500000: attach_device_to_domain: IOMMU: device=0000:03:00.0
 *
 * Older map/unmap formats lack the ` - end` part; some kernels print a `dev=` before the IOVA, and
 * patched kernels may append ` prot=0x..` (IOMMU_* flags) to map lines.
 * The io_page_fault flags are IOMMU_FAULT_READ (0) / IOMMU_FAULT_WRITE (1). A line is accepted
 * with or without the ftrace header, as long as it reads `<event>: IOMMU:...`.
 */

const TRACE_EVENTS = new Set([
  "map",
  "unmap",
  "attach_device_to_domain",
  "detach_device_from_domain",
  "add_device_to_group",
  "remove_device_from_group",
  "io_page_fault",
]);

const BARE = /^(\w+): (IOMMU:.*)$/;
const MAP =
  /^IOMMU: (?:dev=(\S+) )?iova=(0x[0-9a-f]+)(?: - (0x[0-9a-f]+))? paddr=(0x[0-9a-f]+) size=(\d+)(?: prot=(0x[0-9a-f]+))?$/i;
const UNMAP =
  /^IOMMU: (?:dev=(\S+) )?iova=(0x[0-9a-f]+)(?: - (0x[0-9a-f]+))? size=(\d+) unmapped_size=(\d+)$/i;
const DEVICE_EVENT = /^IOMMU: device=(\S+)$/;
const GROUP_EVENT = /^IOMMU: groupID=(-?\d+) device=(\S+)$/;
const FAULT = /^IOMMU:(?:(\S*) )?(\S+) iova=(0x[0-9a-f]+) flags=(0x[0-9a-f]+)$/i;

function setDevice(record: DecodedRecord, name: string): void {
  record.device = name;
  const requester = requesterOf(name);
  if (requester !== undefined) record.requester = requester;
}

/** Parses iommu tracepoint lines (map, unmap, attach/detach, group add/remove, io_page_fault). */
export const iommuTraceParser: LogParser = {
  parse(ctx: ParseContext, index: number): ParseResult | null {
    const first = ctx.lines[index]!;
    let event: string;
    let text: string;
    if (first.ftrace) {
      event = first.ftrace.event;
      text = first.message;
    } else {
      const bare = BARE.exec(first.message.trim());
      if (!bare) return null;
      event = bare[1]!;
      text = bare[2]!;
    }
    if (!TRACE_EVENTS.has(event)) return null;
    const record: DecodedRecord = { kind: "iommu-trace", line: first.line, event };
    if (decodeTrace(record, event, text)) return { record, consumed: [index] };
    record.error = `unrecognised ${event} trace format: ${text}`;
    return { record, consumed: [index] };
  },
};

/** Fills `record` from the TP_printk text of `event`; false when the text does not fit. */
function decodeTrace(record: DecodedRecord, event: string, text: string): boolean {
  if (event === "map") {
    const m = MAP.exec(text);
    if (!m) return false;
    if (m[1] !== undefined) setDevice(record, m[1]);
    record.iova = hex(parseHex(m[2]!)!);
    record.paddr = hex(parseHex(m[4]!)!);
    record.size = Number(m[5]);
    if (m[6] !== undefined) record.prot = hex(parseHex(m[6])!);
    return true;
  }
  if (event === "unmap") {
    const m = UNMAP.exec(text);
    if (!m) return false;
    if (m[1] !== undefined) setDevice(record, m[1]);
    record.iova = hex(parseHex(m[2]!)!);
    record.size = Number(m[4]);
    record.unmappedSize = Number(m[5]);
    return true;
  }
  if (event === "io_page_fault") {
    const m = FAULT.exec(text);
    if (!m) return false;
    setDevice(record, m[2]!);
    record.iova = hex(parseHex(m[3]!)!);
    const flags = parseHex(m[4]!)!;
    record.flags = hex(flags);
    record.write = (flags & 1n) === 1n;
    record.read = !record.write;
    return true;
  }
  if (event === "add_device_to_group" || event === "remove_device_from_group") {
    const m = GROUP_EVENT.exec(text);
    if (!m) return false;
    record.group = Number(m[1]);
    setDevice(record, m[2]!);
    return true;
  }
  const m = DEVICE_EVENT.exec(text);
  if (!m) return false;
  setDevice(record, m[1]!);
  return true;
}
