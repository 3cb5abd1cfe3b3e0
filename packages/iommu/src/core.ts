/**
 * The IOMMU core of a simulated machine: devices and buses, registered IOMMU instances, groups,
 * domains, and the IOMMU API over them. `createIommuCore()` is the way in.
 */
import { type AddressLike, hex, toAddr } from "./address.js";
import * as attach from "./attach.js";
import type { DmaFaultReason, IommuBackend, IommuHost } from "./backend.js";
import { createVirtualClock, type VirtualClock } from "./clock.js";
import {
  DEFAULT_DMA_MASK,
  type IommuDevice,
  isBridgeKind,
  type PciDevice,
  type PciDeviceOptions,
  type PlatformDevice,
  type PlatformDeviceOptions,
  pciName,
} from "./device.js";
import type { IommuDomain } from "./domain.js";
import { allocDomain, freeDomain } from "./domain-alloc.js";
import {
  type DomainType,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
} from "./domain-type.js";
import type { IommuCap } from "./driver.js";
import { IommuError } from "./errors.js";
import { createEventStream, type IommuEventListener } from "./events.js";
import type { FaultHandler, FaultRecord, FaultResult } from "./fault.js";
import { reportFault } from "./fault-report.js";
import type { IotlbGather } from "./gather.js";
import type { IommuGroup } from "./group.js";
import { createGroupIdAllocator } from "./group.js";
import * as mapping from "./map.js";
import type { PhysBus } from "./memory.js";
import * as owner from "./ownership.js";
import { probeAll, probeDevice, releaseDevice } from "./probe.js";
import { mergeResvRegions, type ResvRegion, toResvRegion } from "./resv.js";
import {
  type CoreState,
  type DeviceRecord,
  deviceRecord,
  domainRecord,
  groupRecord,
  type LogRecord,
  type PciDeviceRecord,
  type PlatformDeviceRecord,
} from "./state.js";
import { syncGather, unmapRange, unmapSync } from "./unmap.js";

/** Options for {@link createIommuCore}: the kernel command line and Kconfig of the machine. */
export interface IommuCoreOptions {
  /** `iommu.passthrough=1`: identity default domains. @default false */
  passthrough?: boolean;
  /** `iommu.strict`: strict (DMA) rather than lazy (DMA_FQ) default domains. @default true */
  strict?: boolean;
  /** System memory, for the layers above (bounce buffers, user pages). @default none */
  memory?: PhysBus;
  /** Log and fault records kept. @default 1000 */
  historyLimit?: number;
}

/** A scatterlist entry for {@link IommuCore.mapSg}. */
export interface SgEntry {
  /** Physical address of the segment. */
  readonly paddr: AddressLike;
  /** Length in bytes. */
  readonly length: AddressLike;
  /** A PCI peer-to-peer bus address: skipped, not mapped (`sg_dma_is_bus_address`). @default false */
  readonly busAddress?: boolean;
}

/** A device DMA transaction for {@link IommuCore.deviceDma}. */
export interface DeviceDmaRequest {
  /** IO address. */
  readonly iova: AddressLike;
  /** Bytes (> 0). */
  readonly length: number;
  /** Write to memory (true) or read from it. */
  readonly write: boolean;
  /** PASID, where the hardware has them. */
  readonly pasid?: number;
  /** Bytes to write (required for writes, `length` long). */
  readonly data?: Uint8Array;
}

/** The outcome of {@link IommuCore.deviceDma}. */
export type DeviceDmaResult =
  | { readonly ok: true; readonly data: Uint8Array | undefined }
  | {
      readonly ok: false;
      readonly iova: bigint;
      readonly flags: number;
      readonly reason: DmaFaultReason;
      readonly reported: FaultResult | undefined;
    };

