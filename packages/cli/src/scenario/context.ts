/**
 * What a step sees while it runs: the machine, the names the scenario gave to devices and domains,
 * and the unmaps still waiting for an IOTLB sync.
 */
import {
  createIotlbGather,
  type IommuBackend,
  type IommuCore,
  type IommuDevice,
  type IommuDomain,
  type IotlbGather,
  type PhysBus,
} from "@iommu-sim/iommu";
import type { Machine } from "./machine.js";
import type { MappingTracker } from "./mappings.js";

/** The run-time state of a scenario, handed to every step. */
export interface RunContext {
  readonly core: IommuCore;
  readonly machine: Machine;
  readonly mappings: MappingTracker;
  /** Resolves a device name (scenario name or `SSSS:BB:DD.F`); throws for an unknown one. */
  device(ref: string): IommuDevice;
  /** The scenario's name for a device (its short name, else its device name). */
  deviceLabel(device: IommuDevice): string;
  /**
   * Resolves a domain reference: a name given by `domain.alloc`, `default:DEVICE` (the device's
   * default domain) or `current:DEVICE` (the domain its group is attached to now).
   */
  domain(ref: string): IommuDomain;
  /** Names a domain (`domain.alloc`). */
  nameDomain(name: string, domain: IommuDomain): void;
  /** Forgets a domain's name (`domain.free`). */
  forgetDomain(name: string): void;
  /** A domain's label: its scenario name, else `default:DEVICE` / `blocked:DEVICE` for a group's, else `#id`. */
  domainLabel(domain: IommuDomain | undefined): string;
  /** Domains the scenario named, by name. */
  readonly namedDomains: ReadonlyMap<string, IommuDomain>;
  /** The gather collecting a domain's unsynced (lazy) unmaps. */
  pendingGather(domain: IommuDomain): IotlbGather;
  /** The backend a device is behind; throws when none translates it. */
  backendOf(device: IommuDevice): IommuBackend;
  /** Memory of an IOMMU instance (default: the first). */
  memory(iommu?: string): PhysBus;
}

/** Creates the run context of a built machine. */
export function createRunContext(machine: Machine): RunContext {
  const named = new Map<string, IommuDomain>();
  const pending = new Map<IommuDomain, IotlbGather>();
  const ctx: RunContext = {
    core: machine.core,
    machine,
    mappings: machine.mappings,
    namedDomains: named,
    device(ref) {
      const d = machine.devices.get(ref);
      if (!d)
        throw new Error(
          `no device named "${ref}" (known: ${[...machine.devices.keys()].join(", ") || "none"})`,
        );
      return d;
    },
    deviceLabel: (device) => machine.aliases.get(device) ?? device.name,
    domain(ref) {
      const m = /^(default|current):(.+)$/.exec(ref);
      if (m) {
        const device = ctx.device(m[2]!);
        const domain =
          m[1] === "default" ? machine.core.getDmaDomain(device) : machine.core.getDomainForDevice(device);
        if (!domain) throw new Error(`${ref}: ${m[2]} has no ${m[1]} domain`);
        return domain;
      }
      const d = named.get(ref);
      if (!d)
        throw new Error(`no domain named "${ref}" (named so far: ${[...named.keys()].join(", ") || "none"})`);
      return d;
    },
    nameDomain(name, domain) {
      if (named.has(name)) throw new Error(`a domain named "${name}" already exists`);
      named.set(name, domain);
    },
    forgetDomain(name) {
      const d = named.get(name);
      named.delete(name);
      if (d) pending.delete(d);
    },
    domainLabel(domain) {
      if (domain === undefined) return "-";
      for (const [name, d] of named) if (d === domain) return name;
      for (const g of machine.core.groups()) {
        const first = g.devices[0];
        if (first === undefined) continue;
        if (g.defaultDomain === domain) return `default:${ctx.deviceLabel(first)}`;
        if (g.blockingDomain === domain) return `blocked:${ctx.deviceLabel(first)}`;
      }
      return `#${domain.id}`;
    },
    pendingGather(domain) {
      let g = pending.get(domain);
      if (!g) {
        g = createIotlbGather();
        pending.set(domain, g);
      }
      return g;
    },
    backendOf(device) {
      const iommu = device.group?.iommu ?? device.fwspec?.iommu;
      const backend = iommu === undefined ? undefined : machine.backends.get(iommu);
      if (!backend) throw new Error(`${ctx.deviceLabel(device)} is not behind an IOMMU`);
      return backend;
    },
    memory: (iommu) => machine.memory(iommu),
  };
  return ctx;
}
