/**
 * The playground's use of the scenario engine, free of the DOM so it is tested in Node: one full
 * run that keeps a small record per step (what the step control, the machine view and the hit-rate
 * plot need), and on-demand inspections that re-run the scenario up to a step (the engine is
 * deterministic) and read what only the live machine knows: page tables, IOTLB sets and ways, the
 * walk of the last translation, event records.
 */
import {
  type DomainDump,
  dumpDomains,
  type MachineSnapshot,
  type RunContext,
  runScenario,
  type Scenario,
  type ScenarioStep,
  type StepStatus,
} from "iommu-sim/scenario";
import { peekIotlb, peekPageTable } from "./peek.js";

/** IOTLB counters of one IOMMU after a step. */
export interface StepIotlbStats {
  readonly iommu: string;
  readonly lookups: number;
  readonly hits: number;
  readonly misses: number;
  readonly insertions: number;
  readonly evictions: number;
  readonly invalidations: number;
  readonly validEntries: number;
}

/** What the playground keeps of each step of the full run. */
export interface StepRecord {
  readonly index: number;
  readonly kind: string;
  readonly line: number;
  readonly note: string | undefined;
  readonly status: StepStatus;
  readonly summary: string;
  readonly failures: readonly string[];
  /** The machine after the step, without IOTLB entries and with at most 16 mappings per domain. */
  readonly machine: MachineView | undefined;
  readonly iotlb: readonly StepIotlbStats[];
  /** What the step's DMA transaction did in the IOTLB. */
  readonly iotlbActivity:
    | { readonly lookups: number; readonly hits: number; readonly misses: number }
    | undefined;
  /** The architecture's record of the fault the step's DMA caused, decoded by the engine. */
  readonly faultRecord: FaultRecord | undefined;
}

/**
 * A fault record as the scenario engine decodes it (`detail.fault.record` of a DMA step): the
 * SMMUv3 event-queue entry, the VT-d fault recording register, the AMD-Vi event-log entry or the
 * SMMU v2 fault syndrome, raw words and every field by the specification's names.
 */
