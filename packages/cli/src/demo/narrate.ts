/**
 * The narration of a story trace (`iommu-sim demo`): a heading per act and its introduction, then
 * for every step its note, what happened, and the tables a reader needs to see it: devices with
 * their groups and domains, the DMA mapping, the page-table walk level by level, IOTLB activity
 * and the fault record, raw and decoded.
 */
import type { FaultRecordView } from "../scenario/fault-record.js";
import { sizeText } from "../scenario/format.js";
import type { MachineSnapshot, ScenarioTrace, StepTrace } from "../scenario/index.js";
import type { IotlbActivity } from "../scenario/steps/dma-transaction.js";
import type { WalkDetail } from "../scenario/steps/walk.js";
import { groupActs } from "./acts.js";
import type { Style } from "./style.js";
import { table, wrap } from "./text.js";

const WIDTH = 100;
const IN = "    ";

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function devicesTable(snapshot: MachineSnapshot, style: Style): string[] {
  const typeOf = new Map(snapshot.domains.map((d) => [d.label, d.type]));
  const rows = snapshot.devices.map((d) => [
    d.name,
    d.deviceName,
    d.group === undefined ? "-" : String(d.group),
    d.domain,
    typeOf.get(d.domain) ?? "-",
    d.domain === d.defaultDomain ? "yes" : "no",
  ]);
  return table(["DEVICE", "PCI NAME", "GROUP", "ATTACHED DOMAIN", "TYPE", "DEFAULT"], rows, IN, style.bold);
}

// The IOVA bits that index a level, for formats with 4K granules and 512-entry tables (LPAE 4K,
// VT-d, AMD v1); `undefined` where that does not hold (the index says otherwise).
function indexBits(w: WalkDetail, position: number, index: number): string | undefined {
  if (w.granule !== 4096) return undefined;
  const lo = 12 + 9 * (w.levels - 1 - position);
  const iova = BigInt(w.iova);
  if (Number((iova >> BigInt(lo)) & 511n) !== index) return undefined;
  return `[${lo + 8}:${lo}]`;
}

const SKIP_FIELDS = new Set(["otherBits", "NextTableAddress", "OutputAddress", "Address"]);

function interestingFields(fields: Readonly<Record<string, string | number | boolean>>): string {
  return Object.entries(fields)
    .filter(([k, v]) => !SKIP_FIELDS.has(k) && v !== false && v !== 0 && v !== "0x0" && !k.startsWith("IGN"))
    .map(([k, v]) => (v === true ? k : `${k}=${v}`))
    .join(" ");
}

function walkTable(w: WalkDetail, style: Style): string[] {
  const rows = w.steps.map((s, i) => {
    const what =
      s.type === "table"
        ? `table -> ${s.next ?? "?"}`
        : s.output !== undefined
          ? `${s.type} -> ${s.output} ${s.size ?? ""} ${s.prot ?? ""}`.trimEnd()
          : s.type;
    return [
      `L${s.level}`,
      indexBits(w, i, s.index) ?? "",
      String(s.index),
      s.descriptorAddress,
      s.descriptor,
      what,
      interestingFields(s.fields),
    ];
  });
  const out = [
    `${IN}${style.dim(`${w.format}, ${w.levels} levels, granule ${w.granule / 1024}K, root table at ${w.root}, IOVA ${w.iova}`)}`,
    ...table(["LEVEL", "IOVA BITS", "INDEX", "AT", "DESCRIPTOR", "DECODED", "FIELDS"], rows, IN, style.bold),
  ];
  out.push(
    w.output !== undefined
      ? `${IN}=> ${style.ok(`${w.iova} translates to ${w.output}`)} (${w.pageSize} page, ${w.prot})`
      : `${IN}=> ${style.bad(`no translation: ${w.fault} fault at the last level read`)}`,
  );
  return out;
}

function iotlbLine(t: IotlbActivity): string {
  const how =
    t.misses > 0
      ? "miss: the hardware walked the page table"
      : t.hits > 0
        ? "hit: no walk needed"
        : "no lookup";
  return `${IN}IOTLB: ${plural(t.lookups, "lookup")}, ${plural(t.hits, "hit")}, ${plural(t.misses, "miss", "misses")} (${how})`;
}

