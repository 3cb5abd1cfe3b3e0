/**
 * Replaying iommu tracepoint output (ftrace `map`, `unmap`, `io_page_fault` lines) through the
 * IOMMU API on a model machine, and explaining each recorded fault from the history: never
 * mapped, unmapped earlier (use after unmap), or mapped without the access's permission.
 * Browser-safe: text in, report out.
 */

import { protToString } from "@iommu-sim/hw";
import {
  createIommuCore,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
} from "@iommu-sim/iommu";
import { decodeLog } from "../decode/decode-log.js";
import { splitLogLines } from "../decode/log-line.js";
import { iommuTraceParser } from "../decode/parsers/iommu-trace.js";
import { BACKEND_KINDS, backendKind } from "../scenario/backends.js";
import { hex, sizeText } from "../scenario/format.js";

/** Options of {@link replayTrace}. */
export interface ReplayOptions {
  /** Backend kind of the model machine. @default "reference" */
  backend?: string;
  /** Called every so often with events done and total (progress bars). */
  onProgress?: (done: number, total: number) => void;
  /** Points kept in the live-mappings series (evenly sampled). @default 200 */
  seriesPoints?: number;
}

/** One point of the live-mappings series. */
export interface LivePoint {
  /** 1-based event number. */
  readonly event: number;
  readonly time: string | undefined;
  readonly liveBytes: number;
  readonly liveMappings: number;
}

/** Why a recorded fault happened, as far as the trace tells. */
export type FaultCause = "never-mapped" | "use-after-unmap" | "permission" | "mapped";

/** A recorded fault and its explanation. */
export interface FaultExplanation {
  readonly event: number;
  readonly line: number;
  readonly time: string | undefined;
  readonly device: string | undefined;
  readonly iova: string;
  readonly write: boolean;
  readonly cause: FaultCause;
  /** The map or unmap event the explanation points at. */
  readonly byEvent?: number;
  readonly byLine?: number;
  readonly byTime?: string;
  readonly explanation: string;
}

/** What a replay found. */
export interface ReplayReport {
  readonly backend: string;
  /** Trace events replayed (map, unmap, io_page_fault). */
  readonly events: number;
  readonly maps: number;
  readonly unmaps: number;
  /** Largest live bytes and when. */
  readonly peak: { readonly liveBytes: number; readonly event: number };
  /** Live mappings after the last event. */
  readonly final: { readonly liveBytes: number; readonly liveMappings: number };
  /** Sampled series of live mappings over time. */
  readonly series: readonly LivePoint[];
  /** Map sizes: how many maps of each size. */
  readonly sizeHistogram: readonly {
    readonly size: string;
    readonly bytes: number;
    readonly count: number;
  }[];
  /** Lowest mapped IOVA, end of the highest mapping, and the span. */
  readonly iovaSpan: { readonly low: string; readonly high: string; readonly bytes: string } | undefined;
  readonly faults: readonly FaultExplanation[];
  /** Events the model refused (`event N (line L): map failed: EEXIST ...`). */
  readonly warnings: readonly string[];
}

interface Interval {
  start: bigint;
  end: bigint;
  paddr: bigint;
  prot: number | undefined;
  event: number;
  line: number;
  time: string | undefined;
}

interface UnmapRecord {
  start: bigint;
  end: bigint;
  event: number;
  line: number;
  time: string | undefined;
}

const REPLAY_DEVICE = "replay-device";

/**
 * Replays `text` (ftrace output; other lines are ignored) and returns the report. Map and unmap
 * tracepoints name no domain, so the replay models one IO address space: every mapping in one
 * unmanaged domain of one device on the chosen backend.
 */
