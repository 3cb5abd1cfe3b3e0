/**
 * The driver's state for one remapping unit (Linux's `struct intel_iommu`) and its bring-up
 * (`init_dmars`): the root table, queued invalidation, the root-table pointer with the global
 * context-cache and IOTLB flushes that must follow it, the fault interrupt, translation enable. Also
 * the two flush primitives every path uses (`qi_flush_context`, `qi_flush_iotlb`).
 */
import {
  encodeVtdDescriptor,
  type PageAllocator,
  type PhysMemory,
  type RecordFields,
  type VtdDescriptorName,
} from "@iommu-sim/hw";
import { IommuError } from "@iommu-sim/iommu";
import { decodeVtdCapability, type VtdCapability } from "../capability.js";
import {
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMA_GCMD_WBF,
  DMAR_FECTL_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_RTADDR_REG,
} from "../hardware/registers.js";
import { chooseAddressWidths, type VtdAddressWidths } from "./agaw.js";
import { createDomainIdAllocator, type DomainIdAllocator } from "./domain-ids.js";
import type { VtdMmio } from "./mmio.js";
import { enableQueuedInvalidation, type QueuedInvalidation } from "./queued-invalidation.js";

/** Context-cache invalidation granularity (`DMA_CCMD_*_INVL` as QI_CC_GRAN). */
export const CCMD = { GLOBAL: 1, DOMAIN: 2, DEVICE: 3 } as const;
/** IOTLB invalidation granularity (`DMA_TLB_*_FLUSH` as QI_IOTLB_GRAN). */
export const TLB = { GLOBAL: 1, DSI: 2, PSI: 3 } as const;
/** `DMA_CCMD_MASK_NOBIT`: no function mask. */
export const DMA_CCMD_MASK_NOBIT = 0;

/** CAP bits the driver reads beyond {@link VtdCapability}. */
const CAP_RWBF = 1n << 4n;
const CAP_DWD = 1n << 54n;
const CAP_DRD = 1n << 55n;
const CAP_ESRTPS = 1n << 63n;
/** ECAP.QI (queued invalidation). */
const ECAP_QI = 1n << 1n;
/** ECAP.SMTS (scalable mode): 256-bit descriptors whenever the unit has it (`qi_shift`). */
const ECAP_SMTS = 1n << 43n;
/** RTADDR.TTM = 01b: scalable mode (`DMA_RTADDR_SMT`). */
const DMA_RTADDR_SMT = 1n << 10n;
/** PASID-cache invalidation granularity (`QI_PC_*`): all PASIDs of a domain, one PASID, global. */
export const QI_PC = { ALL_PASIDS: 0, PASID_SEL: 1, GLOBAL: 3 } as const;
/** PASID-IOTLB granularity (`QI_GRAN_*`): all non-global entries of a PASID, page-selective. */
export const QI_GRAN = { NONG_PASID: 2, PSI_PASID: 3 } as const;

/** One unit as the driver keeps it. */
export interface IntelIommu {
  readonly name: string;
  readonly mmio: VtdMmio;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  /** CAP_REG as read at init. */
  readonly capRaw: bigint;
  /** ECAP_REG as read at init. */
  readonly ecap: bigint;
  /** Decoded CAP. */
  readonly cap: VtdCapability;
  /** agaw / msagaw / domain width. */
  readonly widths: VtdAddressWidths;
  /** Physical address of the root table. */
  readonly rootTable: number;
  /** Scalable mode (`sm_supported`): RTADDR.TTM = 01b, PASID tables. */
  readonly scalable: boolean;
  /** Encodes a descriptor at the queue's width (256-bit with ECAP.SMTS). */
  encode(name: VtdDescriptorName, fields: RecordFields): Uint8Array;
  /**
   * The PASID-based IOTLB descriptor (`qi_desc_piotlb`): page-selective with ADDR/AM/IH, or with
   * `am` undefined all non-global entries of the PASID.
   */
  piotlbDescriptor(did: number, pasid: number, addr: number, am: number | undefined, ih: boolean): Uint8Array;
  /** `qi_flush_pasid_cache`: one PASID-cache descriptor, then a wait. */
  flushPasidCache(did: number, granularity: number, pasid: number): void;
  readonly domainIds: DomainIdAllocator;
  readonly qi: QueuedInvalidation;
  /** `flush_context` (`qi_flush_context`): one context-cache descriptor, then a wait. */
  flushContext(did: number, sid: number, fm: number, granularity: number): void;
  /** `flush_iotlb` (`qi_flush_iotlb`): one IOTLB descriptor, then a wait. */
  flushIotlb(did: number, addr: number, am: number, ih: boolean, granularity: number): void;
  /** The IOTLB descriptor `qi_desc_iotlb` builds, for batching. */
  iotlbDescriptor(did: number, addr: number, am: number, ih: boolean, granularity: number): Uint8Array;
  /** `iommu_flush_write_buffer`: GCMD.WBF when CAP.RWBF says the hardware needs it. */
  flushWriteBuffer(): void;
  /** Where warnings go (the core's log once connected). */
  warn(message: string): void;
  /** Routes warnings to `sink`. */
  setWarn(sink: (message: string) => void): void;
}

