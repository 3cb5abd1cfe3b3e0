/**
 * The arm-smmu-v3 IOMMU driver (`arm_smmu_ops`): takes devices whose firmware specifier names the
 * SMMU (`arm_smmu_probe_device`, one master per device, every StreamID given an STE), groups them
 * (PCI rules for PCI, one group per platform device: `arm_smmu_device_group`), and allocates
 * stage-1 or stage-2 paging domains, identity and blocked domains.
 */
import {
  type DomainType,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_MMIO,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDriver,
  IommuError,
  isPagingType,
  type ResvRegionSpec,
} from "@iommu-sim/iommu";
import { STE_DWORDS } from "../arch/ste.js";
import { createPagingDomain, createStaticDomain, type PagingSettings, type SmmuDomain } from "./domain.js";
import { makeAbortSte } from "./entries.js";
import type { SmmuMaster } from "./master.js";
import type { SmmuDevice } from "./smmu-device.js";

/** `MSI_IOVA_BASE` / `MSI_IOVA_LENGTH`: the software-managed MSI window Linux reserves. */
export const MSI_IOVA_BASE = 0x800_0000;
/** Length of the MSI window. */
export const MSI_IOVA_LENGTH = 0x10_0000;

/** The driver plus the lookups the backend and the interrupt handlers need. */
export interface SmmuV3Driver extends IommuDriver {
  /** The master of a StreamID (`arm_smmu_find_master`). */
  masterBySid(sid: number): SmmuMaster | undefined;
  /** The master of a device. */
  masterOf(device: IommuDevice): SmmuMaster | undefined;
}

/** Creates the driver for one probed SMMU. */
export function createSmmuV3Driver(
  smmu: SmmuDevice,
  instance: string,
  stage: 1 | 2,
  settings: PagingSettings,
): SmmuV3Driver {
  const masters = new Map<IommuDevice, SmmuMaster>();
  const streams = new Map<number, SmmuMaster>();
  const masterOf = (device: IommuDevice) => masters.get(device);
  const attachedCount = (domain: SmmuDomain) => {
    let n = 0;
    for (const m of masters.values()) if (m.domain === domain) n++;
    return n;
  };
  return {
    name: "arm-smmu-v3",
    pgsizeBitmap: settings.pgsizeBitmap,
    masterBySid: (sid) => streams.get(sid),
    masterOf,
    probeDevice(device) {
      const fwspec = device.fwspec;
      if (fwspec?.iommu !== instance)
        throw new IommuError("ENODEV", `${device.name} is not behind ${instance}`);
      const sids = [...new Set(fwspec.ids)];
      for (const sid of sids) smmu.initSid(sid);
      for (const sid of sids) {
        const other = streams.get(sid);
        if (other && other.device !== device) {
          // arm_smmu_insert_master's refusal, with Linux's warning.
          smmu.warn(
            `Aliasing StreamID 0x${sid.toString(16)} (from ${other.device.name}) unsupported, expect DMA to be broken`,
          );
          throw new IommuError(
            "ENODEV",
            `${device.name}: StreamID 0x${sid.toString(16)} already belongs to ${other.device.name}`,
          );
        }
      }
      const master: SmmuMaster = { device, sids, cdTable: -1, domain: undefined };
      for (const sid of sids) streams.set(sid, master);
      masters.set(device, master);
    },
    releaseDevice(device) {
      const master = masters.get(device);
      if (!master) return;
      // The release domain is the blocked one: abort STEs before the master goes away.
      const ste = new Uint32Array(2 * STE_DWORDS);
      makeAbortSte(ste);
      for (const sid of master.sids) smmu.writeSte(sid, ste);
      if (master.cdTable >= 0) smmu.structures.free(master.cdTable, 64);
      for (const sid of master.sids) streams.delete(sid);
      masters.delete(device);
    },
    deviceGroup(device, helpers) {
      return device.busType === "pci" ? helpers.pci(device) : helpers.generic(device);
    },
    domainAlloc(type: DomainType) {
      if (type === IOMMU_DOMAIN_IDENTITY) return createStaticDomain(smmu, "identity", masterOf);
      if (type === IOMMU_DOMAIN_BLOCKED) return createStaticDomain(smmu, "blocked", masterOf);
      if (!isPagingType(type)) return null;
      return createPagingDomain(smmu, stage, settings, masterOf, attachedCount);
    },
    getResvRegions() {
      // arm_smmu_get_resv_regions: the software MSI window.
      const regions: ResvRegionSpec[] = [
        { start: MSI_IOVA_BASE, length: MSI_IOVA_LENGTH, prot: 1 | IOMMU_WRITE | IOMMU_MMIO, type: "sw-msi" },
      ];
      return regions;
    },
    capable(_device, cap) {
      // arm_smmu_capable: coherency with IDR0.COHACC, NOEXEC always; flush queues are worth it.
      if (cap === "cache-coherency") return smmu.features.coherent;
      return cap === "noexec" || cap === "deferred-flush";
    },
  };
}