function faultRecord(r: FaultRecordView, style: Style): string[] {
  const out = [
    `${IN}${style.bold(`${r.record}`)}, ${r.location}:`,
    ...r.words.map((w, i) => {
      const name = r.wordNames?.[i] ?? `${r.wordBits === 64 ? "dw" : "w"}${i}`;
      return `${IN}  ${name.padEnd(r.wordNames ? 10 : 3)} ${w}`;
    }),
    `${IN}${style.accent(r.event)}: ${r.meaning}`,
    ...table(
      ["FIELD", "VALUE"],
      Object.entries(r.fields).map(([k, v]) => [k, String(v)]),
      IN,
      style.bold,
    ),
  ];
  if (r.log.length) {
    out.push(`${IN}${style.dim("kernel log:")}`);
    for (const l of r.log) out.push(`${IN}  ${style.dim(l.replaceAll("\t", "  "))}`);
  }
  return out;
}

type Detail = Record<string, unknown> | undefined;

function details(s: StepTrace, style: Style): string[] {
  const d = s.detail as Detail;
  switch (s.kind) {
    case "expect":
      return /^(.*\b(domain|group)\b.*):/.test(s.summary) && s.snapshot
        ? devicesTable(s.snapshot, style)
        : [];
    case "walk":
      return d && "steps" in d ? walkTable(d as unknown as WalkDetail, style) : [];
    case "dmaapi.map":
    case "dmaapi.alloc-coherent":
      return d
        ? table(
            ["BUFFER", "CPU (PHYSICAL)", "DMA ADDRESS", "SIZE", "DIRECTION", "SERVED BY"],
            [
              [
                String(d.buffer),
                String(d.cpuAddr),
                String(d.dmaAddr),
                sizeText(BigInt(String(d.size))),
                String(d.direction ?? "DMA_BIDIRECTIONAL"),
                `${String(d.ops)} ops`,
              ],
            ],
            IN,
            style.bold,
          )
        : [];
    case "dma.read":
    case "dma.write": {
      const out: string[] = [];
      const t = d?.iotlb as IotlbActivity | undefined;
      if (t) out.push(iotlbLine(t));
      const record = (d?.fault as { record?: FaultRecordView } | undefined)?.record;
      if (record) out.push(...faultRecord(record, style));
      return out;
    }
    default:
      return [];
  }
}

/** Options of {@link narrate}. */
export interface NarrateOptions {
  readonly style: Style;
  /** What the story runs on, for the title. */
  readonly backend: string;
}

/** Renders the narration of `trace`. */
export function narrate(trace: ScenarioTrace, options: NarrateOptions): string {
  const { style } = options;
  const out: string[] = [style.bold(`${trace.name}, on ${options.backend}`)];
  if (trace.description) out.push(...wrap(trace.description, WIDTH, ""));
  for (const act of groupActs(trace.steps)) {
    out.push("");
    if (act.number > 0) out.push(style.heading(`Act ${act.number}. ${act.title}`));
    if (act.note) out.push(...wrap(act.note, WIDTH, "  "));
    for (const s of act.steps) {
      out.push("");
      const mark = s.status === "ok" ? style.ok("*") : style.bad("!");
      const note = wrap(s.note ?? s.kind, WIDTH, IN);
      out.push(`  ${mark} ${(note[0] ?? "").trimStart()}`, ...note.slice(1));
      const summary = s.kind === "expect" ? `checked ${s.summary}` : s.summary;
      out.push(`${IN}${style.dim(`${s.kind}: ${summary}`)}`);
      out.push(...details(s, style));
      for (const f of s.failures) out.push(`${IN}${style.bad(`${s.status.toUpperCase()}: ${f}`)}`);
    }
  }
  out.push("");
  const bad = trace.steps.filter((s) => s.status !== "ok").length;
  out.push(
    bad === 0
      ? style.ok(`The story ran: ${plural(trace.steps.length, "step")}, all as expected.`)
      : style.bad(`${plural(bad, "step")} did not go as the story says.`),
  );
  return `${out.join("\n")}\n`;
}
