/**
 * @iommu-sim/arm-smmu - an Arm SMMU v2 (MMU-500 style) backend: stream matching, context banks,
 * register-driven TLB maintenance and context fault syndromes, driven by a model of Linux's
 * arm-smmu driver.
 */
export * from "./arm-smmu.js";
export {
  type ArmSmmuDriver,
  type ArmSmmuDriverOptions,
  createArmSmmuDriver,
  MSI_IOVA_BASE,
  MSI_IOVA_LENGTH,
} from "./driver/arm-smmu-driver.js";
export {
  type ContextBankValues,
  type ContextConfig,
  type ContextFormat,
  contextBankValues,
  LPAE_S1_MAIR0,
} from "./driver/context-bank.js";
export type { ArmSmmuDomain } from "./driver/domain.js";
export {
  type ContextFaultInfo,
  contextFaultLines,
  type GlobalFaultInfo,
  globalFaultLines,
} from "./driver/fault-log.js";
export { probeFeatures, type SmmuFeatures } from "./driver/features.js";
export * from "./fault-status.js";
export {
  asidTag,
  type ContextBankRegisters,
  type DecodedContextBank,
  decodeContextBank,
  FsrFormat,
} from "./hardware/context-bank.js";
export * from "./hardware/id-registers.js";
export { type MmioWrite, registerName } from "./hardware/mmio-trace.js";
export * from "./hardware/registers.js";
export {
  type ArmSmmuHardware,
  type ArmSmmuHardwareOptions,
  createArmSmmuHardware,
  type SmmuAbortKind,
  type SmmuTransactionResult,
} from "./hardware/smmu-hardware.js";
export { MATCH_CONFLICT, matchStream, NO_MATCH } from "./hardware/stream-match.js";