export interface FaultRecord {
  readonly iommu: string;
  readonly record: string;
  readonly location: string;
  readonly words: readonly string[];
  readonly event: string;
  readonly meaning: string;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  readonly log: readonly string[];
  /** Set by the playground: the step that caused it, and the fault as the datapath reported it. */
  readonly step: number;
  readonly iova: string;
  readonly reason: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function faultRecordOf(detail: unknown, step: number): FaultRecord | undefined {
  const fault = isObject(detail) ? detail.fault : undefined;
  const r = isObject(fault) ? fault.record : undefined;
  if (!isObject(fault) || !isObject(r) || typeof r.event !== "string" || !isObject(r.fields))
    return undefined;
  return {
    iommu: String(r.iommu ?? ""),
    record: String(r.record ?? ""),
    location: String(r.location ?? ""),
    words: Array.isArray(r.words) ? r.words.map(String) : [],
    event: r.event,
    meaning: String(r.meaning ?? ""),
    fields: r.fields as FaultRecord["fields"],
    log: Array.isArray(r.log) ? r.log.map(String) : [],
    step,
    iova: String(fault.iova ?? ""),
    reason: String(fault.reason ?? ""),
  };
}

function iotlbActivityOf(detail: unknown): StepRecord["iotlbActivity"] {
  const a = isObject(detail) ? detail.iotlb : undefined;
  return isObject(a) &&
    typeof a.lookups === "number" &&
    typeof a.hits === "number" &&
    typeof a.misses === "number"
    ? { lookups: a.lookups, hits: a.hits, misses: a.misses }
    : undefined;
}

/** One full run of a scenario. */
export interface Session {
  readonly scenario: Scenario;
  readonly initial: MachineView | undefined;
  readonly steps: readonly StepRecord[];
  readonly ok: boolean;
  /** Wall time of the run, ms. */
  readonly runMs: number;
}

/** Mappings kept per domain in a step record (the rest is counted, and shown by an inspection). */
export const MAPPINGS_KEPT = 16;

/** A domain of a {@link MachineView}: the first mappings and how many there are. */
export type DomainView = MachineSnapshot["domains"][number] & { readonly mappingCount: number };

/** A machine snapshot slimmed for keeping one per step: no IOTLB entries, few mappings. */
export type MachineView = Omit<MachineSnapshot, "domains"> & { readonly domains: readonly DomainView[] };

function slim(s: MachineSnapshot): MachineView {
  return {
    ...s,
    iotlbs: s.iotlbs.map((t) => ({ ...t, entries: [] })),
    domains: s.domains.map((d) => ({
      ...d,
      mappings: d.mappings.length > MAPPINGS_KEPT ? d.mappings.slice(0, MAPPINGS_KEPT) : d.mappings,
      mappingCount: d.mappings.length,
    })),
  };
}

function iotlbStats(s: MachineSnapshot | undefined): StepIotlbStats[] {
  return (s?.iotlbs ?? []).map((t) => ({
    iommu: t.iommu,
    lookups: t.stats.lookups,
    hits: t.stats.hits,
    misses: t.stats.misses,
    insertions: t.stats.insertions,
    evictions: t.stats.evictions,
    invalidations: t.stats.invalidations.all + t.stats.invalidations.tag + t.stats.invalidations.range,
    validEntries: t.validEntries,
  }));
}

/** Runs the whole scenario and keeps a slim record per step. Throws a `ScenarioError` for a machine the model refuses. */
export function runSession(scenario: Scenario): Session {
  const steps: StepRecord[] = [];
  const start = performance.now();
  const trace = runScenario(scenario, {
    onStep(t) {
      steps.push({
        index: t.index,
        kind: t.kind,
        line: t.line,
        note: t.note,
        status: t.status,
        summary: t.summary,
        failures: t.failures,
        machine: t.snapshot && slim(t.snapshot),
        iotlb: iotlbStats(t.snapshot),
        iotlbActivity: iotlbActivityOf(t.detail),
        faultRecord: faultRecordOf(t.detail, t.index),
      });
    },
  });
  return {
    scenario,
    initial: trace.initial && slim(trace.initial),
    steps,
    ok: trace.ok,
    runMs: performance.now() - start,
  };
}

/** The scenario with only its first `count` steps. */
export function truncated(scenario: Scenario, count: number): Scenario {
  return { ...scenario, steps: scenario.steps.slice(0, Math.max(0, count)) };
}

/** One IOTLB entry with its place in the cache. */
export interface IotlbSlot {
  readonly set: number;
  readonly way: number;
  readonly iova: string;
  readonly output: string;
  readonly size: string;
  readonly perm: number;
  readonly asid: number;
  readonly stream: number;
  readonly age: number;
}

/** An IOMMU instance as an inspection sees it. */
export interface IommuInspection {
  readonly name: string;
  readonly backend: string;
  /** Geometry and valid entries; `null` for a backend without an IOTLB model. */
  readonly iotlb: {
    readonly entries: number;
    readonly ways: number;
    readonly sets: number;
    readonly replacement: string;
    readonly slots: readonly IotlbSlot[];
  } | null;
}

/** The last DMA transaction up to the inspected step, and the walk a translation of it does now. */
export interface LastTranslation {
  readonly step: number;
  readonly device: string;
  readonly iova: string;
  readonly write: boolean;
  readonly domain: string;
  /** `level:table:index` of every descriptor the walk read, root first. */
  readonly path: readonly string[];
  /** `translates to 0x...` or the walk's fault. */
  readonly outcome: string;
}

/** A fault the core counted, decoded. */
export interface FaultInspection {
  readonly device: string;
  readonly domain: string;
  readonly iova: string;
  readonly access: "read" | "write";
  readonly result: string;
  readonly time: number;
}

/** What only the live machine knows, after step `step` (-1: before the first step). */
export interface Inspection {
  readonly step: number;
  readonly iommus: readonly IommuInspection[];
  readonly domains: readonly DomainDump[];
  readonly lastTranslation: LastTranslation | undefined;
  readonly faults: readonly FaultInspection[];
  readonly faultCount: number;
  /** The drivers' kernel-log lines (the decoded records as Linux prints them), most recent last. */
  readonly log: readonly { readonly level: string; readonly message: string; readonly time: number }[];
  /** Wall time of the re-run, ms. */
  readonly ms: number;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** A translation the inspection saw: a device transaction, or a `walk` step's recorded walk. */
type Seen =
  | {
      readonly kind: "dma";
      readonly step: number;
      readonly device: string;
      readonly iova: bigint;
      readonly write: boolean;
    }
  | { readonly kind: "walk"; readonly step: number; readonly detail: Record<string, unknown> };

type DeviceDma = RunContext["core"]["deviceDma"];

/**
 * The scenario with every step's `run` wrapped so the inspection sees the device transactions the
 * steps make (through `core.deviceDma`, whatever address form the step was given) and knows which
 * step is running. Only the inspection's own run is instrumented.
 */
function instrumented(scenario: Scenario, seen: Seen[]): Scenario {
  let current = -1;
  const hooked = new WeakSet<object>();
  const hook = (ctx: RunContext) => {
    const core = ctx.core as { deviceDma: DeviceDma };
    if (hooked.has(core)) return;
    hooked.add(core);
    const original = core.deviceDma.bind(core);
    core.deviceDma = ((device, request) => {
      seen.push({
        kind: "dma",
        step: current,
        device: ctx.deviceLabel(device),
        iova: BigInt(request.iova),
        write: request.write === true,
      });
      return original(device, request);
    }) as DeviceDma;
  };
  const steps = scenario.steps.map(
    (s): ScenarioStep => ({
      ...s,
      definition: {
        ...s.definition,
        run(params, ctx) {
          current = s.index;
          hook(ctx);
          return s.definition.run(params, ctx);
        },
      },
    }),
  );
  return { ...scenario, steps };
}

function lastTranslation(ctx: RunContext, seen: readonly Seen[]): LastTranslation | undefined {
  const last = seen.at(-1);
  if (!last) return undefined;
  if (last.kind === "walk") {
    const d = last.detail;
    const steps = Array.isArray(d.steps) ? (d.steps as Record<string, unknown>[]) : [];
    return {
      step: last.step,
      device: "walk",
      iova: String(d.iova),
      write: false,
      domain: String(d.domain),
      path: steps.map((s) => `${s.level}:${s.table}:${s.index}`),
      outcome:
        d.output !== undefined ? `translates to ${String(d.output)}` : `walk faults (${String(d.fault)})`,
    };
  }
  try {
    const domain = ctx.domain(`current:${last.device}`);
    const walk = peekPageTable(domain)?.walk(last.iova);
    return {
      step: last.step,
      device: last.device,
      iova: hex(last.iova),
      write: last.write,
      domain: ctx.domainLabel(domain),
      path: walk ? walk.steps.map((s) => `${s.level}:${hex(s.tableAddress)}:${s.index}`) : [],
      outcome: !walk
        ? "no page table to walk"
        : walk.fault !== undefined
          ? `a walk now faults (${walk.fault}) at level ${walk.level}`
          : `translates to ${hex(walk.outputAddress ?? 0n)}`,
    };
  } catch {
    return undefined;
  }
}

/** Leaves dumped per domain by an inspection. */
export const INSPECT_LEAF_LIMIT = 512;

/**
 * Re-runs `scenario` up to and including step `step` (-1 = only build the machine) and inspects
 * the live machine. Throws a `ScenarioError` for a machine the model refuses.
 */
export function inspectAt(scenario: Scenario, step: number): Inspection {
  const start = performance.now();
  let result: Omit<Inspection, "ms"> | undefined;
  const seen: Seen[] = [];
  runScenario(instrumented(truncated(scenario, step + 1), seen), {
    snapshots: false,
    onStep(t) {
      if (t.kind === "walk" && isObject(t.detail))
        seen.push({ kind: "walk", step: t.index, detail: t.detail });
    },
    atEnd(ctx) {
      const iommus: IommuInspection[] = scenario.machine.iommus.map((spec) => {
        const backend = ctx.machine.backends.get(spec.name);
        const tlb = backend && peekIotlb(backend);
        return {
          name: spec.name,
          backend: spec.backend,
          iotlb: tlb
            ? {
                entries: tlb.entries,
                ways: tlb.ways,
                sets: tlb.sets,
                replacement: tlb.replacement,
                slots: tlb.snapshot().map((e) => ({
                  set: e.set,
                  way: e.way,
                  iova: hex(e.iova),
                  output: hex(e.output),
                  size: hex(e.size),
                  perm: e.perm,
                  asid: e.asid,
                  stream: e.stream,
                  age: e.age,
                })),
              }
            : null,
        };
      });
      const faults = ctx.core.faults.map((f) => ({
        device: ctx.deviceLabel(f.device),
        domain: ctx.domainLabel(f.domain),
        iova: hex(f.iova),
        access: (f.flags & 1 ? "write" : "read") as "read" | "write",
        result: String(f.result),
        time: f.time,
      }));
      result = {
        step,
        iommus,
        domains: dumpDomains(ctx, [], INSPECT_LEAF_LIMIT).domains,
        lastTranslation: lastTranslation(ctx, seen),
        faults,
        faultCount: ctx.core.faultCount,
        log: ctx.core.log.slice(-64).map((l) => ({ level: l.level, message: l.message, time: l.time })),
      };
    },
  });
  if (!result) throw new Error("the scenario engine did not report the end of the run");
  return { ...result, ms: performance.now() - start };
}

/** Changes the "what if" panel makes to a scenario's machine before running it. */
export interface WhatIf {
  /** Backend of every IOMMU instance (its backend-specific options are dropped); absent = as written. */
  readonly backend?: string;
  /** IOTLB geometry and policy of every instance with an IOTLB model; absent = the backend's default. */
  readonly iotlb?: { readonly entries: number; readonly ways: number; readonly replacement: string };
  /** `iommu.strict`: strict (true) or lazy, flush-queue (false) invalidation; absent = as written. */
  readonly strict?: boolean;
}

type IommuSpec = Scenario["machine"]["iommus"][number];

/** The scenario with `change` applied to its machine section (the steps are untouched). */
export function applyWhatIf(scenario: Scenario, change: WhatIf): Scenario {
  const iommus = scenario.machine.iommus.map((spec): IommuSpec => {
    const backend = change.backend ?? spec.backend;
    const options: Record<string, IommuSpec["options"][string]> =
      backend === spec.backend ? { ...spec.options } : {};
    // The reference backend has no IOTLB model and takes no geometry.
    if (change.iotlb && backend !== "reference") options.iotlb = { ...change.iotlb };
    return { ...spec, backend, options };
  });
  return {
    ...scenario,
    machine: { ...scenario.machine, strict: change.strict ?? scenario.machine.strict, iommus },
  };
}

/** The end-of-run numbers the "what if" panel compares. */
export interface RunSummary {
  readonly steps: number;
  readonly ok: number;
  readonly failed: number;
  readonly errors: number;
  readonly lookups: number;
  readonly hits: number;
  readonly misses: number;
  readonly insertions: number;
  readonly evictions: number;
  readonly invalidations: number;
  readonly faults: number;
  readonly runMs: number;
}

/** Sums the last step's statistics over every IOMMU of a run. */
export function summarize(session: Session): RunSummary {
  const last = [...session.steps].reverse().find((s) => s.machine !== undefined);
  const sum = (k: keyof Omit<StepIotlbStats, "iommu">) => (last?.iotlb ?? []).reduce((n, t) => n + t[k], 0);
  return {
    steps: session.steps.length,
    ok: session.steps.filter((s) => s.status === "ok").length,
    failed: session.steps.filter((s) => s.status === "failed").length,
    errors: session.steps.filter((s) => s.status === "error").length,
    lookups: sum("lookups"),
    hits: sum("hits"),
    misses: sum("misses"),
    insertions: sum("insertions"),
    evictions: sum("evictions"),
    invalidations: sum("invalidations"),
    faults: last?.machine?.faultCount ?? 0,
    runMs: session.runMs,
  };
}
