/**
 * Probing devices against their IOMMU and releasing them (drivers/iommu/iommu.c
 * `iommu_probe_device()`, `__iommu_probe_device()`, `iommu_release_device()`,
 * `iommu_group_add_device()`, `iommu_group_remove_device()`).
 */
import { attachOneDevice, setGroupDomain } from "./attach.js";
import type { IommuBackend } from "./backend.js";
import { allocDefaultDomain, createDirectMappings } from "./default-domain.js";
import type { IommuDevice, PciDevice } from "./device.js";
import type { DomainRecord } from "./domain.js";
import { freeDomain } from "./domain-alloc.js";
import type { DeviceGroupHelpers } from "./driver.js";
import { isIommuSimError } from "./errors.js";
import type { GroupRecord, IommuGroup } from "./group.js";
import { pciDeviceGroup, pciDmaAliases } from "./pci-group.js";
import { type CoreState, type DeviceRecord, logMessage } from "./state.js";

/** The IOMMU instance a device is behind, if registered. */
export function resolveBackend(state: CoreState, device: DeviceRecord): IommuBackend | undefined {
  let wanted = device.requestedIommu;
  if (wanted === undefined && device.busType === "pci") {
    for (let up = device.upstream as DeviceRecord | undefined; up && wanted === undefined; ) {
      wanted = up.requestedIommu;
      up = up.busType === "pci" ? (up.upstream as DeviceRecord | undefined) : undefined;
    }
    if (wanted === undefined && state.iommus.size === 1) return state.iommus.values().next().value;
  }
  return wanted === undefined ? undefined : state.iommus.get(wanted);
}

function newGroup(state: CoreState, iommu: string): GroupRecord {
  const group: GroupRecord = {
    id: state.groupIds.take(),
    iommu,
    devices: [],
    defaultDomain: undefined,
    domain: undefined,
    blockingDomain: undefined,
    ownerCount: 0,
    owner: undefined,
  };
  state.groups.set(group.id, group);
  return group;
}

function groupHelpers(state: CoreState, iommu: string): DeviceGroupHelpers {
  const groupOf = (device: IommuDevice) => device.group;
  return {
    generic: () => newGroup(state, iommu),
    pci: (device) =>
      device.busType === "pci"
        ? pciDeviceGroup(
            {
              devices: state.devices.filter(
                (d): d is DeviceRecord & PciDevice => d.busType === "pci" && d.present,
              ),
              groupOf: (d) => (d.group?.iommu === iommu ? d.group : undefined),
              allocGroup: () => newGroup(state, iommu),
            },
            device,
          )
        : newGroup(state, iommu),
    groupOf,
  };
}

// Frees an empty group: its default and blocking domains, and its id.
function dropGroupIfEmpty(state: CoreState, group: GroupRecord): void {
  if (group.devices.length > 0) return;
  const current = group.domain as DomainRecord | undefined;
  if (current) current.attachedGroups--;
  group.domain = undefined;
  for (const domain of [group.defaultDomain, group.blockingDomain] as (DomainRecord | undefined)[]) {
    if (domain && !domain.freed) freeDomain(state, domain);
  }
  group.defaultDomain = undefined;
  group.blockingDomain = undefined;
  state.groups.delete(group.id);
  state.groupIds.release(group.id);
}

function leaveGroup(state: CoreState, device: DeviceRecord): void {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) return;
  group.devices.splice(group.devices.indexOf(device), 1);
  if (device.dmaUsers > 0) {
    group.ownerCount = Math.max(0, group.ownerCount - device.dmaUsers);
    device.dmaUsers = 0;
  }
  device.group = undefined;
  if (state.events.active)
    state.events.emit({ type: "remove_device_from_group", groupId: group.id, device: device.name });
  dropGroupIfEmpty(state, group);
}

/**
 * Probes one device: the driver takes it, it joins a group (the driver's rule or the core's), the
 * group gets its default domain if new, direct mappings are made, the device is attached to the
 * group's current domain, then `probeFinalize`. With `defer`, a new group is returned without a
 * default domain (and nothing finalized) for {@link probeAll} to finish. Failures are logged, never
 * thrown: the device is left without an IOMMU, as Linux leaves a device whose probe failed.
 */
