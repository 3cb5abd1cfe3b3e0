/**
 * Splitting pasted kernel log text into lines and peeling off what surrounds a printk message:
 * syslog and journal headers, `kernel:`, dmesg timestamps (`[  123.456789]`, `dmesg -T`), printk
 * caller IDs, `<N>` levels, and the `driver device: ` prefix that `dev_err()` and friends add.
 * ftrace lines (`task-pid [cpu] flags timestamp: event: text`) are recognised separately.
 */

/** One ftrace event line (`trace` / `trace_pipe` / `trace-cmd report` output). */
export interface FtraceInfo {
  /** Task name (`<idle>`, `qemu-system-x86`). */
  task: string;
  /** Task PID. */
  pid: number;
  /** CPU number. */
  cpu: number;
  /** Trace timestamp as printed. */
  timestamp: string;
  /** Trace event name (`map`, `io_page_fault`). */
  event: string;
}

/** One input line with its printk message separated from the prefixes around it. */
export interface LogLine {
  /** 1-based line number in the input. */
  line: number;
  /** The line as given, without its line terminator. */
  raw: string;
  /** The message text after every recognised prefix, trailing white space removed. */
  message: string;
  /** Driver name from a `driver device: ` prefix (`arm-smmu-v3`, `pci`, `iommu`). */
  driver?: string;
  /** Device name from a `driver device: ` prefix (`arm-smmu-v3.0.auto`, `0000:03:00.0`). */
  device?: string;
  /** Present when the line is an ftrace event line; `message` is then the event's text. */
  ftrace?: FtraceInfo;
}

const FTRACE =
  /^\s*(.+?)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+(?:\S{4,5}\s+)?(\d+\.\d+):\s+(\w+):\s?(.*)$/;

// Each pattern removes one layer; they are applied repeatedly because pastes stack them
// (`Jan  2 03:04:05 host kernel: [  12.345678] ...`).
const LAYERS: readonly RegExp[] = [
  /^<\d{1,3}>/, // console log level
  /^[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+\S+\s+kernel(?:\[\d+\])?:\s?/, // syslog
  /^\d{4}-\d{2}-\d{2}T\S+\s+\S+\s+kernel(?:\[\d+\])?:\s?/, // ISO syslog / journalctl -o short-iso
  /^kernel:\s?/,
  /^\[\s*\d+\.\d+\]\s?/, // dmesg timestamp
  /^\[[A-Z][a-z]{2} [A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4}\]\s?/, // dmesg -T
  /^\[\s*[TC]\d+\]\s?/, // CONFIG_PRINTK_CALLER
];

// `dev_printk()` prefix: driver name, a space, the device name, a colon and a space. The
// device name may contain colons (`0000:03:00.0`) but neither token contains white space.
const DEV_PREFIX = /^([A-Za-z0-9_][\w.-]*) ([\w.:-]+?): (.*)$/;

/** Splits `text` into lines (LF, CRLF or CR) and parses each one; see {@link parseLogLine}. */
export function splitLogLines(text: string): LogLine[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((raw, i) => parseLogLine(raw, i + 1));
}

/** Parses one line: recognises an ftrace line, else strips log prefixes and the dev prefix. */
export function parseLogLine(raw: string, line: number): LogLine {
  const ft = FTRACE.exec(raw);
  if (ft) {
    return {
      line,
      raw,
      message: ft[6]!.trimEnd(),
      ftrace: {
        task: ft[1]!,
        pid: Number(ft[2]),
        cpu: Number(ft[3]),
        timestamp: ft[4]!,
        event: ft[5]!,
      },
    };
  }
  let message = raw;
  for (let changed = true; changed; ) {
    changed = false;
    for (const layer of LAYERS) {
      const next = message.replace(layer, "");
      if (next !== message) {
        message = next;
        changed = true;
      }
    }
  }
  const dev = DEV_PREFIX.exec(message);
  if (dev) {
    return { line, raw, message: dev[3]!.trimEnd(), driver: dev[1]!, device: dev[2]! };
  }
  return { line, raw, message: message.trimEnd() };
}