/** The IOMMU core of one machine. */
export interface IommuCore {
  /** The machine's virtual clock. */
  readonly clock: VirtualClock;
  /** Virtual time in ns (`clock.now()`). */
  now(): number;
  /** Advances virtual time, firing due timers (`clock.advance()`). */
  advance(ns: number): void;
  /** System memory given in the options, if any. */
  readonly memory: PhysBus | undefined;
  /** Global default-domain type (`iommu_def_domain_type`). */
  readonly defaultDomainType: DomainType;
  /** Strict invalidation policy (`iommu_dma_strict`). */
  readonly strict: boolean;
  /** Forces strict mode; later default domains are DMA, not DMA_FQ (`iommu_set_dma_strict()`). */
  setDmaStrict(): void;
  /** Warnings and notes, oldest first (bounded by `historyLimit`). */
  readonly log: readonly LogRecord[];
  /** Faults reported, oldest first (bounded); `faultCount` counts them all. */
  readonly faults: readonly FaultRecord[];
  /** Faults reported since creation. */
  readonly faultCount: number;
  /** Subscribes to the tracepoint event stream; returns the unsubscribe function. */
  subscribe(listener: IommuEventListener): () => void;

  /** Registers an IOMMU instance and probes the devices behind it (`iommu_device_register()`). `EEXIST` for a taken name. */
  registerIommu(backend: IommuBackend): void;
  /** Releases the devices behind an instance and forgets it (`iommu_device_unregister()`). */
  unregisterIommu(name: string): void;
  /** Registered instances. */
  iommus(): readonly IommuBackend[];

  /** Adds a PCI function and probes it (bus scan + `iommu_probe_device()`). `EEXIST` / `EINVAL` on bad topology. */
  addPciDevice(options: PciDeviceOptions): PciDevice;
  /** Adds a platform device and probes it when it has a firmware IOMMU specifier. */
  addPlatformDevice(options: PlatformDeviceOptions): PlatformDevice;
  /** Removes a device (hot-unplug); `EBUSY` for a bridge with devices behind it. */
  removeDevice(device: IommuDevice): void;
  /** Present devices in creation order. */
  devices(): readonly IommuDevice[];
  /** The PCI function at segment/bus/devfn, if present. */
  findPciDevice(segment: number, bus: number, devfn: number): PciDevice | undefined;

  /** A device's group, `undefined` without one (`iommu_group_get()`). */
  groupGet(device: IommuDevice): IommuGroup | undefined;
  /** A group by id. */
  groupById(id: number): IommuGroup | undefined;
  /** All groups, by id. */
  groups(): readonly IommuGroup[];
  /** A device's reserved regions (`iommu_get_resv_regions()`). */
  deviceResvRegions(device: IommuDevice): readonly ResvRegion[];
  /** A group's merged reserved regions (`iommu_get_group_resv_regions()`). */
  groupResvRegions(group: IommuGroup): readonly ResvRegion[];
  /** Whether the device's IOMMU has a capability (`device_iommu_capable()`); false without an IOMMU. */
  capable(device: IommuDevice, cap: IommuCap): boolean;

  /**
   * Allocates a domain on the device's IOMMU (`iommu_paging_domain_alloc()` / `iommu_domain_alloc()`).
   * DMA_FQ is allocated as DMA by the driver and marked DMA_FQ by the core. `ENODEV` without an
   * IOMMU, `EOPNOTSUPP` when the driver lacks the type, driver errors (`ENOMEM`) otherwise.
   * @default type IOMMU_DOMAIN_UNMANAGED
   */
  domainAlloc(device: IommuDevice, type?: DomainType): IommuDomain;
  /** Frees a domain (`iommu_domain_free()`); `EBUSY` while attached. */
  domainFree(domain: IommuDomain): void;

  /** `iommu_attach_device()`: `ENODEV` without a group, `EINVAL` unless alone in it, `EBUSY` over a non-core domain. */
  attachDevice(domain: IommuDomain, device: IommuDevice): void;
  /** `iommu_detach_device()`: back to the default (or blocking, if owned) domain; warns on misuse. */
  detachDevice(domain: IommuDomain, device: IommuDevice): void;
  /** `iommu_attach_group()`: as `attachDevice` without the singleton check. */
  attachGroup(domain: IommuDomain, group: IommuGroup): void;
  /** `iommu_detach_group()`. */
  detachGroup(domain: IommuDomain, group: IommuGroup): void;
  /** The domain the device's group is attached to (`iommu_get_domain_for_dev()`). */
  getDomainForDevice(device: IommuDevice): IommuDomain | undefined;
  /** The device's default domain, the one the DMA API maps into (`iommu_get_dma_domain()`). */
  getDmaDomain(device: IommuDevice): IommuDomain | undefined;