export function probeDevice(state: CoreState, device: DeviceRecord, defer = false): GroupRecord | undefined {
  if (device.group !== undefined || !device.present || device.backend !== undefined) return undefined;
  const backend = resolveBackend(state, device);
  if (backend === undefined) return undefined;
  device.fwspec = {
    iommu: backend.name,
    ids: device.busType === "pci" ? pciDmaAliases(device) : device.streamIds,
  };
  try {
    backend.driver.probeDevice(device);
  } catch (error) {
    device.fwspec = undefined;
    const code = isIommuSimError(error) ? error.code : "EIO";
    if (code !== "ENODEV")
      logMessage(state, "warn", `${device.name}: probe by ${backend.name} failed: ${String(error)}`);
    return;
  }
  device.backend = backend;
  let group: GroupRecord;
  try {
    const helpers = groupHelpers(state, backend.name);
    const chosen: IommuGroup = backend.driver.deviceGroup
      ? backend.driver.deviceGroup(device, helpers)
      : device.busType === "pci"
        ? helpers.pci(device)
        : helpers.generic(device);
    const record = state.groups.get(chosen.id);
    if (record === undefined || record !== chosen || record.iommu !== backend.name) {
      throw new Error(`driver returned group ${chosen.id}, not a group of ${backend.name}`);
    }
    group = record;
  } catch (error) {
    logMessage(state, "warn", `${device.name}: no IOMMU group: ${String(error)}`);
    backend.driver.releaseDevice(device);
    device.backend = undefined;
    device.fwspec = undefined;
    return undefined;
  }
  group.devices.push(device);
  device.group = group;
  if (state.events.active)
    state.events.emit({ type: "add_device_to_group", groupId: group.id, device: device.name });
  const fresh = group.devices.length === 1 && group.defaultDomain === undefined && group.domain === undefined;
  if (fresh && defer) return group;
  try {
    if (fresh) {
      setupDefaultDomain(state, backend, group);
    } else {
      tryDirectMappings(state, backend, group.defaultDomain as DomainRecord | undefined, device);
      const current = group.domain as DomainRecord | undefined;
      if (current) attachOneDevice(state, current, device);
    }
  } catch (error) {
    logMessage(
      state,
      "warn",
      `${device.name}: attaching to group ${group.id}'s domain failed: ${String(error)}`,
    );
    leaveGroup(state, device);
    backend.driver.releaseDevice(device);
    device.backend = undefined;
    device.fwspec = undefined;
    return undefined;
  }
  if (!defer) backend.driver.probeFinalize?.(device);
  return group;
}

/**
 * Gives a new group its default domain: type chosen over all its devices, allocated, direct
 * mappings of every device made, every device attached. Throws when attaching fails.
 */
function setupDefaultDomain(state: CoreState, backend: IommuBackend, group: GroupRecord): void {
  const domain = allocDefaultDomain(state, backend, group);
  group.defaultDomain = domain;
  if (domain === undefined) return;
  for (const device of group.devices) tryDirectMappings(state, backend, domain, device);
  setGroupDomain(state, group, domain);
}

/**
 * Probes every unprobed device the way `bus_iommu_probe()` does when an IOMMU registers: all devices
 * join their groups first, then each new group gets its default domain chosen over all its members
 * (so conflicting requirements are seen), then every device is finalized.
 */
export function probeAll(state: CoreState): void {
  const probed: DeviceRecord[] = [];
  const pending = new Set<GroupRecord>();
  for (const device of state.devices) {
    const group = probeDevice(state, device, true);
    if (group === undefined) continue;
    probed.push(device);
    if (group.defaultDomain === undefined && group.domain === undefined) pending.add(group);
  }
  for (const group of pending) {
    const backend = state.iommus.get(group.iommu)!;
    try {
      setupDefaultDomain(state, backend, group);
    } catch (error) {
      logMessage(state, "warn", `group ${group.id}: attaching its default domain failed: ${String(error)}`);
    }
  }
  for (const device of probed) device.backend?.driver.probeFinalize?.(device);
}

function tryDirectMappings(
  state: CoreState,
  backend: IommuBackend,
  domain: DomainRecord | undefined,
  device: IommuDevice,
): void {
  try {
    createDirectMappings(state, backend, domain, device);
  } catch (error) {
    logMessage(state, "warn", `${device.name}: direct mappings failed: ${String(error)}`);
  }
}

/**
 * Releases a probed device (`iommu_release_device()`): the driver forgets it, it leaves its group,
 * and an emptied group is freed with its default and blocking domains.
 */
export function releaseDevice(state: CoreState, device: DeviceRecord): void {
  const backend = device.backend;
  if (backend === undefined) return;
  backend.driver.releaseDevice(device);
  leaveGroup(state, device);
  device.backend = undefined;
  device.fwspec = undefined;
}
