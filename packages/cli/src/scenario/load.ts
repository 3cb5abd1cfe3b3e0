/**
 * `loadScenario(text, fileName)`: parses and decodes a scenario (YAML or JSON), reporting the first
 * mistake as `FILE:LINE: FIELD: message`.
 */
import type { PciKind } from "@iommu-sim/iommu";
import { BACKEND_KINDS, backendKind, type OptionValue } from "./backends.js";
import { type At, addr, bool, bytes, fail, int, list, map, oneOf, str } from "./decoders.js";
import { parseSource, type SourceNode } from "./source-node.js";
import { STEP_DEFINITIONS, stepDefinition } from "./steps/registry.js";
import type {
  IommuSpec,
  MachineSpec,
  MemorySpec,
  PciSpec,
  PlatformSpec,
  Scenario,
  ScenarioStep,
} from "./types.js";

/** The PCI kinds a scenario may give. */
export const PCI_KINDS: readonly PciKind[] = [
  "endpoint",
  "rc-endpoint",
  "root-port",
  "switch-upstream",
  "switch-downstream",
  "pcie-to-pci-bridge",
  "pci-bridge",
  "pci",
];

/** Errno names a step may expect with `error:`. */
export const ERRNO_NAMES = [
  "EINVAL",
  "EEXIST",
  "EBUSY",
  "ENOSPC",
  "ENOMEM",
  "ENODEV",
  "EPERM",
  "EFAULT",
  "ENOENT",
  "ERANGE",
  "EOPNOTSUPP",
  "EADDRINUSE",
] as const;

function optionValue(node: SourceNode): OptionValue {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "seq") return node.items.map(optionValue);
  const out: Record<string, OptionValue> = {};
  for (const [k, e] of node.entries) out[k] = optionValue(e.node);
  return out;
}

function iommuSpec(at: At): IommuSpec {
  const m = map(at);
  const backendAt = m.req("backend");
  const backend = oneOf(
    backendAt,
    BACKEND_KINDS.map((k) => k.name),
  );
  const n = m.opt("name");
  const o = m.opt("options");
  if (o) map(o, "a map of backend options");
  const options = o ? (optionValue(o.node) as Record<string, OptionValue>) : {};
  m.done();
  return { name: n ? str(n) : backendKind(backend)!.defaultInstance, backend, options, line: at.node.line };
}

function maskBits(at: At | undefined): number | undefined {
  return at ? int(at, 12, 64) : undefined;
}

function pciSpec(at: At): PciSpec {
  const m = map(at);
  const g = (k: string, max: number, dflt: number) => {
    const f = m.opt(k);
    return f ? int(f, 0, max) : dflt;
  };
  const optInt = (k: string, max: number) => {
    const f = m.opt(k);
    return f ? int(f, 0, max) : undefined;
  };
  const optBool = (k: string) => {
    const f = m.opt(k);
    return f ? bool(f) : undefined;
  };
  const n = m.opt("name");
  const k = m.opt("kind");
  const i = m.opt("iommu");
  const spec: PciSpec = {
    name: n ? str(n) : undefined,
    segment: g("segment", 0xffff, 0),
    bus: g("bus", 0xff, 0),
    slot: int(m.req("slot"), 0, 31),
    fn: g("fn", 7, 0),
    kind: k ? oneOf(k, PCI_KINDS) : "endpoint",
    acs: optInt("acs", 0xffff),
    multifunction: optBool("multifunction"),
    secondaryBus: optInt("secondaryBus", 0xff),
    untrusted: optBool("untrusted"),
    iommu: i ? str(i) : undefined,
    dmaMaskBits: maskBits(m.opt("dmaMaskBits")),
    line: at.node.line,
  };
  m.done();
  return spec;
}

