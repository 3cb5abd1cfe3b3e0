/**
 * A snapshot of the machine after a step, plain JSON data a viewer (the playground) can render
 * without the model: groups, devices, domains with their live mappings, IOTLBs and recent faults.
 */
import type { IotlbStats } from "@iommu-sim/hw";
import { domainTypeName, type IommuDomain } from "@iommu-sim/iommu";
import type { RunContext } from "./context.js";
import { hex } from "./format.js";
import { iotlbOf } from "./hardware-view.js";

/** An IOMMU group. */
export interface GroupSnapshot {
  readonly id: number;
  readonly iommu: string;
  readonly devices: readonly string[];
  /** Label of the attached domain (`d1`, `#3`), `-` for none. */
  readonly domain: string;
  readonly defaultDomain: string;
  /** Claimed by a user owner (VFIO) or used by kernel drivers (`ownerCount`). */
  readonly ownerCount: number;
  readonly owned: boolean;
}

/** A device. */
export interface DeviceSnapshot {
  /** The scenario's name (or the device name). */
  readonly name: string;
  /** The device name (`0000:01:00.0`). */
  readonly deviceName: string;
  readonly iommu: string | undefined;
  readonly group: number | undefined;
  readonly domain: string;
  readonly defaultDomain: string;
  /** Whether the DMA API may be used now (group on its default domain). */
  readonly dmaApiUsable: boolean;
}

/** A domain. */
export interface DomainSnapshot {
  readonly label: string;
  readonly id: number;
  /** `DMA`, `DMA-FQ`, `unmanaged`, `identity`, `blocked`. */
  readonly type: string;
  readonly iommu: string;
  /** Groups attached now. */
  readonly groups: readonly number[];
  readonly mappings: readonly { readonly iova: string; readonly paddr: string; readonly size: string }[];
}

/** One IOMMU instance's IOTLB. */
export interface IotlbSnapshot {
  readonly iommu: string;
  /** Valid entries (the first 256). */
  readonly entries: readonly {
    readonly iova: string;
    readonly output: string;
    readonly size: string;
    readonly perm: number;
    readonly asid: number;
    readonly vmid: number;
    readonly stream: number;
  }[];
  readonly validEntries: number;
  readonly stats: IotlbStats;
}

/** A fault the core counted. */
export interface FaultSnapshot {
  readonly device: string;
  readonly domain: string;
  readonly iova: string;
  readonly write: boolean;
  readonly result: string | number;
  readonly time: number;
}

/** The whole machine at one point of a run. */
export interface MachineSnapshot {
  /** Virtual time, ns. */
  readonly time: number;
  readonly groups: readonly GroupSnapshot[];
  readonly devices: readonly DeviceSnapshot[];
  readonly domains: readonly DomainSnapshot[];
  readonly iotlbs: readonly IotlbSnapshot[];
  /** The most recent faults (up to 16), oldest first. */
  readonly faults: readonly FaultSnapshot[];
  readonly faultCount: number;
}

/** Every live domain the machine has: groups' domains and the scenario's named ones. */
export function liveDomains(ctx: RunContext): IommuDomain[] {
  const all = new Map<number, IommuDomain>();
  for (const g of ctx.core.groups())
    for (const d of [g.domain, g.defaultDomain, g.blockingDomain]) if (d && !d.freed) all.set(d.id, d);
  for (const d of ctx.namedDomains.values()) if (!d.freed) all.set(d.id, d);
  return [...all.values()].sort((a, b) => a.id - b.id);
}

/** Takes a snapshot of the machine behind `ctx`. */
export function takeSnapshot(ctx: RunContext): MachineSnapshot {
  const { core } = ctx;
  const label = (d: IommuDomain | undefined) => ctx.domainLabel(d);
  const groups = core.groups().map((g) => ({
    id: g.id,
    iommu: g.iommu,
    devices: g.devices.map((d) => ctx.deviceLabel(d)),
    domain: label(g.domain),
    defaultDomain: label(g.defaultDomain),
    ownerCount: g.ownerCount,
    owned: g.owner !== undefined,
  }));
  const devices = core.devices().map((d) => ({
    name: ctx.deviceLabel(d),
    deviceName: d.name,
    iommu: d.group?.iommu,
    group: d.group?.id,
    domain: label(d.group ? core.getDomainForDevice(d) : undefined),
    defaultDomain: label(d.group?.defaultDomain),
    dmaApiUsable: core.dmaApiUsable(d),
  }));
  const domains = liveDomains(ctx).map((d) => ({
    label: label(d),
    id: d.id,
    type: domainTypeName(d.type),
    iommu: d.iommu,
    groups: core
      .groups()
      .filter((g) => g.domain === d)
      .map((g) => g.id),
    mappings: ctx.mappings
      .ranges(d.id)
      .map((r) => ({ iova: hex(r.iova), paddr: hex(r.paddr), size: hex(r.size) })),
  }));
  const iotlbs: IotlbSnapshot[] = [];
  for (const [name, backend] of ctx.machine.backends) {
    const tlb = iotlbOf(backend);
    if (!tlb) continue;
    const entries = tlb.snapshot();
    iotlbs.push({
      iommu: name,
      validEntries: entries.length,
      entries: entries.slice(0, 256).map((e) => ({
        iova: hex(e.iova),
        output: hex(e.output),
        size: hex(e.size),
        perm: e.perm,
        asid: e.asid,
        vmid: e.vmid,
        stream: e.stream,
      })),
      stats: structuredClone(tlb.stats()),
    });
  }
  const faults = core.faults.slice(-16).map((f) => ({
    device: ctx.deviceLabel(f.device),
    domain: label(f.domain),
    iova: hex(f.iova),
    write: (f.flags & 1) === 1,
    result: f.result,
    time: f.time,
  }));
  return { time: core.now(), groups, devices, domains, iotlbs, faults, faultCount: core.faultCount };
}
