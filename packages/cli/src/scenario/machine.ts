/**
 * Building the simulated machine a scenario describes: the IOMMU core with its options, the IOMMU
 * instances, then the devices (each probed as it is added, as on a bus scan), then the initial
 * memory contents.
 */
import {
  createIommuCore,
  type IommuBackend,
  type IommuCore,
  type IommuDevice,
  type PhysBus,
} from "@iommu-sim/iommu";
import { backendKind, type OptionValue } from "./backends.js";
import { ScenarioError } from "./errors.js";
import { createMappingTracker, type MappingTracker } from "./mappings.js";
import type { MachineSpec } from "./types.js";

/** A built machine and the names a scenario uses for its parts. */
export interface Machine {
  readonly core: IommuCore;
  /** IOMMU instances by name, in declaration order. */
  readonly backends: ReadonlyMap<string, IommuBackend>;
  /** Devices by scenario name and by device name (`0000:01:00.0`). */
  readonly devices: ReadonlyMap<string, IommuDevice>;
  /** The scenario's short name of each device that has one. */
  readonly aliases: ReadonlyMap<IommuDevice, string>;
  /** Live mappings per domain, from the tracepoint events. */
  readonly mappings: MappingTracker;
  /** The memory DMA of `iommu`'s devices lands in; `undefined` = the first instance's. */
  memory(iommu?: string): PhysBus;
}

const mask = (bits: number | undefined): bigint | undefined =>
  bits === undefined ? undefined : bits >= 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n;

function factoryOptions(
  raw: Readonly<Record<string, OptionValue>>,
  bigints: readonly string[],
): Record<string, OptionValue> {
  const convert = (key: string | undefined, v: OptionValue): OptionValue => {
    if (key !== undefined && bigints.includes(key)) {
      if (typeof v === "bigint") return v;
      if (typeof v === "number" || (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v)))
        return BigInt(v);
      return v;
    }
    if (typeof v === "bigint")
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    if (Array.isArray(v)) return v.map((x) => convert(undefined, x));
    if (v !== null && typeof v === "object") {
      const out: Record<string, OptionValue> = {};
      for (const [k, x] of Object.entries(v)) out[k] = convert(undefined, x);
      return out;
    }
    return v;
  };
  const out: Record<string, OptionValue> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = convert(k, v);
  return out;
}

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Builds the machine of `spec`. A part the model refuses (an unknown backend, options a factory
 * rejects, a PCI topology error) becomes a {@link ScenarioError} at that part's line in `file`.
 */
export function buildMachine(spec: MachineSpec, file: string): Machine {
  const core = createIommuCore({ passthrough: spec.passthrough, strict: spec.strict });
  const mappings = createMappingTracker();
  core.subscribe((event) => mappings.onEvent(event));
  const backends = new Map<string, IommuBackend>();
  spec.iommus.forEach((s, i) => {
    const kind = backendKind(s.backend);
    const where = `machine.iommus[${i}]`;
    if (!kind) throw new ScenarioError(file, s.line, `${where}.backend`, `unknown backend "${s.backend}"`);
    try {
      const backend = kind.create({ ...factoryOptions(s.options, kind.bigintOptions), name: s.name });
      core.registerIommu(backend);
      backends.set(s.name, backend);
    } catch (error) {
      throw new ScenarioError(
        file,
        s.line,
        where,
        `cannot create ${s.backend} "${s.name}": ${reason(error)}`,
      );
    }
  });
  const devices = new Map<string, IommuDevice>();
  const aliases = new Map<IommuDevice, string>();
  const name = (device: IommuDevice, alias: string | undefined, line: number, where: string) => {
    for (const n of alias === undefined ? [device.name] : [alias, device.name]) {
      if (devices.has(n)) throw new ScenarioError(file, line, where, `a device named "${n}" already exists`);
      devices.set(n, device);
    }
    if (alias !== undefined) aliases.set(device, alias);
  };
  spec.pci.forEach((p, i) => {
    const where = `machine.pci[${i}]`;
    try {
      const dmaMask = mask(p.dmaMaskBits);
      const device = core.addPciDevice({
        segment: p.segment,
        bus: p.bus,
        slot: p.slot,
        fn: p.fn,
        kind: p.kind,
        ...(p.acs !== undefined && { acs: p.acs }),
        ...(p.multifunction !== undefined && { multifunction: p.multifunction }),
        ...(p.secondaryBus !== undefined && { secondaryBus: p.secondaryBus }),
        ...(p.untrusted !== undefined && { untrusted: p.untrusted }),
        ...(p.iommu !== undefined && { iommu: p.iommu }),
        ...(dmaMask !== undefined && { dmaMask, coherentDmaMask: dmaMask }),
      });
      name(device, p.name, p.line, where);
    } catch (error) {
      if ((error as { file?: unknown }).file !== undefined) throw error;
      throw new ScenarioError(file, p.line, where, reason(error));
    }
  });
  spec.platform.forEach((p, i) => {
    const where = `machine.platform[${i}]`;
    try {
      const dmaMask = mask(p.dmaMaskBits);
      const device = core.addPlatformDevice({
        name: p.name,
        ...(p.iommu !== undefined && { firmware: { iommu: p.iommu, streamIds: p.streamIds } }),
        ...(dmaMask !== undefined && { dmaMask, coherentDmaMask: dmaMask }),
      });
      name(device, undefined, p.line, where);
    } catch (error) {
      if ((error as { file?: unknown }).file !== undefined) throw error;
      throw new ScenarioError(file, p.line, where, reason(error));
    }
  });
  const memory = (iommu?: string): PhysBus => {
    const backend = iommu === undefined ? backends.values().next().value : backends.get(iommu);
    if (backend === undefined)
      throw new Error(
        iommu === undefined ? "the machine has no IOMMU, hence no memory" : `no IOMMU named "${iommu}"`,
      );
    return backend.memory;
  };
  spec.memory.forEach((m, i) => {
    try {
      memory(m.iommu).write(m.paddr, m.data);
    } catch (error) {
      throw new ScenarioError(file, m.line, `machine.memory[${i}]`, reason(error));
    }
  });
  return { core, backends, devices, aliases, mappings, memory };
}
