/**
 * `createIntelVtd`: an Intel VT-d backend, one remapping unit with its Linux driver. The hardware is
 * brought up by the driver at creation (root table, queued invalidation, translation enabled);
 * devices' DMA goes through the unit with the requester id the unit sees (the last DMA alias).
 */
import { createPageAllocator, createPhysMemory, type PageAllocator, type PhysMemory } from "@iommu-sim/hw";
import {
  type DatapathRequest,
  type DmaFaultReason,
  type DmaResult,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  type IommuBackend,
  type IommuBackendFactory,
  type IommuDevice,
  IommuError,
  type IommuHost,
} from "@iommu-sim/iommu";
import type { VtdAddressWidths } from "./driver/agaw.js";
import { createIntelIommuDriver } from "./driver/driver.js";
import { createFaultHandler, type FaultHandler } from "./driver/fault-handler.js";
import { initIntelIommu } from "./driver/intel-iommu.js";
import { pasidEntryAddress, smContextAddress } from "./driver/pasid-setup.js";
import { createVtdHardware, type VtdHardware } from "./hardware/vtd-hardware.js";
import {
  capWithAddressWidth,
  DEFAULT_TABLE_BASE,
  DEFAULT_TABLE_SIZE,
  DEFAULT_VTD_CAP,
  DEFAULT_VTD_ECAP,
  DEFAULT_VTD_IOTLB,
  DEFAULT_VTD_SM_ECAP,
  DEFAULT_VTD_VERSION,
  type IntelVtdOptions,
} from "./options.js";

/** The VT-d backend, with its hardware and driver state open for tests and tools. */
export interface IntelVtdBackend extends IommuBackend {
  readonly memory: PhysMemory;
  readonly tableAllocator: PageAllocator;
  /** The remapping unit: registers, context cache, invalidation queue, fault records. */
  readonly hardware: VtdHardware;
  /** Address widths the driver chose (agaw, msagaw, levels, domain width). */
  readonly widths: VtdAddressWidths;
  /** Physical address of the root table. */
  readonly rootTable: number;
  /** The fault interrupt handler and what it handled. */
  readonly faultHandler: FaultHandler;
  /** Source id the unit sees for `device`'s DMA. */
  sourceId(device: IommuDevice): number;
  /** Physical address of the context entry of `sid`, if its bus has a context table (32-byte entries in scalable mode). */
  contextEntryAddress(sid: number): number | undefined;
  /** Scalable mode: whether paging domains use first-stage tables. */
  readonly firstStage: boolean;
  /** Scalable mode: physical address of `device`'s PASID directory. */
  pasidDirectory(device: IommuDevice): number | undefined;
  /** Scalable mode: physical address of `device`'s PASID table entry for `pasid`, if its table page exists. */
  pasidEntryAddress(device: IommuDevice, pasid: number): number | undefined;
  /**
   * Submits raw descriptors through the driver's queue (`qi_submit_sync`, a wait descriptor
   * appended), for tests and tools that flush caches by hand.
   */
  submitInvalidation(descriptors: readonly Uint8Array[]): void;
}

const REASONS: Record<string, DmaFaultReason> = {
  root: "blocked",
  context: "blocked",
  pasid: "blocked",
  address: "aperture",
  translation: "unmapped",
  permission: "permission",
};