  /** A kernel driver binds (`iommu_device_use_default_domain()`); `EBUSY` when owned or off default. */
  deviceUseDefaultDomain(device: IommuDevice): void;
  /** The kernel driver unbinds (`iommu_device_unuse_default_domain()`). */
  deviceUnuseDefaultDomain(device: IommuDevice): void;
  /** `iommu_group_claim_dma_owner()`: `EPERM` when used or claimed, `EBUSY` off default. */
  groupClaimDmaOwner(group: IommuGroup, owner: object): void;
  /** `iommu_group_release_dma_owner()`. */
  groupReleaseDmaOwner(group: IommuGroup): void;
  /** `iommu_group_dma_owner_claimed()`: any owner count. */
  groupDmaOwnerClaimed(group: IommuGroup): boolean;
  /** `iommu_device_claim_dma_owner()`. */
  deviceClaimDmaOwner(device: IommuDevice, owner: object): void;
  /** `iommu_device_release_dma_owner()`. */
  deviceReleaseDmaOwner(device: IommuDevice): void;
  /** Whether the DMA API may be used for the device now (no IOMMU, or group on its default domain). */
  dmaApiUsable(device: IommuDevice): boolean;

  /** `iommu_map()`: see the checks on `mapRange`; throws the errno, leaving nothing mapped. */
  map(domain: IommuDomain, iova: AddressLike, paddr: AddressLike, size: AddressLike, prot: number): void;
  /** `iommu_map_sg()`: returns bytes mapped; throws after unmapping what it mapped. */
  mapSg(domain: IommuDomain, iova: AddressLike, sg: readonly SgEntry[], prot: number): bigint;
  /** `iommu_unmap()`: unmaps and syncs; returns bytes unmapped (never throws for an unmappable range). */
  unmap(domain: IommuDomain, iova: AddressLike, size: AddressLike): bigint;
  /** `iommu_unmap_fast()`: unmaps into `gather`; the caller syncs with `iotlbSync`. */
  unmapFast(domain: IommuDomain, iova: AddressLike, size: AddressLike, gather: IotlbGather): bigint;
  /** `iommu_iotlb_sync()`: invalidates what `gather` collected, then empties it. */
  iotlbSync(domain: IommuDomain, gather: IotlbGather): void;
  /** `iommu_flush_iotlb_all()`. */
  flushIotlbAll(domain: IommuDomain): void;
  /** `iommu_iova_to_phys()`: 0 when unmapped. */
  iovaToPhys(domain: IommuDomain, iova: AddressLike): bigint;

  /** `iommu_set_fault_handler()`. */
  setFaultHandler(domain: IommuDomain, handler: FaultHandler | undefined, token?: unknown): void;
  /** `report_iommu_fault()`: the handler's answer or `"ENOSYS"`; never throws. */
  reportIommuFault(domain: IommuDomain, device: IommuDevice, iova: AddressLike, flags: number): FaultResult;

  /** A device issues DMA through its IOMMU's datapath. `ENODEV` when no IOMMU translates it. */
  deviceDma(device: IommuDevice, request: DeviceDmaRequest): DeviceDmaResult;
  /** Whether a stale IOTLB entry still translates `iova` for the device; `EOPNOTSUPP` if the backend cannot tell. */
  staleTranslation(device: IommuDevice, iova: AddressLike): boolean;
}

function checkField(value: number | undefined, max: number, what: string): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new IommuError("EINVAL", `${what} ${String(value)} is not in 0..${max}`);
  return v;
}

/**
 * Creates the IOMMU core of a machine: no devices, no IOMMUs, the default-domain policy from the
 * options (translated and strict unless told otherwise), a virtual clock at 0.
 */
