/**
 * The core's internal state, shared by the modules that implement the IOMMU API. Not exported from
 * the package: users hold only handles (devices, groups, domains) and the core object.
 */
import type { IommuBackend } from "./backend.js";
import type { VirtualClock } from "./clock.js";
import type { IommuDevice, PciDevice, PlatformDevice } from "./device.js";
import type { DomainRecord, IommuDomain } from "./domain.js";
import type { DomainType } from "./domain-type.js";
import type { DriverDomain } from "./driver.js";
import { IommuError } from "./errors.js";
import type { EventStream } from "./events.js";
import type { FaultRecord } from "./fault.js";
import type { GroupIdAllocator, GroupRecord, IommuGroup } from "./group.js";

/** A message the core logged (Linux's `dev_warn` / `WARN_ON`). */
export interface LogRecord {
  /** Severity. */
  readonly level: "info" | "warn";
  /** The message. */
  readonly message: string;
  /** Virtual time, ns. */
  readonly time: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Internal fields of every device record. */
interface DeviceInternals {
  /** IOMMU instance asked for (option or firmware), before probe resolves it. */
  requestedIommu: string | undefined;
  /** The backend that probed the device. */
  backend: IommuBackend | undefined;
  /** Kernel DMA-API users bound (for `deviceUnuseDefaultDomain` bookkeeping). */
  dmaUsers: number;
  /** Identity of the core that created the device. */
  readonly core: object;
}

/** The core's mutable PCI device record. */
export type PciDeviceRecord = Mutable<PciDevice> & DeviceInternals;
/** The core's mutable platform device record. */
export type PlatformDeviceRecord = Mutable<PlatformDevice> &
  DeviceInternals & { streamIds: readonly number[] };
/** Any device record. */
export type DeviceRecord = PciDeviceRecord | PlatformDeviceRecord;

/** Resolved global default-domain policy. */
export interface DomainPolicy {
  /** `iommu_def_domain_type`. */
  type: DomainType;
  /** `iommu_dma_strict`. */
  strict: boolean;
}

/** Everything the core's modules share. */
export interface CoreState {
  /** Identity of this core, stamped on every domain it allocates. */
  readonly token: object;
  readonly policy: DomainPolicy;
  readonly clock: VirtualClock;
  readonly events: EventStream;
  readonly log: LogRecord[];
  readonly devices: DeviceRecord[];
  readonly groups: Map<number, GroupRecord>;
  readonly groupIds: GroupIdAllocator;
  readonly iommus: Map<string, IommuBackend>;
  /** Driver domain -> the core's record, for fault reports coming up from backends. */
  readonly byDriverDomain: WeakMap<DriverDomain, DomainRecord>;
  nextDomainId: number;
  readonly faults: FaultRecord[];
  faultCount: number;
  /** Largest number of log and fault records kept. */
  readonly historyLimit: number;
}

/** Logs a warning (or info) record, dropping the oldest beyond the history limit. */
export function logMessage(state: CoreState, level: LogRecord["level"], message: string): void {
  state.log.push({ level, message, time: state.clock.now() });
  if (state.log.length > state.historyLimit) state.log.shift();
}

/** Returns the record behind a domain handle of this core, or throws `EINVAL`. */
export function domainRecord(state: CoreState, domain: IommuDomain): DomainRecord {
  const record = domain as DomainRecord;
  if (record === null || typeof record !== "object" || record.owner !== state.token) {
    throw new IommuError("EINVAL", "domain does not belong to this IOMMU core");
  }
  if (record.freed) throw new IommuError("EINVAL", `domain ${record.id} was freed`);
  return record;
}

/** Returns the record behind a device handle of this core, or throws `ENODEV`. */
export function deviceRecord(state: CoreState, device: IommuDevice): DeviceRecord {
  const record = device as DeviceRecord;
  if (record === null || typeof record !== "object" || record.core !== state.token || !record.present) {
    throw new IommuError("ENODEV", `device ${String(device?.name)} is not present in this machine`);
  }
  return record;
}

/** Returns the record behind a group handle of this core, or throws `ENODEV`. */
export function groupRecord(state: CoreState, group: IommuGroup): GroupRecord {
  const record = state.groups.get(group?.id);
  if (record === undefined || record !== group) {
    throw new IommuError("ENODEV", `group ${String(group?.id)} does not exist in this machine`);
  }
  return record;
}
