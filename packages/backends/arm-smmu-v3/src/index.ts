/**
 * @iommu-sim/arm-smmu-v3 - an Arm SMMUv3 (hardware model: registers, stream table, CDs, command and
 * event queues, config cache, IOTLB) with Linux's arm-smmu-v3 driver on top, as an iommu-sim backend.
 */
export * from "./arch/commands.js";
export * from "./arch/events.js";
export * from "./backend.js";
export type { FetchedConfig } from "./hardware/config-fetch.js";
export {
  SMMU_DEFAULT_IOTLB,
  type SmmuIotlbOptions,
  type SmmuV3Hardware,
  type SmmuV3HardwareStats,
  type TracedCommand,
} from "./hardware/smmu.js";
export * from "./id-registers.js";
export * from "./options.js";
