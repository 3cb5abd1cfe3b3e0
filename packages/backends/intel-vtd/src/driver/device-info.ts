/**
 * Per-device driver state (Linux's `struct device_domain_info`) and `device_block_translation`,
 * which every attach starts with: the device's context entries (one per DMA alias) are torn down
 * and it leaves its domain, so DMA faults (context not present) until the new entries are written.
 */
import type { DriverDomain, IommuDevice } from "@iommu-sim/iommu";
import { contextClear } from "./context-setup.js";
import type { IntelIommu } from "./intel-iommu.js";
import { IOMMU_NO_PASID } from "./pasid-entry.js";
import { type PasidTable, pasidTearDown } from "./pasid-setup.js";

/** A domain of this driver, as devices hold it. */
export interface VtdDomain extends DriverDomain {
  /** Paging (second stage), identity (pass-through) or blocked. */
  readonly kind: "paging" | "identity" | "blocked";
  /** Domain id on the unit while a device uses it (paging domains), else undefined. */
  readonly did: number | undefined;
  /** A device left the domain (`domain_detach_iommu` for paging domains). */
  deviceLeft(info: DeviceInfo): void;
}

/** What the driver keeps per probed device. */
export interface DeviceInfo {
  readonly device: IommuDevice;
  /** Requester ids its DMA may carry (`pci_for_each_dma_alias`), own first; the last is what the unit sees. */
  readonly sids: readonly number[];
  /** The domain whose context entries are in place, if any (`info->domain`; identity included). */
  attached: VtdDomain | undefined;
  /** Scalable mode: the device's PASID directory and tables (`info->pasid_table`). */
  pasidTable?: PasidTable | undefined;
}

/**
 * `device_block_translation`: legacy mode clears every context entry of the device, scalable mode
 * tears its RID_PASID entry down (the context entries keep pointing at the PASID table); then the
 * device leaves its domain.
 */
export function blockTranslation(iommu: IntelIommu, info: DeviceInfo): void {
  const old = info.attached;
  if (old === undefined) return;
  if (iommu.scalable) pasidTearDown(iommu, info, IOMMU_NO_PASID);
  else for (const sid of info.sids) contextClear(iommu, sid);
  info.attached = undefined;
  old.deviceLeft(info);
}
