/**
 * @iommu-sim/amd-vi - an AMD IOMMU (AMD-Vi) backend: the hardware (MMIO registers, device table
 * and DTE cache, command buffer, event log, v1 page-table walks, IOTLB) and the Linux `amd_iommu`
 * driver that programs it.
 */
export * from "./arch/dte.js";
export * from "./arch/registers.js";
export * from "./backend.js";
export {
  type AmdViDriver,
  type AmdViDriverOptions,
  type AmdViLayout,
  domainTableRoot,
} from "./driver/amd-vi-driver.js";
export { AMD_MAX_DOMAIN_ID } from "./driver/domain-ids.js";
export { AMD_HT_RANGE, AMD_MSI_RANGE, type AmdUnityMap } from "./driver/resv-regions.js";
export type {
  AmdViDmaResult,
  AmdViHardware,
  AmdViHardwareOptions,
  AmdViHardwareStats,
} from "./hardware/amd-vi-hardware.js";
export { createAmdViHardware } from "./hardware/amd-vi-hardware.js";
export type { CommandTiming } from "./hardware/command-processor.js";
export type { DteBehaviour } from "./hardware/device-table-cache.js";
export * from "./page-mode.js";