function platformSpec(at: At): PlatformSpec {
  const m = map(at);
  const i = m.opt("iommu");
  const s = m.opt("streamIds");
  const spec: PlatformSpec = {
    name: str(m.req("name")),
    iommu: i ? str(i) : undefined,
    streamIds: s ? list(s, (x) => int(x, 0, 0xffff_ffff)) : [],
    dmaMaskBits: maskBits(m.opt("dmaMaskBits")),
    line: at.node.line,
  };
  if (spec.iommu !== undefined && spec.streamIds.length === 0)
    fail(s ?? at, "a device behind an IOMMU needs streamIds");
  m.done();
  return spec;
}

function memorySpec(at: At): MemorySpec {
  const m = map(at);
  const i = m.opt("iommu");
  const spec = {
    paddr: addr(m.req("paddr")),
    data: bytes(m.req("data")),
    iommu: i ? str(i) : undefined,
    line: at.node.line,
  };
  m.done();
  return spec;
}

function machineSpec(at: At): MachineSpec {
  const m = map(at);
  const core = m.opt("core");
  let passthrough = false;
  let strict = true;
  if (core) {
    const c = map(core);
    const p = c.opt("passthrough");
    const s = c.opt("strict");
    if (p) passthrough = bool(p);
    if (s) strict = bool(s);
    c.done();
  }
  const listOf = <T>(key: string, item: (at: At) => T): T[] => {
    const f = m.opt(key);
    return f ? list(f, item) : [];
  };
  const iommus = listOf("iommus", iommuSpec);
  const pci = listOf("pci", pciSpec);
  const platform = listOf("platform", platformSpec);
  const memory = listOf("memory", memorySpec);
  m.done();
  if (iommus.length === 0) fail(m.opt("iommus") ?? at, "a machine needs at least one IOMMU in iommus");
  const seen = new Set<string>();
  iommus.forEach((s, i) => {
    if (seen.has(s.name))
      fail(
        { file: at.file, path: `machine.iommus[${i}].name`, node: at.node },
        `two IOMMUs are named "${s.name}"`,
      );
    seen.add(s.name);
  });
  return { passthrough, strict, iommus, pci, platform, memory };
}

const STEP_KEYS = new Set(["note", "error"]);

function step(at: At, index: number): ScenarioStep {
  const m = map(at, "a step: a map with one step kind (map, attach, expect, ...) and an optional note");
  const kinds = m.keys.filter((k) => !STEP_KEYS.has(k));
  if (kinds.length !== 1) {
    fail(
      at,
      kinds.length === 0
        ? `a step needs one step kind (known: ${STEP_DEFINITIONS.map((d) => d.kind).join(", ")})`
        : `a step has one kind, got ${kinds.join(" and ")}`,
    );
  }
  const kind = kinds[0]!;
  const definition = stepDefinition(kind);
  const body = m.req(kind);
  if (!definition)
    fail(
      { ...body, path: `${at.path}.${kind}` },
      `unknown step kind "${kind}" (known: ${STEP_DEFINITIONS.map((d) => d.kind).join(", ")})`,
    );
  const n = m.opt("note");
  const e = m.opt("error");
  const error = e ? oneOf(e, ERRNO_NAMES) : undefined;
  if (e && !definition.canFail) fail(e, `a ${kind} step cannot fail, so it cannot expect an error`);
  m.done();
  return {
    index,
    definition,
    params: definition.decode(body),
    note: n ? str(n) : undefined,
    error,
    line: at.node.line,
    path: at.path,
  };
}

/**
 * Parses and decodes a scenario. `fileName` is only used in messages. Throws a `ScenarioError`
 * (`code` `EINVAL`, with `file`, `line`, `path`) for the first mistake found.
 */
export function loadScenario(text: string, fileName: string): Scenario {
  const doc = parseSource(text, fileName);
  const root: At = { file: fileName, path: "", node: doc.root };
  const m = map(root, "a scenario: a map with name, machine and steps");
  const name = str(m.req("name"));
  const d = m.opt("description");
  const description = d ? str(d) : undefined;
  const s = m.opt("$schema");
  if (s) str(s);
  const machine = machineSpec(m.req("machine"));
  const steps = list(m.req("steps"), step, "a list of steps");
  m.done();
  return { file: fileName, name, description, machine, steps };
}
