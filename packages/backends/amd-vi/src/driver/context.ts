/**
 * The driver's state, shared by its parts (Linux's `struct amd_iommu`, the per-device
 * `struct iommu_dev_data` and `struct protection_domain`).
 */
import type { PageAllocator, PageTable, PhysMemory } from "@iommu-sim/hw";
import type { DriverDomain, IommuDevice, IommuHost } from "@iommu-sim/iommu";
import type { CommandQueue } from "./command-queue.js";
import type { DomainIdAllocator } from "./domain-ids.js";
import type { MmioAccess } from "./mmio.js";

/** What a domain is to the hardware: a v1 table, Mode 0 pass-through, or V=1/TV=0 blocking. */
export type AmdDomainKind = "paging" | "identity" | "blocked";

/** A protection domain (`struct protection_domain`). */
export interface AmdDomain extends DriverDomain {
  readonly kind: AmdDomainKind;
  /** DomainID; 0 for the blocked domain, which never reaches a DTE with TV = 1. */
  readonly id: number;
  /** The v1 page table of a paging domain. */
  readonly table: PageTable | undefined;
  /** Devices attached (`dev_list`); non-empty = the domain is live on this IOMMU (`iommu_array`). */
  readonly devices: Set<AmdDevData>;
}

/** Per-device driver data (`struct iommu_dev_data`). */
export interface AmdDevData {
  readonly device: IommuDevice;
  /** DeviceID of the device itself (requester ID for PCI, the first stream ID otherwise). */
  readonly deviceId: number;
  /** Every DeviceID its DMA may carry (the device and its DMA aliases): each gets the same DTE. */
  readonly deviceIds: readonly number[];
  /** The domain the DTE points at; undefined when blocked or not attached. */
  domain: AmdDomain | undefined;
}

/** Driver state. */
export interface AmdViContext {
  /** Instance name, for messages. */
  readonly name: string;
  readonly memory: PhysMemory;
  readonly tableAllocator: PageAllocator;
  readonly mmio: MmioAccess;
  readonly cmd: CommandQueue;
  /** Physical address of the device table. */
  readonly devTableBase: number;
  /** Entries in the device table (last_bdf + 1). */
  readonly devTableEntries: number;
  /** IOVA bits of paging domains. */
  readonly ias: number;
  /** Output address bits of the page tables. */
  readonly oas: number;
  /** DTE Mode of paging domains (levels of the fixed-top table). */
  readonly mode: number;
  /** Page sizes of paging domains. */
  readonly pgsizeBitmap: number;
  /** The IOMMU caches non-present entries (virtualized IOMMU): flush on map, split flushes. */
  readonly npCache: boolean;
  readonly devData: Map<IommuDevice, AmdDevData>;
  /** Probed PCI devices by requester ID (what `pci_get_domain_bus_and_slot` finds for an event). */
  readonly pciByDeviceId: Map<number, AmdDevData>;
  readonly domainIds: DomainIdAllocator;
  /** Domains this driver allocated and has not freed. */
  readonly domains: Set<AmdDomain>;
  /** The core, once connected. */
  host: IommuHost | undefined;
  /** Recent log lines (also sent to `host.warn`), newest last, at most 1000. */
  readonly log: string[];
}

/** Logs a line: keeps it in `ctx.log` and hands it to the core. */
export function logLine(ctx: AmdViContext, line: string): void {
  ctx.log.push(line);
  if (ctx.log.length > 1000) ctx.log.shift();
  ctx.host?.warn(line);
}
