/**
 * Linux's PCI grouping rules (drivers/iommu/iommu.c `pci_device_group()` and drivers/pci
 * `pci_for_each_dma_alias()`, `pci_acs_enabled()`, `pci_acs_path_enabled()`), over the machine's
 * device list. A device shares a group with every device whose DMA the IOMMU cannot tell apart from
 * its own, or that could reach it peer-to-peer without going through the IOMMU.
 */
import { type PciDevice, REQ_ACS_FLAGS } from "./device.js";
import type { IommuGroup } from "./group.js";

/**
 * Whether `dev` isolates with ACS for `flags` (`pci_acs_enabled()`): conventional PCI devices and
 * PCIe-to-PCI bridges never do; root and downstream ports need the controls; other PCIe functions
 * need them only when part of a multi-function device (a single function has no peers to reach).
 */
export function pciAcsEnabled(dev: PciDevice, flags: number = REQ_ACS_FLAGS): boolean {
  switch (dev.kind) {
    case "pci":
    case "pci-bridge":
    case "pcie-to-pci-bridge":
      return false;
    case "root-port":
    case "switch-downstream":
      return (dev.acs & flags) === flags;
    default:
      return !dev.multifunction || (dev.acs & flags) === flags;
  }
}

/**
 * Whether every bridge from `start` up to the root bus isolates with ACS (`pci_acs_path_enabled()`
 * with no end device).
 */
export function pciAcsPathEnabled(start: PciDevice, flags: number = REQ_ACS_FLAGS): boolean {
  for (let dev: PciDevice | undefined = start; dev !== undefined; dev = dev.upstream) {
    if (!pciAcsEnabled(dev, flags)) return false;
  }
  return true;
}

/** One DMA alias: the requester ID a transaction may carry, and the function that owns it. */
export interface PciDmaAlias {
  /** The function (the device itself or a bridge that takes ownership of its DMA). */
  readonly owner: PciDevice;
  /** Requester ID `bus << 8 | devfn`. */
  readonly requesterId: number;
}

/**
 * Every requester ID `dev`'s DMA may reach the IOMMU with, in Linux's order
 * (`pci_for_each_dma_alias()`): its own, its quirk aliases, then walking up: a PCIe-to-PCI bridge
 * re-issues it as (secondary bus, devfn 0), a conventional PCI bridge as its own ID; PCIe ports
 * forward it unchanged. `visit` may stop the walk by returning true.
 */
export function pciForEachDmaAlias(dev: PciDevice, visit: (alias: PciDmaAlias) => boolean): boolean {
  if (visit({ owner: dev, requesterId: dev.requesterId })) return true;
  for (const devfn of dev.dmaAliasDevfns) {
    if (visit({ owner: dev, requesterId: (dev.bus << 8) | devfn })) return true;
  }
  for (let bridge = dev.upstream; bridge !== undefined; bridge = bridge.upstream) {
    if (bridge.kind === "pcie-to-pci-bridge") {
      if (visit({ owner: bridge, requesterId: (bridge.secondaryBus ?? 0) << 8 })) return true;
    } else if (bridge.kind === "pci-bridge") {
      if (visit({ owner: bridge, requesterId: bridge.requesterId })) return true;
    }
  }
  return false;
}

/** The list form of {@link pciForEachDmaAlias}: distinct requester IDs, first-seen order. */
export function pciDmaAliases(dev: PciDevice): number[] {
  const ids: number[] = [];
  pciForEachDmaAlias(dev, ({ requesterId }) => {
    if (!ids.includes(requesterId)) ids.push(requesterId);
    return false;
  });
  return ids;
}

/** Devices on the same bus that are DMA aliases of each other (`pci_devs_are_dma_aliases()`). */
function areDmaAliases(a: PciDevice, b: PciDevice): boolean {
  return a.dmaAliasDevfns.includes(b.devfn) || b.dmaAliasDevfns.includes(a.devfn);
}

/** What the rules need from the machine. */
export interface PciGroupContext {
  /** All PCI devices of the machine. */
  readonly devices: readonly PciDevice[];
  /** A device's current group. */
  groupOf(dev: PciDevice): IommuGroup | undefined;
  /** Allocates a new, empty group. */
  allocGroup(): IommuGroup;
}

function sameBus(a: PciDevice, b: PciDevice): boolean {
  return a.segment === b.segment && a.bus === b.bus;
}

// `get_pci_alias_group()`: the group of `dev` or of a device that aliases it (or it aliases).
function aliasGroup(ctx: PciGroupContext, dev: PciDevice, seen: Set<number>): IommuGroup | undefined {
  if (seen.has(dev.devfn)) return undefined;
  seen.add(dev.devfn);
  const own = ctx.groupOf(dev);
  if (own) return own;
  for (const other of ctx.devices) {
    if (other === dev || !sameBus(other, dev) || !areDmaAliases(dev, other)) continue;
    const group = aliasGroup(ctx, other, seen) ?? functionAliasGroup(ctx, other, seen);
    if (group) return group;
  }
  return undefined;
}

// `get_pci_function_alias_group()`: functions of a multi-function slot without ACS share a group.
function functionAliasGroup(ctx: PciGroupContext, dev: PciDevice, seen: Set<number>): IommuGroup | undefined {
  if (!dev.multifunction || pciAcsEnabled(dev)) return undefined;
  for (const other of ctx.devices) {
    if (other === dev || !sameBus(other, dev) || other.slot !== dev.slot || pciAcsEnabled(other)) continue;
    const group = aliasGroup(ctx, other, seen);
    if (group) return group;
  }
  return undefined;
}

/**
 * Finds or allocates the group of a PCI device (`pci_device_group()`):
 * 1. a group already held by any DMA alias owner (walking up through bridges that alias);
 * 2. from the topmost alias, up the bridges until one whose path to the root isolates with ACS;
 *    any non-isolating bridge on the way that has a group gives it;
 * 3. a group of a device that is a DMA alias on the same bus;
 * 4. a group of another function of the same multi-function slot, both without ACS;
 * 5. otherwise a new group.
 */
export function pciDeviceGroup(ctx: PciGroupContext, dev: PciDevice): IommuGroup {
  let found: IommuGroup | undefined;
  let top: PciDevice = dev;
  pciForEachDmaAlias(dev, ({ owner }) => {
    top = owner;
    found = ctx.groupOf(owner);
    return found !== undefined;
  });
  if (found) return found;
  let pdev: PciDevice = top;
  for (let bridge = pdev.upstream; bridge !== undefined; bridge = bridge.upstream) {
    if (pciAcsPathEnabled(bridge)) break;
    pdev = bridge;
    const group = ctx.groupOf(pdev);
    if (group) return group;
  }
  const seen = new Set<number>();
  return aliasGroup(ctx, pdev, seen) ?? functionAliasGroup(ctx, pdev, seen) ?? ctx.allocGroup();
}
