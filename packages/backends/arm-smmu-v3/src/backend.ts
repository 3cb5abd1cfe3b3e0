/**
 * The SMMUv3 backend: the hardware model and the Linux driver wired together as one IOMMU instance.
 * The driver reaches the hardware only through its registers and memory; the datapath sends a
 * device's DMA through the hardware with the device's StreamID (and PASID as SubstreamID).
 */
import {
  createPageAllocator,
  createPhysMemory,
  lpaePageSizes,
  type PageAllocator,
  type PhysMemory,
  type TranslationFault,
  walkCacheOptionFor,
} from "@iommu-sim/hw";
import {
  asIommuError,
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
import { buildCommand } from "./arch/commands.js";
import { batchSlot } from "./driver/cmdq.js";
import { createSmmuV3Driver, type SmmuV3Driver } from "./driver/driver.js";
import { createEvtqThread, createGerrorHandler, type FaultOutcome } from "./driver/irq.js";
import { probeSmmu, type SmmuDevice } from "./driver/smmu-device.js";
import { createSmmuV3Hardware, type SmmuV3Hardware } from "./hardware/smmu.js";
import { type ArmSmmuV3Options, SMMU_V3_DEFAULT_ID_REGISTERS } from "./options.js";

/** The SMMUv3 backend, with its hardware and driver state open for tests and tools. */
export interface ArmSmmuV3Backend extends IommuBackend {
  readonly memory: PhysMemory;
  readonly tableAllocator: PageAllocator;
  /** The SMMU hardware model (registers, config cache, IOTLB via `hardware.translation.iotlb`). */
  readonly hardware: SmmuV3Hardware;
  /** The driver's SMMU state (features, stream table, queues). */
  readonly smmu: SmmuDevice;
  readonly driver: SmmuV3Driver;
  /**
   * Issues one raw command plus CMD_SYNC through the driver's queue (`arm_smmu_cmdq_issue_cmd`),
   * for tests of the queue's error handling. `dwords` are dw0 and dw1.
   */
  issueCommand(dwords: readonly [bigint, bigint]): void;
}

const SZ_512M = 0x2000_0000;
const SZ_256M = 0x1000_0000;

/**
 * Creates an SMMUv3 backend (an {@link IommuBackendFactory}): builds the hardware from the ID
 * registers, then probes it with the driver (stream table, queues, SMMUEN). Throws `EINVAL` for
 * ID-register combinations Linux refuses or options the hardware cannot honour.
 */
export function createArmSmmuV3(options: ArmSmmuV3Options = {}): ArmSmmuV3Backend {
  const name = options.name ?? "smmu0";
  const memory = options.memory ?? createPhysMemory();
  const idRegisters = { ...SMMU_V3_DEFAULT_ID_REGISTERS, ...options.idRegisters };
  if (options.oas !== undefined) {
    const encodings = [32, 36, 40, 42, 44, 48, 52];
    const enc = encodings.indexOf(options.oas);
    if (enc < 0) throw new IommuError("EINVAL", `oas ${options.oas} is not one of ${encodings.join(", ")}`);
    if (enc < (idRegisters.idr5 & 7)) idRegisters.idr5 = ((idRegisters.idr5 & ~7) | enc) >>> 0;
  }
  const hardware = createSmmuV3Hardware({
    memory,
    idRegisters,
    ...(options.iotlb !== undefined ? { iotlb: options.iotlb } : {}),
    // Walk-cache levels default to the LPAE levels of the domains' granule.
    walkCache: walkCacheOptionFor(options.walkCache, "arm-lpae-s1", options.granule ?? 4096),
    name,
  });
  const tables =
    options.tableAllocator ??
    createPageAllocator(memory, { base: 0x4000_0000, size: SZ_512M, name: `${name} page tables` });
  const structures =
    options.structureAllocator ??
    createPageAllocator(memory, { base: 0x6000_0000, size: SZ_256M, name: `${name} structures` });
  let host: IommuHost | undefined;
  const pendingWarnings: string[] = [];
  const warn = (m: string) => (host ? host.warn(m) : pendingWarnings.push(m));
  let smmu: SmmuDevice;
  try {
    smmu = probeSmmu(hardware, memory, structures, {
      streamTable: options.streamTable,
      rangeInvalidation: options.rangeInvalidation,
      warn,
    });
  } catch (error) {
    throw asIommuError(error, `${name}: probe`);
  }
  const features = smmu.features;
  const granule = options.granule ?? 4096;
  if (!features.granules.includes(granule))
    throw new IommuError(
      "EINVAL",
      `${name}: granule ${granule} is not in IDR5 (supported: ${features.granules.join(", ")})`,
    );
  const ias = options.ias ?? 48;
  const maxIas = features.vax && granule === 65536 ? 52 : 48;
  if (ias < 32 || ias > maxIas) throw new IommuError("EINVAL", `${name}: ias ${ias} must be 32..${maxIas}`);
  const stage = options.stage ?? (features.stage1 ? 1 : 2);
  if ((stage === 1 && !features.stage1) || (stage === 2 && !features.stage2))
    throw new IommuError("EINVAL", `${name}: stage-${stage} domains requested but IDR0.S${stage}P is 0`);
  // smmu->pgsize_bitmap from IDR5, then io-pgtable keeps the sizes of the chosen granule.
  const pgsizeBitmap = Number(lpaePageSizes(granule, features.oas));
  const driver = createSmmuV3Driver(smmu, name, stage, {
    tables,
    granule,
    ias,
    pgsizeBitmap,
    partialUnmap: options.partialUnmap ?? "refuse",
  });
  const evtq = createEvtqThread(smmu, driver.masterBySid, () => host);
  // What the event thread reported for the last fault it handled (set from the interrupt).
  const last: { outcome: FaultOutcome | undefined } = { outcome: undefined };
  hardware.setInterrupts({
    evtq: () => {
      last.outcome = evtq.run();
    },
    gerror: createGerrorHandler(smmu, () => host),
  });

  const reasonOf = (fault: TranslationFault | undefined): DmaFaultReason => {
    switch (fault?.kind) {
      case "translation":
      case "access-flag":
        return "unmapped";
      case "permission":
        return "permission";
      case "address-size":
        return "aperture";
      default:
        return "no-translation";
    }
  };

  const streamOf = (device: IommuDevice): number => {
    const master = driver.masterOf(device);
    const sid = master?.sids[0];
    if (sid === undefined) throw new IommuError("ENODEV", `${device.name} is not behind ${name}`);
    return sid;
  };

  return {
    name,
    driver,
    memory,
    tableAllocator: tables,
    hardware,
    iotlb: hardware.translation.iotlb,
    smmu,
    connect(h) {
      host = h;
      for (const m of pendingWarnings.splice(0)) h.warn(m);
    },
    dma(device, request): DmaResult {
      const sid = streamOf(device);
      const { iova, length, write } = request;
      last.outcome = undefined;
      const r = hardware.dma(sid, iova, length, write, request.data, request.pasid ?? -1);
      if (r.ok) return { ok: true, data: write ? undefined : r.data };
      const flags = write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ;
      const at = r.fault?.iova ?? iova;
      const reason: DmaFaultReason = r.aborted ? "blocked" : reasonOf(r.fault);
      // The interrupt ran inside hardware.dma(): re-read what it left (TS cannot see the write).
      const outcome = last.outcome as FaultOutcome | undefined;
      const reported = r.recorded ? outcome?.result : undefined;
      return { ok: false, iova: at, flags, reason, reported };
    },
    staleTranslation(device, iova) {
      return hardware.probeStale(streamOf(device), iova);
    },
    issueCommand([dw0, dw1]) {
      const q = smmu.cmdq;
      const at = batchSlot(q);
      buildCommand(q.batch, at, 0);
      q.batch[at] = Number(dw0 & 0xffff_ffffn);
      q.batch[at + 1] = Number(dw0 >> 32n);
      q.batch[at + 2] = Number(dw1 & 0xffff_ffffn);
      q.batch[at + 3] = Number(dw1 >> 32n);
      q.submit(true);
    },
  };
}

/** The SMMUv3 backend factory, typed as every backend factory is. */
export const armSmmuV3Factory: IommuBackendFactory<ArmSmmuV3Options> = createArmSmmuV3;