export function replayTrace(text: string, options: ReplayOptions = {}): ReplayReport {
  const kindName = options.backend ?? "reference";
  const kind = backendKind(kindName);
  if (!kind)
    throw new Error(`unknown backend "${kindName}" (known: ${BACKEND_KINDS.map((k) => k.name).join(", ")})`);
  const lines = splitLogLines(text);
  const timeOf = (line: number) => lines[line - 1]?.ftrace?.timestamp;
  const records = decodeLog(text, [iommuTraceParser]).records.filter(
    (r) => r.error === undefined && (r.event === "map" || r.event === "unmap" || r.event === "io_page_fault"),
  );

  const core = createIommuCore();
  const backend = kind.create({ name: kind.defaultInstance });
  core.registerIommu(backend);
  const device = core.addPlatformDevice({
    name: REPLAY_DEVICE,
    firmware: { iommu: backend.name, streamIds: [0] },
  });
  const domain: IommuDomain = core.domainAlloc(device, IOMMU_DOMAIN_UNMANAGED);
  core.attachDevice(domain, device);

  let live: Interval[] = [];
  const unmaps: UnmapRecord[] = [];
  let liveBytes = 0;
  let peak = { liveBytes: 0, event: 0 };
  const histogram = new Map<number, number>();
  let low: bigint | undefined;
  let high: bigint | undefined;
  const warnings: string[] = [];
  const faults: FaultExplanation[] = [];
  const points: LivePoint[] = [];
  const total = records.length;
  const every = Math.max(1, Math.floor(total / 100));
  const maxPoints = options.seriesPoints ?? 200;
  const sampleEvery = Math.max(1, Math.ceil(total / maxPoints));
  let maps = 0;
  let unmapCount = 0;

  records.forEach((r, i) => {
    const event = i + 1;
    const time = timeOf(r.line);
    const where = `event ${event} (line ${r.line})`;
    const iova = BigInt(r.iova ?? "0");
    if (r.event === "map") {
      maps++;
      const size = BigInt(r.size ?? 0);
      const paddr = BigInt(r.paddr ?? "0");
      const prot = r.prot === undefined ? undefined : Number(r.prot);
      histogram.set(Number(size), (histogram.get(Number(size)) ?? 0) + 1);
      try {
        core.map(domain, iova, paddr, size, prot ?? IOMMU_READ | IOMMU_WRITE);
        live.push({ start: iova, end: iova + size, paddr, prot, event, line: r.line, time });
        liveBytes += Number(size);
        if (low === undefined || iova < low) low = iova;
        if (high === undefined || iova + size > high) high = iova + size;
      } catch (error) {
        warnings.push(
          `${where}: map ${hex(iova)} size ${sizeText(size)} failed: ${(error as Error).message}`,
        );
      }
    } else if (r.event === "unmap") {
      unmapCount++;
      const size = BigInt(r.unmappedSize ?? r.size ?? 0);
      const done = core.unmap(domain, iova, BigInt(r.size ?? 0));
      if (done !== size)
        warnings.push(
          `${where}: the trace unmapped ${sizeText(size)} at ${hex(iova)}, the model ${sizeText(done)}`,
        );
      const end = iova + (done > 0n ? done : size);
      unmaps.push({ start: iova, end, event, line: r.line, time });
      const kept: Interval[] = [];
      for (const m of live) {
        if (m.end <= iova || m.start >= end) kept.push(m);
        else {
          liveBytes -= Number(m.end - m.start);
          if (m.start < iova) {
            kept.push({ ...m, end: iova });
            liveBytes += Number(iova - m.start);
          }
          if (m.end > end) {
            kept.push({ ...m, start: end, paddr: m.paddr + (end - m.start) });
            liveBytes += Number(m.end - end);
          }
        }
      }
      live = kept;
    } else {
      faults.push(explainFault(event, r.line, time, r.device, iova, r.write === true, live, unmaps));
    }
    if (liveBytes > peak.liveBytes) peak = { liveBytes, event };
    if (i % sampleEvery === 0 || i === total - 1)
      points.push({ event, time, liveBytes, liveMappings: live.length });
    if (options.onProgress && (i % every === 0 || i === total - 1)) options.onProgress(i + 1, total);
  });

  return {
    backend: kindName,
    events: total,
    maps,
    unmaps: unmapCount,
    peak,
    final: { liveBytes, liveMappings: live.length },
    series: points,
    sizeHistogram: [...histogram.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([bytes, count]) => ({ size: sizeText(bytes), bytes, count })),
    iovaSpan:
      low === undefined || high === undefined
        ? undefined
        : { low: hex(low), high: hex(high), bytes: hex(high - low) },
    faults,
    warnings,
  };
}

/** Explains one fault from the live mappings and the unmaps before it. */
function explainFault(
  event: number,
  line: number,
  time: string | undefined,
  device: string | undefined,
  iova: bigint,
  write: boolean,
  live: readonly Interval[],
  unmaps: readonly UnmapRecord[],
): FaultExplanation {
  const base = { event, line, time, device, iova: hex(iova), write };
  const access = write ? "write" : "read";
  const mapping = live.find((m) => m.start <= iova && iova < m.end);
  if (mapping) {
    const needed = write ? IOMMU_WRITE : IOMMU_READ;
    if (mapping.prot !== undefined && !(mapping.prot & needed)) {
      return {
        ...base,
        cause: "permission",
        byEvent: mapping.event,
        byLine: mapping.line,
        ...(mapping.time !== undefined && { byTime: mapping.time }),
        explanation: `mapped ${protToString(mapping.prot)} by event ${mapping.event} (line ${mapping.line}): a ${access} is not allowed`,
      };
    }
    return {
      ...base,
      cause: "mapped",
      byEvent: mapping.event,
      byLine: mapping.line,
      ...(mapping.time !== undefined && { byTime: mapping.time }),
      explanation: `mapped by event ${mapping.event} (line ${mapping.line}) and still mapped: the trace does not explain this ${access} fault (permissions not traced, another domain, or a stale mapping)`,
    };
  }
  for (let i = unmaps.length - 1; i >= 0; i--) {
    const u = unmaps[i]!;
    if (u.start <= iova && iova < u.end) {
      return {
        ...base,
        cause: "use-after-unmap",
        byEvent: u.event,
        byLine: u.line,
        ...(u.time !== undefined && { byTime: u.time }),
        explanation: `use after unmap: unmapped by event ${u.event} (line ${u.line})${u.time !== undefined ? ` at ${u.time}` : ""}`,
      };
    }
  }
  return { ...base, cause: "never-mapped", explanation: `never mapped before this ${access}` };
}
