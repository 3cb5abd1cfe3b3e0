/**
 * The state behind the AMD IOMMU's MMIO registers, shared by the parts of the hardware model (the
 * command processor, the event-log producer, the device-table cache). Software sees it only
 * through `readMmio` / `writeMmio`.
 */
import {
  CONTROL_CMDBUF_EN,
  CONTROL_EVT_INT_EN,
  CONTROL_EVT_LOG_EN,
  CONTROL_IOMMU_EN,
} from "../arch/registers.js";

/** Decoded register state; ring pointers are byte offsets, bases physical addresses. */
export interface AmdViRegisterFile {
  /** Extended Feature Register. */
  readonly efr: bigint;
  /** Raw values of the base and exclusion registers, as last written. */
  readonly raw: Map<number, bigint>;
  devTabBase: number;
  devTabBytes: number;
  cmdBase: number;
  cmdBytes: number;
  cmdHead: number;
  cmdTail: number;
  evtBase: number;
  evtBytes: number;
  evtHead: number;
  evtTail: number;
  /** The whole Control register. */
  control: bigint;
  /** Its low 32 bits, for cheap tests on the DMA path. */
  controlLo: number;
  status: number;
}

/** A register file after reset: everything disabled, no tables. */
export function createRegisterFile(efr: bigint): AmdViRegisterFile {
  return {
    efr,
    raw: new Map(),
    devTabBase: 0,
    devTabBytes: 4096,
    cmdBase: 0,
    cmdBytes: 0,
    cmdHead: 0,
    cmdTail: 0,
    evtBase: 0,
    evtBytes: 0,
    evtHead: 0,
    evtTail: 0,
    control: 0n,
    controlLo: 0,
    status: 0,
  };
}

/** IommuEn is set. */
export function iommuEnabled(r: AmdViRegisterFile): boolean {
  return (r.controlLo & CONTROL_IOMMU_EN) !== 0;
}

/** IommuEn and CmdBufEn are set: the command processor runs. */
export function commandsEnabled(r: AmdViRegisterFile): boolean {
  return (r.controlLo & (CONTROL_IOMMU_EN | CONTROL_CMDBUF_EN)) === (CONTROL_IOMMU_EN | CONTROL_CMDBUF_EN);
}

/** IommuEn and EventLogEn are set. */
export function eventLogEnabled(r: AmdViRegisterFile): boolean {
  return (r.controlLo & (CONTROL_IOMMU_EN | CONTROL_EVT_LOG_EN)) === (CONTROL_IOMMU_EN | CONTROL_EVT_LOG_EN);
}

/** EventIntEn is set. */
export function eventInterruptEnabled(r: AmdViRegisterFile): boolean {
  return (r.controlLo & CONTROL_EVT_INT_EN) !== 0;
}
