/**
 * Fault handlers: how a domain's owner hears about DMA the IOMMU refused. Models Linux's
 * `iommu_set_fault_handler()` and `report_iommu_fault()`.
 */
import type { IommuDevice } from "./device.js";
import type { IommuDomain } from "./domain.js";
import type { Errno } from "./errors.js";

/**
 * What a fault handler (and `reportIommuFault`) returns: `0` when the fault was handled, `"ENOSYS"`
 * to ask the IOMMU driver for its default behaviour (log and terminate the transaction), or another
 * errno. `report_iommu_fault()` returns `-ENOSYS` when no handler is installed.
 */
export type FaultResult = 0 | Errno;

/**
 * A domain's fault handler, called with the faulting IO address and `IOMMU_FAULT_READ` /
 * `IOMMU_FAULT_WRITE` flags, and the token given with it. Models `iommu_fault_handler_t`.
 */
export type FaultHandler = (
  domain: IommuDomain,
  device: IommuDevice,
  iova: bigint,
  flags: number,
  token: unknown,
) => FaultResult;

/** A fault as the core counted it (kept in `core.faults`). */
export interface FaultRecord {
  /** Domain the faulting device was attached to. */
  readonly domain: IommuDomain;
  /** Device that issued the DMA. */
  readonly device: IommuDevice;
  /** Faulting IO address. */
  readonly iova: bigint;
  /** `IOMMU_FAULT_READ` (0) or `IOMMU_FAULT_WRITE` (1). */
  readonly flags: number;
  /** What the handler (or its absence) answered. */
  readonly result: FaultResult;
  /** Virtual time of the report, ns. */
  readonly time: number;
}
