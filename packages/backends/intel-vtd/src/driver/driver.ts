/**
 * The intel-iommu driver's `iommu_ops` for one unit, legacy mode: probe (the device's requester ids
 * from its firmware spec), domains (second-stage paging for DMA and unmanaged, pass-through identity
 * when ECAP.PT, blocked), `def_domain_type` (translated when the hardware has no pass-through),
 * reserved regions (RMRRs, IOAPIC) and capabilities (`intel_iommu_capable`).
 */
import {
  type DomainType,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  type IommuDevice,
  type IommuDriver,
  IommuError,
  isPagingType,
} from "@iommu-sim/iommu";
import { blockTranslation, type DeviceInfo, type VtdDomain } from "./device-info.js";
import type { IntelIommu } from "./intel-iommu.js";
import { createPagingDomain } from "./paging-domain.js";
import { setupSmContext, teardownSmContext } from "./pasid-setup.js";
import { type VtdRmrr, vtdResvRegions } from "./resv-regions.js";
import { createBlockedDomain, createIdentityDomain } from "./static-domains.js";

/** ECAP.PT (pass-through), ECAP.SC (snoop control). */
const ECAP_PT = 1n << 6n;
const ECAP_SC = 1n << 7n;

/** Settings the driver takes from the backend's options. */
export interface IntelIommuDriverConfig {
  /** Instance name devices' firmware specs refer to. */
  readonly instance: string;
  /** PCI segment the unit serves. */
  readonly segment: number;
  /** RMRRs of the DMAR table. */
  readonly rmrr: readonly VtdRmrr[];
  /** Whether a device is a USB or graphics device (relaxable RMRRs). */
  readonly rmrrRelaxable: (device: IommuDevice) => boolean;
  /** `IOMMU_CAP_PRE_BOOT_PROTECTION` (`dmar_platform_optin()`). */
  readonly preBootProtection: boolean;
  /** Paging domains use first-stage tables (scalable mode only). */
  readonly firstStage: boolean;
}

/** The driver plus what the backend's datapath needs from it. */
export interface IntelIommuDriver {
  readonly driver: IommuDriver;
  /** The state of a probed device, or undefined. */
  infoOf(device: IommuDevice): DeviceInfo | undefined;
  /** The device whose DMA carries source id `sid`, if probed. */
  deviceBySid(sid: number): DeviceInfo | undefined;
}

/** Creates the driver of `iommu`. */
export function createIntelIommuDriver(iommu: IntelIommu, config: IntelIommuDriverConfig): IntelIommuDriver {
  const infos = new Map<IommuDevice, DeviceInfo>();
  const owned = new Set<VtdDomain>();
  const hasPt = (iommu.ecap & ECAP_PT) !== 0n;
  const info = (device: IommuDevice): DeviceInfo => {
    const i = infos.get(device);
    if (!i) throw new IommuError("ENODEV", `${device.name} is not behind ${config.instance}`);
    return i;
  };
  const ctx = { iommu, info, owned, firstStage: config.firstStage };

  const driver: IommuDriver = {
    name: "intel-iommu",
    pgsizeBitmap:
      0x1000 + (iommu.cap.superPages & 1 ? 0x20_0000 : 0) + (iommu.cap.superPages & 2 ? 0x4000_0000 : 0),
    probeDevice(device) {
      const spec = device.fwspec;
      if (spec?.iommu !== config.instance || spec.ids.length === 0) {
        throw new IommuError("ENODEV", `${device.name} is not behind ${config.instance}`);
      }
      if (device.busType === "pci" && device.segment !== config.segment) {
        throw new IommuError(
          "ENODEV",
          `${device.name} is in segment ${device.segment}, ${config.instance} serves ${config.segment}`,
        );
      }
      if (spec.ids.some((id) => !Number.isInteger(id) || id < 0 || id > 0xffff)) {
        throw new IommuError("ENODEV", `${device.name}: source ids must be 16-bit requester ids`);
      }
      const i: DeviceInfo = { device, sids: [...spec.ids], attached: undefined };
      // Scalable mode: the PASID table and the context entries pointing at it exist from probe on.
      if (iommu.scalable) setupSmContext(iommu, i);
      infos.set(device, i);
    },
    releaseDevice(device) {
      const i = infos.get(device);
      if (!i) return;
      blockTranslation(iommu, i);
      if (iommu.scalable) teardownSmContext(iommu, i);
      infos.delete(device);
    },
    domainAlloc(type) {
      if (type === IOMMU_DOMAIN_BLOCKED) return createBlockedDomain(iommu, info);
      if (type === IOMMU_DOMAIN_IDENTITY) return hasPt ? createIdentityDomain(iommu, info) : null;
      if (isPagingType(type)) return createPagingDomain(ctx);
      return null;
    },
    defDomainType(): DomainType | undefined {
      // device_def_domain_type: no pass-through in hardware means always translate.
      return hasPt ? undefined : IOMMU_DOMAIN_DMA;
    },
    getResvRegions: (device) => vtdResvRegions(config.rmrr, device, config.rmrrRelaxable(device)),
    capable(_device, cap) {
      switch (cap) {
        case "cache-coherency":
        case "deferred-flush":
          return true;
        case "enforce-cache-coherency":
          return (iommu.ecap & ECAP_SC) !== 0n;
        case "pre-boot-protection":
          return config.preBootProtection;
        default:
          return false;
      }
    },
  };

  return {
    driver,
    infoOf: (device) => infos.get(device),
    deviceBySid(sid) {
      // The device whose own requester id it is wins over devices that merely alias it.
      let alias: DeviceInfo | undefined;
      for (const i of infos.values()) {
        if (i.sids[0] === sid) return i;
        if (alias === undefined && i.sids.includes(sid)) alias = i;
      }
      return alias;
    },
  };
}