/** Creates a VT-d unit and its driver. Register the result with `core.registerIommu(backend)`. */
export function createIntelVtd(options: IntelVtdOptions = {}): IntelVtdBackend {
  const name = options.name ?? "dmar0";
  const scalable = options.scalableMode ?? false;
  const ecap = options.ecap ?? (scalable ? DEFAULT_VTD_SM_ECAP : DEFAULT_VTD_ECAP);
  const flts = (ecap & (1n << 47n)) !== 0n;
  const slts = (ecap & (1n << 46n)) !== 0n;
  if (options.firstStage && !scalable) {
    throw new IommuError(
      "EOPNOTSUPP",
      `${name}: first-stage paging domains need scalable mode; pass scalableMode: true as well`,
    );
  }
  if (scalable && options.firstStage && !flts) {
    throw new IommuError(
      "EOPNOTSUPP",
      `${name}: first-stage paging domains need ECAP.FLTS, which ecap 0x${ecap.toString(16)} does not report`,
    );
  }
  if (scalable && !flts && !slts) {
    throw new IommuError("EOPNOTSUPP", `${name}: ecap 0x${ecap.toString(16)} reports neither FLTS nor SLTS`);
  }
  // first_level_by_default, narrowed: first stage when asked for, or when it is the only one.
  const firstStage = scalable && (options.firstStage === true || !slts);
  // By default the table region is the memory's dense window (fast walks); DMA buffers anywhere
  // else live in its sparse part.
  const memory =
    options.memory ?? createPhysMemory({ denseBase: DEFAULT_TABLE_BASE, denseSize: DEFAULT_TABLE_SIZE });
  const allocator = options.tableAllocator ?? createPageAllocator(memory, { name: `${name} tables` });
  let cap = options.cap ?? DEFAULT_VTD_CAP;
  if (options.addressWidth !== undefined) cap = capWithAddressWidth(cap, options.addressWidth);
  const hardware = createVtdHardware({
    memory,
    cap,
    ecap,
    version: options.version ?? DEFAULT_VTD_VERSION,
    iotlb: options.iotlb ?? DEFAULT_VTD_IOTLB,
    ...(options.walkCache !== undefined ? { walkCache: options.walkCache } : {}),
    name,
  });
  const iommu = initIntelIommu(name, hardware, memory, allocator, scalable);
  const { driver, infoOf, deviceBySid } = createIntelIommuDriver(iommu, {
    instance: name,
    segment: options.segment ?? 0,
    rmrr: options.rmrr ?? [],
    rmrrRelaxable: options.rmrrRelaxable ?? (() => false),
    preBootProtection: options.preBootProtection ?? false,
    firstStage,
  });
  let host: IommuHost | undefined;
  const faultHandler = createFaultHandler(iommu, deviceBySid, () => host);
  hardware.setFaultInterrupt(() => faultHandler.handle());

  const sourceId = (device: IommuDevice): number => {
    const info = infoOf(device);
    if (!info) throw new IommuError("ENODEV", `${device.name} is not behind ${name}`);
    return info.sids[info.sids.length - 1]!;
  };

  const dma = (device: IommuDevice, request: DatapathRequest): DmaResult => {
    if (request.pasid !== undefined && !scalable) {
      throw new IommuError(
        "EOPNOTSUPP",
        `${name}: requests with PASID need scalable mode (createIntelVtd({ scalableMode: true }))`,
      );
    }
    const sid = sourceId(device);
    faultHandler.clearHandled();
    const out = hardware.dma(
      sid,
      request.iova,
      request.length,
      request.write,
      request.data,
      request.pasid ?? -1,
    );
    if (out.ok) return { ok: true, data: out.data };
    const page = out.address - (out.address % 4096);
    const handled = faultHandler.handled.find(
      (h) => h.sid === sid && h.address === page && h.read === !request.write && h.reason === out.reason,
    );
    return {
      ok: false,
      iova: out.address,
      flags: request.write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ,
      reason: REASONS[out.kind] ?? "unmapped",
      reported: handled?.reported,
    };
  };

  return {
    name,
    driver,
    memory,
    tableAllocator: allocator,
    hardware,
    iotlb: hardware.translation.iotlb,
    widths: iommu.widths,
    rootTable: iommu.rootTable,
    faultHandler,
    connect(h) {
      host = h;
      iommu.setWarn((message) => h.warn(message));
    },
    dma,
    staleTranslation: (device, iova) => hardware.probeStale(sourceId(device), iova),
    sourceId,
    contextEntryAddress(sid) {
      if (scalable) return smContextAddress(iommu, sid, false);
      const lo = memory.readU64(iommu.rootTable + (sid >>> 8) * 16);
      return lo & 1n ? Number(lo & ~0xfffn) + (sid & 0xff) * 16 : undefined;
    },
    firstStage,
    pasidDirectory: (device) => infoOf(device)?.pasidTable?.dir,
    pasidEntryAddress(device, pasid) {
      const info = infoOf(device);
      return info ? pasidEntryAddress(iommu, info, pasid, false) : undefined;
    },
    submitInvalidation: (descriptors) => iommu.qi.submit(descriptors),
  };
}

/** The VT-d backend factory, typed as every backend factory is. */
export const intelVtdFactory: IommuBackendFactory<IntelVtdOptions> = createIntelVtd;
