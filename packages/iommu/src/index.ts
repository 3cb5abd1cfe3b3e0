/**
 * @iommu-sim/iommu - the Linux IOMMU API: devices, groups, domains, default domains, attach and
 * detach, map and unmap, and the driver interface (the narrow waist) every backend implements.
 */
export * from "./address.js";
export * from "./backend.js";
export * from "./clock.js";
export * from "./core.js";
export * from "./device.js";
export type { IommuDomain, PublicGeometry } from "./domain.js";
export * from "./domain-type.js";
export * from "./driver.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./fault.js";
export * from "./gather.js";
export type { IommuGroup } from "./group.js";
export * from "./inspection.js";
export * from "./memory.js";
export {
  type PciDmaAlias,
  pciAcsEnabled,
  pciAcsPathEnabled,
  pciDmaAliases,
  pciForEachDmaAlias,
} from "./pci-group.js";
export * from "./pgsize.js";
export * from "./prot.js";
export * from "./resv.js";
export type { LogRecord } from "./state.js";
