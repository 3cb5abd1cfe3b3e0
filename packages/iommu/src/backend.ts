/**
 * A backend: an IOMMU driver plus the hardware it drives, registered with the core as one IOMMU
 * instance. Besides the driver it offers the hardware datapath, a device's DMA going through the
 * translation unit, which tests drive to prove isolation.
 */

import type { IommuDevice } from "./device.js";
import type { DriverDomain, IommuDriver } from "./driver.js";
import type { FaultResult } from "./fault.js";
import type { IotlbInspection } from "./inspection.js";
import type { PageProvider, PhysBus } from "./memory.js";

/** A device's DMA transaction as the datapath sees it (numbers: the core converted them). */
export interface DatapathRequest {
  /** IO address the device issues. */
  readonly iova: number;
  /** Bytes to transfer (> 0). */
  readonly length: number;
  /** Write (device to memory) or read (memory to device). */
  readonly write: boolean;
  /** Process address space ID, where the hardware has them. */
  readonly pasid?: number;
  /** Bytes to write (`length` of them); required for writes. */
  readonly data?: Uint8Array;
}

/** Why the translation unit refused a transaction. */
export type DmaFaultReason = "unmapped" | "permission" | "blocked" | "aperture" | "no-translation";

/** Outcome of a DMA transaction. */
export type DmaResult =
  | {
      readonly ok: true;
      /** The bytes read, for reads. */
      readonly data: Uint8Array | undefined;
    }
  | {
      readonly ok: false;
      /** First faulting IO address. */
      readonly iova: number;
      /** `IOMMU_FAULT_READ` or `IOMMU_FAULT_WRITE`. */
      readonly flags: number;
      /** Why it faulted. */
      readonly reason: DmaFaultReason;
      /** What fault reporting answered; `undefined` when the hardware reports nothing (blocked/abort). */
      readonly reported: FaultResult | undefined;
    };

/** What the core gives a backend when it registers (the other direction of the waist). */
export interface IommuHost {
  /**
   * Reports a translation fault to the owner of `domain` (`report_iommu_fault()`): returns the
   * handler's answer, `"ENOSYS"` when none is installed. Never throws.
   */
  reportFault(domain: DriverDomain, device: IommuDevice, iova: number, flags: number): FaultResult;
  /** Virtual time, ns. */
  now(): number;
  /** Logs a warning (Linux's `dev_warn`), kept in `core.log`. */
  warn(message: string): void;
}

/** A backend: one IOMMU instance. Made by a factory (`createArmSmmuV3(options)`...). */
export interface IommuBackend {
  /** Instance name devices refer to in their firmware specifier (`"smmu0"`). Unique per core. */
  readonly name: string;
  /** The driver. */
  readonly driver: IommuDriver;
  /** Physical memory the translation unit delivers DMA to. */
  readonly memory: PhysBus;
  /** Allocator of the page-table pages (leak checks, `failAfter` fault injection); absent if none. */
  readonly tableAllocator?: PageProvider;
  /** Called once by `core.registerIommu` before any probe (`iommu_device_register()`). */
  connect(host: IommuHost): void;
  /**
   * A device's DMA through the translation unit: translates page by page, checks permissions, and
   * either moves the bytes or reports a fault through `host.reportFault` and returns it.
   */
  dma(device: IommuDevice, request: DatapathRequest): DmaResult;
  /**
   * Whether a cached translation (IOTLB) still translates `iova` for `device` although the page
   * tables no longer do: the stale window of lazy invalidation. Only backends with an IOTLB model.
   */
  staleTranslation?(device: IommuDevice, iova: number): boolean;
  /** The IOTLB of the translation unit, for dumps and visualisers (optional capability). */
  readonly iotlb?: IotlbInspection | null;
}

/** The type every backend factory conforms to: options in, backend out. */
export type IommuBackendFactory<Options> = (options: Options) => IommuBackend;
