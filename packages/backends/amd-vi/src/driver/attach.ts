/**
 * Attaching and detaching devices (Linux `amd_iommu_attach_device`, `attach_device`,
 * `detach_device`, `blocked_domain_attach_device`). Switching domains detaches first: the DTE is
 * cleared to V = 1 (DMA blocked), the old domain's IOTLB entries flushed, then the new entry written.
 */
import { type IommuDevice, IommuError } from "@iommu-sim/iommu";
import type { AmdDevData, AmdDomain, AmdViContext } from "./context.js";
import { updateDte } from "./dte-writer.js";
import { domainFlushAll } from "./flush.js";

/** The driver data of a probed device; `ENODEV` for a device this IOMMU did not probe. */
export function devDataOf(ctx: AmdViContext, device: IommuDevice): AmdDevData {
  const dev = ctx.devData.get(device);
  if (dev === undefined) throw new IommuError("ENODEV", `${device.name} is not behind ${ctx.name}`);
  return dev;
}

/** Removes the device from its domain: DTE cleared and flushed, the domain's IOTLB flushed. */
export function detachDevice(ctx: AmdViContext, dev: AmdDevData): void {
  const domain = dev.domain;
  if (domain === undefined) return;
  dev.domain = undefined;
  updateDte(ctx, dev);
  // Still counted as live on this IOMMU, so the flush goes out; then the device leaves the list.
  domainFlushAll(ctx, domain);
  domain.devices.delete(dev);
}

/** Points the device at `domain` (`attach_dev`). */
export function attachDevice(ctx: AmdViContext, domain: AmdDomain, device: IommuDevice): void {
  const dev = devDataOf(ctx, device);
  if (!ctx.domains.has(domain))
    throw new IommuError("EINVAL", `${ctx.name}: the domain is not one of this IOMMU's`);
  if (dev.domain === domain) return;
  if (dev.domain !== undefined) detachDevice(ctx, dev);
  if (domain.kind === "blocked") {
    // Linux rewrites the cleared entry even when the device was not attached.
    updateDte(ctx, dev);
    return;
  }
  dev.domain = domain;
  domain.devices.add(dev);
  updateDte(ctx, dev);
}
