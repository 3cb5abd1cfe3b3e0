/**
 * The driver's view of one SMMU (Linux's `struct arm_smmu_device`): probed features, the shadow
 * of the stream mapping registers, the context bank allocation map, and register accessors that
 * go through the hardware's MMIO interface by page and offset, as `arm_smmu_gr0_write()`,
 * `arm_smmu_gr1_write()`, `arm_smmu_cb_write()` and `arm_smmu_cb_writeq()` do.
 *
 * @module
 */
import type { FaultResult, IommuDevice, IommuGroup, IommuHost } from "@iommu-sim/iommu";
import { SMMU_PAGE_SIZE } from "../hardware/registers.js";
import type { ArmSmmuHardware } from "../hardware/smmu-hardware.js";
import type { SmmuFeatures } from "./features.js";

/** Shadow of one SMR (`struct arm_smmu_smr`). */
export interface SmrShadow {
  id: number;
  mask: number;
  valid: boolean;
}

/** Shadow of one S2CR (`struct arm_smmu_s2cr`). */
export interface S2crShadow {
  /** Group of the devices using this entry (`arm_smmu_device_group()` remembers it). */
  group: IommuGroup | undefined;
  /** Stream IDs of probed devices sharing this entry. */
  count: number;
  type: number;
  privcfg: number;
  cbndx: number;
}

/** What owns a context bank: the IRQ handler finds the domain through it. */
export interface ContextBankOwner {
  /** Handles the bank's context interrupt (`arm_smmu_context_fault`). */
  contextFault(): void;
}

/** The driver's per-SMMU state. */
export interface SmmuDevice {
  readonly hw: ArmSmmuHardware;
  readonly features: SmmuFeatures;
  /** SMR shadows; empty with stream indexing. */
  readonly smrs: SmrShadow[];
  readonly s2crs: S2crShadow[];
  /** `smr_mask_mask`: the MASK bits the SMRs implement (probed by writing SMR0). */
  smrMaskMask: number;
  /** `context_map`: bank owners, `undefined` when free. */
  readonly contextMap: (ContextBankOwner | undefined)[];
  /** S2CR type of unused entries: fault with `disable_bypass`, else bypass (`s2cr_init_val`). */
  readonly s2crInitType: number;
  /** `disable_bypass` (CONFIG_ARM_SMMU_DISABLE_BYPASS_BY_DEFAULT). */
  readonly disableBypass: boolean;
  /** Devices by exact StreamID, to name the master of a fault (Linux reports with no device). */
  readonly masters: Map<number, IommuDevice>;
  /** The core, once registered. */
  host: IommuHost | undefined;
  /** The device whose transaction is in flight (fallback name for a fault's master). */
  currentMaster: IommuDevice | undefined;
  /** What the last context fault's report answered, for the datapath's result. */
  lastReport: FaultResult | undefined;
}

/** Writes a GR0 register. */
export function gr0Write(smmu: SmmuDevice, offset: number, value: number): void {
  smmu.hw.write32(offset, value);
}

/** Reads a GR0 register. */
export function gr0Read(smmu: SmmuDevice, offset: number): number {
  return smmu.hw.read32(offset);
}

/** Writes a GR1 register. */
export function gr1Write(smmu: SmmuDevice, offset: number, value: number): void {
  smmu.hw.write32(SMMU_PAGE_SIZE + offset, value);
}

/** Reads a GR1 register. */
export function gr1Read(smmu: SmmuDevice, offset: number): number {
  return smmu.hw.read32(SMMU_PAGE_SIZE + offset);
}

/** Writes a 32-bit register of context bank `cb`. */
export function cbWrite(smmu: SmmuDevice, cb: number, offset: number, value: number): void {
  smmu.hw.write32(smmu.hw.cbOffset(cb, offset), value);
}

/** Writes a 64-bit register of context bank `cb` as its halves. */
export function cbWriteq(smmu: SmmuDevice, cb: number, offset: number, lo: number, hi: number): void {
  smmu.hw.write64(smmu.hw.cbOffset(cb, offset), lo, hi);
}

/** Reads a 32-bit register of context bank `cb`. */
export function cbRead(smmu: SmmuDevice, cb: number, offset: number): number {
  return smmu.hw.read32(smmu.hw.cbOffset(cb, offset));
}

/** Reads a 64-bit register of context bank `cb` as a number (FAR; exact below 2^53). */
export function cbReadq(smmu: SmmuDevice, cb: number, offset: number): number {
  const at = smmu.hw.cbOffset(cb, offset);
  return smmu.hw.read32(at + 4) * 2 ** 32 + smmu.hw.read32(at);
}