export function createIommuCore(options: IommuCoreOptions = {}): IommuCore {
  const strict = options.strict ?? true;
  const state: CoreState = {
    token: {},
    policy: {
      type: options.passthrough ? IOMMU_DOMAIN_IDENTITY : strict ? IOMMU_DOMAIN_DMA : IOMMU_DOMAIN_DMA_FQ,
      strict,
    },
    clock: createVirtualClock(),
    events: createEventStream(),
    log: [],
    devices: [],
    groups: new Map(),
    groupIds: createGroupIdAllocator(),
    iommus: new Map(),
    byDriverDomain: new WeakMap(),
    nextDomainId: 1,
    faults: [],
    faultCount: 0,
    historyLimit: options.historyLimit ?? 1000,
  };

  const dom = (domain: IommuDomain) => domainRecord(state, domain);
  const dev = (device: IommuDevice) => deviceRecord(state, device);
  const grp = (group: IommuGroup) => groupRecord(state, group);
  const names = new Set<string>();

  const hostFor = (backend: IommuBackend): IommuHost => ({
    reportFault: (driverDomain, device, iova, flags) =>
      reportFault(state, state.byDriverDomain.get(driverDomain), device, iova, flags, backend.driver.name),
    now: () => state.clock.now(),
    warn: (message) => {
      state.log.push({ level: "warn", message: `${backend.name}: ${message}`, time: state.clock.now() });
      if (state.log.length > state.historyLimit) state.log.shift();
    },
  });

  const addDevice = (record: DeviceRecord): void => {
    if (names.has(record.name))
      throw new IommuError("EEXIST", `a device named ${record.name} already exists`);
    names.add(record.name);
    state.devices.push(record);
    probeDevice(state, record);
  };

  const core: IommuCore = {
    clock: state.clock,
    now: () => state.clock.now(),
    advance: (ns) => state.clock.advance(ns),
    memory: options.memory,
    get defaultDomainType() {
      return state.policy.type;
    },
    get strict() {
      return state.policy.strict;
    },
    setDmaStrict() {
      state.policy.strict = true;
      if (state.policy.type === IOMMU_DOMAIN_DMA_FQ) state.policy.type = IOMMU_DOMAIN_DMA;
    },
    log: state.log,
    faults: state.faults,
    get faultCount() {
      return state.faultCount;
    },
    subscribe: (listener) => state.events.subscribe(listener),

    registerIommu(backend) {
      if (state.iommus.has(backend.name))
        throw new IommuError("EEXIST", `an IOMMU named ${backend.name} is registered`);
      backend.connect(hostFor(backend));
      state.iommus.set(backend.name, backend);
      probeAll(state);
    },
    unregisterIommu(name) {
      const backend = state.iommus.get(name);
      if (backend === undefined) throw new IommuError("ENODEV", `no IOMMU named ${name}`);
      for (const device of [...state.devices].reverse())
        if (device.backend === backend) releaseDevice(state, device);
      state.iommus.delete(name);
    },
    iommus: () => [...state.iommus.values()],

    addPciDevice(o) {
      const segment = checkField(o.segment, 0xffff, "PCI segment");
      const bus = checkField(o.bus, 0xff, "PCI bus");
      const slot = checkField(o.slot, 31, "PCI slot");
      const fn = checkField(o.fn, 7, "PCI function");
      const kind = o.kind ?? "endpoint";
      const devfn = (slot << 3) | fn;
      if (
        state.devices.some(
          (d) => d.busType === "pci" && d.segment === segment && d.bus === bus && d.devfn === devfn,
        )
      ) {
        throw new IommuError("EEXIST", `PCI device ${pciName(segment, bus, slot, fn)} already exists`);
      }
      let secondaryBus: number | undefined;
      if (isBridgeKind(kind)) {
        secondaryBus = checkField(o.secondaryBus, 0xff, "secondary bus");
        if (o.secondaryBus === undefined) throw new IommuError("EINVAL", `a ${kind} needs a secondaryBus`);
        if (secondaryBus <= bus)
          throw new IommuError("EINVAL", `secondary bus ${secondaryBus} must be above bus ${bus}`);
        if (
          state.devices.some(
            (d) => d.busType === "pci" && d.segment === segment && d.secondaryBus === secondaryBus,
          )
        ) {
          throw new IommuError("EEXIST", `bus ${secondaryBus} of segment ${segment} already has a bridge`);
        }
      } else if (o.secondaryBus !== undefined) {
        throw new IommuError("EINVAL", `a ${kind} has no secondary bus`);
      }
      const upstream = state.devices.find(
        (d): d is PciDeviceRecord => d.busType === "pci" && d.segment === segment && d.secondaryBus === bus,
      );
      for (const alias of o.dmaAliasDevfns ?? []) checkField(alias, 0xff, "DMA alias devfn");
      const record: PciDeviceRecord = {
        busType: "pci",
        name: pciName(segment, bus, slot, fn),
        index: state.devices.length,
        segment,
        bus,
        slot,
        fn,
        devfn,
        requesterId: (bus << 8) | devfn,
        kind,
        acs: o.acs ?? 0,
        multifunction: o.multifunction ?? fn !== 0,
        untrusted: (o.untrusted ?? false) || (upstream?.untrusted ?? false),
        secondaryBus,
        upstream,
        dmaAliasDevfns: [...(o.dmaAliasDevfns ?? [])],
        dmaMask: o.dmaMask ?? DEFAULT_DMA_MASK,
        coherentDmaMask: o.coherentDmaMask ?? DEFAULT_DMA_MASK,
        group: undefined,
        fwspec: undefined,
        present: true,
        driverData: undefined,
        requestedIommu: o.iommu,
        backend: undefined,
        dmaUsers: 0,
        core: state.token,
      };
      addDevice(record);
      return record;
    },
    addPlatformDevice(o) {
      if (typeof o.name !== "string" || o.name.length === 0)
        throw new IommuError("EINVAL", "a platform device needs a name");
      const record: PlatformDeviceRecord = {
        busType: "platform",
        name: o.name,
        index: state.devices.length,
        untrusted: false,
        dmaMask: o.dmaMask ?? DEFAULT_DMA_MASK,
        coherentDmaMask: o.coherentDmaMask ?? DEFAULT_DMA_MASK,
        group: undefined,
        fwspec: undefined,
        present: true,
        driverData: undefined,
        requestedIommu: o.firmware?.iommu,
        streamIds: [...(o.firmware?.streamIds ?? [])],
        backend: undefined,
        dmaUsers: 0,
        core: state.token,
      };
      addDevice(record);
      return record;
    },
    removeDevice(device) {
      const record = dev(device);
      if (record.busType === "pci" && record.secondaryBus !== undefined) {
        const child = state.devices.find((d) => d.busType === "pci" && d.upstream === record);
        if (child)
          throw new IommuError("EBUSY", `${record.name} has ${child.name} behind it; remove that first`);
      }
      releaseDevice(state, record);
      record.present = false;
      state.devices.splice(state.devices.indexOf(record), 1);
      names.delete(record.name);
    },
    devices: () => [...state.devices],
    findPciDevice: (segment, bus, devfn) =>
      state.devices.find(
        (d): d is PciDeviceRecord =>
          d.busType === "pci" && d.segment === segment && d.bus === bus && d.devfn === devfn,
      ),

    groupGet: (device) => dev(device).group,
    groupById: (id) => state.groups.get(id),
    groups: () => [...state.groups.values()].sort((a, b) => a.id - b.id),
    deviceResvRegions(device) {
      const record = dev(device);
      return record.backend ? record.backend.driver.getResvRegions(record).map(toResvRegion) : [];
    },
    groupResvRegions(group) {
      const record = grp(group);
      const backend = state.iommus.get(record.iommu);
      if (!backend) return [];
      return mergeResvRegions(record.devices.flatMap((d) => backend.driver.getResvRegions(d))).map(
        toResvRegion,
      );
    },
    capable(device, cap) {
      const record = dev(device);
      return record.backend ? record.backend.driver.capable(record, cap) : false;
    },

    domainAlloc(device, type = IOMMU_DOMAIN_UNMANAGED) {
      const record = dev(device);
      const backend = record.backend;
      if (backend === undefined) throw new IommuError("ENODEV", `${record.name} is not behind an IOMMU`);
      const domain = allocDomain(state, backend, type, record);
      if (domain === null)
        throw new IommuError("EOPNOTSUPP", `${backend.name} offers no domain of type ${type}`);
      return domain;
    },
    domainFree: (domain) => freeDomain(state, dom(domain)),

    attachDevice: (domain, device) => attach.attachDevice(state, dom(domain), dev(device)),
    detachDevice: (domain, device) => attach.detachDevice(state, dom(domain), dev(device)),
    attachGroup: (domain, group) => attach.attachGroup(state, dom(domain), grp(group)),
    detachGroup: (domain, group) => attach.detachGroup(state, dom(domain), grp(group)),
    getDomainForDevice: (device) => dev(device).group?.domain,
    getDmaDomain: (device) => dev(device).group?.defaultDomain,

    deviceUseDefaultDomain: (device) => owner.deviceUseDefaultDomain(dev(device)),
    deviceUnuseDefaultDomain: (device) => owner.deviceUnuseDefaultDomain(state, dev(device)),
    groupClaimDmaOwner: (group, o) => owner.groupClaimDmaOwner(state, grp(group), o),
    groupReleaseDmaOwner: (group) => owner.groupReleaseDmaOwner(state, grp(group)),
    groupDmaOwnerClaimed: (group) => grp(group).ownerCount !== 0,
    deviceClaimDmaOwner: (device, o) => owner.deviceClaimDmaOwner(state, dev(device), o),
    deviceReleaseDmaOwner: (device) => owner.deviceReleaseDmaOwner(state, dev(device)),
    dmaApiUsable: (device) => owner.dmaApiUsable(dev(device)),

    map(domain, iova, paddr, size, prot) {
      mapping.mapSync(
        state,
        dom(domain),
        toAddr(iova, "iova"),
        toAddr(paddr, "paddr"),
        toAddr(size, "size"),
        prot,
      );
    },
    mapSg(domain, iova, sg, prot) {
      const runs = sg.map((e, i) => ({
        paddr: toAddr(e.paddr, `sg[${i}].paddr`),
        length: toAddr(e.length, `sg[${i}].length`),
        busAddress: e.busAddress ?? false,
      }));
      return BigInt(mapping.mapSg(state, dom(domain), toAddr(iova, "iova"), runs, prot));
    },
    unmap: (domain, iova, size) =>
      BigInt(unmapSync(state, dom(domain), toAddr(iova, "iova"), toAddr(size, "size"))),
    unmapFast(domain, iova, size, gather) {
      const record = dom(domain);
      const at = toAddr(iova, "iova");
      const len = toAddr(size, "size");
      const unmapped = unmapRange(state, record, at, len, gather);
      if (state.events.active) {
        state.events.emit({
          type: "unmap",
          domainId: record.id,
          iova: BigInt(at),
          size: BigInt(len),
          unmappedSize: BigInt(unmapped),
        });
      }
      return BigInt(unmapped);
    },
    iotlbSync: (domain, gather) => syncGather(dom(domain), gather),
    flushIotlbAll(domain) {
      dom(domain).driver.flushIotlbAll?.();
    },
    iovaToPhys: (domain, iova) => BigInt(mapping.iovaToPhys(dom(domain), toAddr(iova, "iova"))),

    setFaultHandler(domain, handler, token) {
      const record = dom(domain);
      record.faultHandler = handler;
      record.faultToken = token;
    },
    reportIommuFault(domain, device, iova, flags) {
      const record = dom(domain);
      const backend = dev(device).backend;
      return reportFault(state, record, device, toAddr(iova, "iova"), flags, backend?.driver.name ?? "none");
    },

    deviceDma(device, request) {
      const record = dev(device);
      const backend = record.backend;
      if (backend === undefined) throw new IommuError("ENODEV", `${record.name} is not behind an IOMMU`);
      const iova = toAddr(request.iova, "iova");
      const { length, write, data } = request;
      if (!Number.isSafeInteger(length) || length <= 0)
        throw new IommuError("EINVAL", `DMA length ${length} must be positive`);
      if (write && (data === undefined || data.length !== length)) {
        throw new IommuError("EINVAL", `a DMA write of ${length} bytes needs ${length} bytes of data`);
      }
      if (iova + length > Number.MAX_SAFE_INTEGER)
        throw new IommuError("ERANGE", `DMA at ${hex(iova)} overflows`);
      const result = backend.dma(record, {
        iova,
        length,
        write,
        ...(request.pasid !== undefined ? { pasid: request.pasid } : {}),
        ...(data !== undefined ? { data } : {}),
      });
      if (result.ok) return result;
      return {
        ok: false,
        iova: BigInt(result.iova),
        flags: result.flags,
        reason: result.reason,
        reported: result.reported,
      };
    },
    staleTranslation(device, iova) {
      const record = dev(device);
      const backend = record.backend;
      if (backend?.staleTranslation === undefined) {
        throw new IommuError("EOPNOTSUPP", `${record.name}: the IOMMU cannot report stale translations`);
      }
      return backend.staleTranslation(record, toAddr(iova, "iova"));
    },
  };
  return core;
}