/** Brings a unit up the way `init_dmars` and `intel_iommu_init` do, and returns its state. */
export function initIntelIommu(
  name: string,
  mmio: VtdMmio,
  memory: PhysMemory,
  allocator: PageAllocator,
  scalable = false,
): IntelIommu {
  const capRaw = mmio.read64(0x08);
  const ecap = mmio.read64(0x10);
  const cap = decodeVtdCapability(capRaw);
  const widths = chooseAddressWidths(cap.sagaw, cap.mgaw);
  if (widths === undefined) {
    throw new IommuError("ENODEV", `${name}: Cannot get a valid agaw (SAGAW 0x${cap.sagaw.toString(16)})`);
  }
  if (!(ecap & ECAP_QI)) {
    throw new IommuError(
      "EOPNOTSUPP",
      `${name}: register-based invalidation is not modelled; ECAP.QI is required`,
    );
  }
  let warnSink: (message: string) => void = () => {};
  const warn = (message: string) => warnSink(message);
  const gcmd = { value: 0 };
  // intel_iommu_init_qi, then iommu_alloc_root_entry, then iommu_set_root_entry.
  if (scalable && !(ecap & ECAP_SMTS)) {
    throw new IommuError(
      "EOPNOTSUPP",
      `${name}: scalable mode needs ECAP.SMTS, which the unit does not report`,
    );
  }
  const width = ecap & ECAP_SMTS ? 256 : 128;
  const qi = enableQueuedInvalidation(mmio, memory, allocator, gcmd, warn, width === 256);
  const rootTable = allocator.alloc(4096);
  const encode = (descriptor: VtdDescriptorName, fields: RecordFields) =>
    encodeVtdDescriptor(descriptor, fields, { width });

  const iotlbDescriptor = (did: number, addr: number, am: number, ih: boolean, granularity: number) =>
    encode("iotlb", {
      g: granularity,
      dr: (capRaw & CAP_DRD) !== 0n,
      dw: (capRaw & CAP_DWD) !== 0n,
      did,
      am,
      ih,
      addr: BigInt(addr),
    });

  const iommu: IntelIommu = {
    name,
    mmio,
    memory,
    allocator,
    capRaw,
    ecap,
    cap,
    widths,
    rootTable,
    scalable,
    encode,
    piotlbDescriptor(did, pasid, addr, am, ih) {
      return am === undefined
        ? encode("pasid-iotlb", { g: QI_GRAN.NONG_PASID, did, pasid })
        : encode("pasid-iotlb", { g: QI_GRAN.PSI_PASID, did, pasid, am, ih, addr: BigInt(addr) });
    },
    flushPasidCache(did, granularity, pasid) {
      qi.submit([encode("pasid-cache", { g: granularity, did, pasid })]);
    },
    domainIds: createDomainIdAllocator(cap.domainIds, name),
    qi,
    flushContext(did, sid, fm, granularity) {
      qi.submit([encode("context-cache", { g: granularity, did, sid, fm })]);
    },
    flushIotlb(did, addr, am, ih, granularity) {
      qi.submit([iotlbDescriptor(did, addr, am, ih, granularity)]);
    },
    iotlbDescriptor,
    flushWriteBuffer() {
      if (!(capRaw & CAP_RWBF)) return;
      mmio.write32(DMAR_GCMD_REG, gcmd.value | DMA_GCMD_WBF);
    },
    warn,
    setWarn(sink) {
      warnSink = sink;
    },
  };

  mmio.write64(DMAR_RTADDR_REG, BigInt(rootTable) | (scalable ? DMA_RTADDR_SMT : 0n));
  mmio.write32(DMAR_GCMD_REG, gcmd.value | DMA_GCMD_SRTP);
  if (!(mmio.read32(DMAR_GSTS_REG) & DMA_GCMD_SRTP))
    throw new IommuError("EIO", `${name}: root table pointer not set`);
  // Hardware with ESRTPS invalidates its caches as part of SRTP; otherwise software must.
  if (!(capRaw & CAP_ESRTPS)) {
    iommu.flushContext(0, 0, 0, CCMD.GLOBAL);
    iommu.flushIotlb(0, 0, 0, false, TLB.GLOBAL);
  }
  // dmar_set_interrupt unmasks the fault event (FECTL.IM = 0); iommu_enable_translation sets TE.
  mmio.write32(DMAR_FECTL_REG, 0);
  gcmd.value |= DMA_GCMD_TE;
  mmio.write32(DMAR_GCMD_REG, gcmd.value);
  if (!(mmio.read32(DMAR_GSTS_REG) & DMA_GCMD_TE))
    throw new IommuError("EIO", `${name}: translation did not enable`);
  return iommu;
}
