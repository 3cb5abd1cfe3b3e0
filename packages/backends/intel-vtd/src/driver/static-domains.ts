/**
 * The identity and blocked domains (Linux's static `identity_domain` and `blocking_domain`):
 * identity writes pass-through context entries (`identity_domain_attach_dev` ->
 * `device_setup_pass_through`); blocked only tears the context entries down
 * (`blocking_domain_attach_dev` -> `device_block_translation`), so the unit faults the device's DMA
 * with reason 0x2 (context not present).
 */
import { asIommuError, type IommuDevice } from "@iommu-sim/iommu";
import { contextMapPassThrough } from "./context-setup.js";
import { blockTranslation, type DeviceInfo, type VtdDomain } from "./device-info.js";
import { FLPT_DEFAULT_DID } from "./domain-ids.js";
import type { IntelIommu } from "./intel-iommu.js";
import { IOMMU_NO_PASID, PASID_ENTRY_PGTT_PT } from "./pasid-entry.js";
import { pasidSetup } from "./pasid-setup.js";

/** ECAP.SMPWC: scalable-mode page walks snoop (`pasid_set_page_snoop`). */
const ECAP_SMPWC = 1n << 48n;

/** Creates an identity (pass-through) domain. */
export function createIdentityDomain(
  iommu: IntelIommu,
  info: (device: IommuDevice) => DeviceInfo,
): VtdDomain {
  const domain: VtdDomain = {
    kind: "identity",
    did: undefined,
    attachDevice(device) {
      const i = info(device);
      if (i.attached === domain) return;
      blockTranslation(iommu, i);
      i.attached = domain;
      try {
        // Scalable mode: a pass-through RID_PASID entry (`intel_pasid_setup_pass_through`).
        if (iommu.scalable) {
          pasidSetup(iommu, i, IOMMU_NO_PASID, {
            pgtt: PASID_ENTRY_PGTT_PT,
            did: FLPT_DEFAULT_DID,
            aw: iommu.widths.agaw,
            pageWalkSnoop: (iommu.ecap & ECAP_SMPWC) !== 0n,
          });
        } else for (const sid of i.sids) contextMapPassThrough(iommu, sid);
      } catch (error) {
        blockTranslation(iommu, i);
        throw asIommuError(error, `${iommu.name}: identity attach ${device.name}`);
      }
    },
    deviceLeft() {},
    free() {},
  };
  return domain;
}

/** Creates a blocked domain. */
export function createBlockedDomain(iommu: IntelIommu, info: (device: IommuDevice) => DeviceInfo): VtdDomain {
  return {
    kind: "blocked",
    did: undefined,
    attachDevice(device) {
      blockTranslation(iommu, info(device));
    },
    deviceLeft() {},
    free() {},
  };
}
