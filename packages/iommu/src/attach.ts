/**
 * Attach and detach (drivers/iommu/iommu.c `iommu_attach_device()`, `__iommu_attach_group()`,
 * `iommu_detach_device()`, `__iommu_group_set_domain()`, `__iommu_group_set_core_domain()`).
 * Attachment is a group operation: every device of the group moves together, and "detach" is a
 * switch back to the core-owned domain, never to "no translation".
 */
import type { IommuDevice } from "./device.js";
import type { DomainRecord } from "./domain.js";
import { allocDomain } from "./domain-alloc.js";
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_UNMANAGED } from "./domain-type.js";
import { asIommuError, IommuError } from "./errors.js";
import type { GroupRecord } from "./group.js";
import { type CoreState, type DeviceRecord, logMessage } from "./state.js";

/** Points one device at `domain` through the driver, emitting the attach tracepoint. */
export function attachOneDevice(state: CoreState, domain: DomainRecord, device: IommuDevice): void {
  try {
    domain.driver.attachDevice(device);
  } catch (error) {
    throw asIommuError(error, `attaching ${device.name} to domain ${domain.id}`);
  }
  if (state.events.active) {
    state.events.emit({ type: "attach_device_to_domain", device: device.name, domainId: domain.id });
  }
}

/**
 * Switches every device of `group` to `next` (`__iommu_group_set_domain()`): a no-op when it is
 * already attached; on failure the devices already switched go back to the previous domain and the
 * error propagates, leaving the group as it was.
 */
export function setGroupDomain(state: CoreState, group: GroupRecord, next: DomainRecord): void {
  const prev = group.domain as DomainRecord | undefined;
  if (prev === next) return;
  const done: IommuDevice[] = [];
  for (const device of group.devices) {
    try {
      attachOneDevice(state, next, device);
    } catch (error) {
      for (const back of done) {
        if (prev === undefined) continue;
        try {
          attachOneDevice(state, prev, back);
        } catch (unwind) {
          logMessage(state, "warn", `${back.name}: re-attaching domain ${prev.id} failed: ${String(unwind)}`);
        }
      }
      throw error;
    }
    done.push(device);
  }
  if (prev !== undefined) {
    prev.attachedGroups--;
    if (state.events.active) {
      for (const device of group.devices) {
        state.events.emit({ type: "detach_device_from_domain", device: device.name, domainId: prev.id });
      }
    }
  }
  next.attachedGroups++;
  group.domain = next;
}

/**
 * Makes sure the group has a blocking domain (`__iommu_group_alloc_blocking_domain()`): a BLOCKED
 * domain, else an empty UNMANAGED one when the driver lacks BLOCKED; `EINVAL` when neither works.
 */
export function ensureBlockingDomain(state: CoreState, group: GroupRecord): DomainRecord {
  if (group.blockingDomain) return group.blockingDomain as DomainRecord;
  const backend = state.iommus.get(group.iommu);
  const first = group.devices[0];
  let domain: DomainRecord | null = null;
  if (backend) {
    try {
      domain = allocDomain(state, backend, IOMMU_DOMAIN_BLOCKED, first);
      domain ??= allocDomain(state, backend, IOMMU_DOMAIN_UNMANAGED, first);
    } catch (error) {
      throw new IommuError("EINVAL", `group ${group.id}: no blocking domain`, { cause: error });
    }
  }
  if (domain === null)
    throw new IommuError("EINVAL", `group ${group.id}: the driver offers no blocking domain`);
  group.blockingDomain = domain;
  return domain;
}

/**
 * Returns the group to its core-owned domain (`__iommu_group_set_core_domain()`): the blocking
 * domain while a DMA owner holds it, else the default domain (the blocking domain if it has none).
 */
export function setCoreDomain(state: CoreState, group: GroupRecord): void {
  const target =
    group.owner !== undefined || group.defaultDomain === undefined
      ? ensureBlockingDomain(state, group)
      : (group.defaultDomain as DomainRecord);
  setGroupDomain(state, group, target);
}

/**
 * Attaches a group to a domain (`__iommu_attach_group()`): `EBUSY` when the group is on a domain
 * other than its default or blocking domain (no stacking of a second non-core domain); `EINVAL` for
 * a domain of another IOMMU instance or a driver's refusal.
 */
export function attachGroup(state: CoreState, domain: DomainRecord, group: GroupRecord): void {
  if (
    group.domain !== undefined &&
    group.domain !== group.defaultDomain &&
    group.domain !== group.blockingDomain
  ) {
    throw new IommuError(
      "EBUSY",
      `group ${group.id} is attached to domain ${group.domain.id}; detach it before attaching domain ${domain.id}`,
    );
  }
  if (domain.iommu !== group.iommu) {
    throw new IommuError(
      "EINVAL",
      `domain ${domain.id} belongs to ${domain.iommu}, group ${group.id} to ${group.iommu}`,
    );
  }
  setGroupDomain(state, group, domain);
}

/** The group of a device, or `ENODEV` (`iommu_group_get()` returning NULL). */
export function groupOfDevice(device: DeviceRecord): GroupRecord {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) throw new IommuError("ENODEV", `${device.name} is not in an IOMMU group`);
  return group;
}

/** `iommu_attach_device()`: only for a device alone in its group (`EINVAL` otherwise). */
export function attachDevice(state: CoreState, domain: DomainRecord, device: DeviceRecord): void {
  const group = groupOfDevice(device);
  if (group.devices.length !== 1) {
    throw new IommuError(
      "EINVAL",
      `${device.name} shares group ${group.id} with ${group.devices.length - 1} other device(s): attach the group`,
    );
  }
  attachGroup(state, domain, group);
}

/**
 * `iommu_detach_group()`: warns and does nothing unless `domain` is the group's current domain;
 * otherwise returns the group to its core domain.
 */
export function detachGroup(state: CoreState, domain: DomainRecord, group: GroupRecord): void {
  if (group.domain !== domain) {
    logMessage(state, "warn", `detach: group ${group.id} is not attached to domain ${domain.id}`);
    return;
  }
  setCoreDomain(state, group);
}

/** `iommu_detach_device()`: as {@link detachGroup}, and warns for a group of more than one device. */
export function detachDevice(state: CoreState, domain: DomainRecord, device: DeviceRecord): void {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) {
    logMessage(state, "warn", `detach: ${device.name} is not in an IOMMU group`);
    return;
  }
  if (group.devices.length !== 1) {
    logMessage(state, "warn", `detach: ${device.name} shares group ${group.id}; detach the group`);
    return;
  }
  detachGroup(state, domain, group);
}
