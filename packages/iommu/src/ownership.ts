/**
 * DMA ownership: a group is used either by kernel drivers through the DMA API on its default
 * domain, or by one user owner (VFIO, iommufd) that starts from the blocking domain. Models
 * `iommu_device_use_default_domain()`, `iommu_group_claim_dma_owner()` and friends.
 */
import { ensureBlockingDomain, groupOfDevice, setCoreDomain, setGroupDomain } from "./attach.js";
import type { DomainRecord } from "./domain.js";
import { IommuError } from "./errors.js";
import type { GroupRecord } from "./group.js";
import { type CoreState, type DeviceRecord, logMessage } from "./state.js";

/**
 * A kernel driver binds to `device` (`iommu_device_use_default_domain()`): `EBUSY` while the group
 * is claimed by a user owner, or while others use it and it is off its default domain.
 * Devices without a group need nothing.
 */
export function deviceUseDefaultDomain(device: DeviceRecord): void {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) return;
  if (group.ownerCount !== 0 && (group.owner !== undefined || group.domain !== group.defaultDomain)) {
    throw new IommuError(
      "EBUSY",
      group.owner !== undefined
        ? `${device.name}: group ${group.id} is claimed for user DMA`
        : `${device.name}: group ${group.id} is not on its default domain`,
    );
  }
  group.ownerCount++;
  device.dmaUsers++;
}

/** The kernel driver unbinds (`iommu_device_unuse_default_domain()`); warns if nobody used it. */
export function deviceUnuseDefaultDomain(state: CoreState, device: DeviceRecord): void {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) return;
  if (group.ownerCount === 0 || device.dmaUsers === 0 || group.owner !== undefined) {
    logMessage(state, "warn", `${device.name}: unuse of the default domain without a matching use`);
    return;
  }
  group.ownerCount--;
  device.dmaUsers--;
}

// `__iommu_take_dma_ownership()`.
function takeOwnership(state: CoreState, group: GroupRecord, owner: object): void {
  if (group.domain !== undefined && group.domain !== group.defaultDomain) {
    throw new IommuError(
      "EBUSY",
      `group ${group.id} is attached to domain ${group.domain.id}, not its default domain`,
    );
  }
  const blocking = ensureBlockingDomain(state, group);
  setGroupDomain(state, group, blocking);
  group.owner = owner;
  group.ownerCount++;
}

// `__iommu_release_dma_ownership()`.
function releaseOwnership(state: CoreState, group: GroupRecord): void {
  group.ownerCount = 0;
  group.owner = undefined;
  try {
    setCoreDomain(state, group);
  } catch (error) {
    logMessage(state, "warn", `group ${group.id}: returning to the default domain failed: ${String(error)}`);
  }
}

function checkOwner(owner: unknown): asserts owner is object {
  if (owner === null || (typeof owner !== "object" && typeof owner !== "function")) {
    throw new IommuError("EINVAL", "a DMA owner must be a non-null object");
  }
}

/**
 * Claims a group for user DMA (`iommu_group_claim_dma_owner()`): `EPERM` while any kernel driver
 * uses it or it is already claimed; `EBUSY` when it is off its default domain; the group moves to
 * its blocking domain.
 */
export function groupClaimDmaOwner(state: CoreState, group: GroupRecord, owner: object): void {
  checkOwner(owner);
  if (group.ownerCount !== 0) {
    throw new IommuError(
      "EPERM",
      group.owner !== undefined
        ? `group ${group.id} is already claimed`
        : `group ${group.id} has ${group.ownerCount} kernel DMA user(s)`,
    );
  }
  takeOwnership(state, group, owner);
}

/** Releases a claimed group (`iommu_group_release_dma_owner()`): back to its default domain. */
export function groupReleaseDmaOwner(state: CoreState, group: GroupRecord): void {
  if (group.ownerCount === 0 || group.owner === undefined) {
    logMessage(state, "warn", `group ${group.id}: release of DMA ownership it does not have`);
  }
  releaseOwnership(state, group);
}

/**
 * Claims a device's group for `owner` (`iommu_device_claim_dma_owner()`): shared by claims of the
 * same owner; `EPERM` when held by kernel drivers or another owner; `ENODEV` without a group.
 */
export function deviceClaimDmaOwner(state: CoreState, device: DeviceRecord, owner: object): void {
  checkOwner(owner);
  const group = groupOfDevice(device);
  if (group.ownerCount !== 0) {
    if (group.owner !== owner) {
      throw new IommuError("EPERM", `${device.name}: group ${group.id} is owned by someone else`);
    }
    group.ownerCount++;
    return;
  }
  takeOwnership(state, group, owner);
}

/** Drops one device-level claim (`iommu_device_release_dma_owner()`); the last one releases the group. */
export function deviceReleaseDmaOwner(state: CoreState, device: DeviceRecord): void {
  const group = groupOfDevice(device);
  if (group.ownerCount > 1) group.ownerCount--;
  else groupReleaseDmaOwner(state, group);
}

/**
 * Whether the DMA API may be used for `device` right now: true when it is behind no IOMMU (direct
 * DMA), or its group is on its default domain. False while a driver-owned or blocking domain is
 * attached, or when the group has no default domain.
 */
export function dmaApiUsable(device: DeviceRecord): boolean {
  const group = device.group as GroupRecord | undefined;
  if (group === undefined) return device.backend === undefined;
  return group.defaultDomain !== undefined && group.domain === (group.defaultDomain as DomainRecord);
}
