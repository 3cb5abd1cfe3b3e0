/**
 * What every set of DMA operations shares (Linux's `struct dma_map_ops` and the state the DMA
 * layer keeps per device and per machine). Internal to the package: the public way in is
 * `createDmaApi()`. Addresses here are numbers (safe integers), -1 standing for `DMA_MAPPING_ERROR`.
 */
import type { IommuCore, IommuDevice, PageProvider, PhysBus } from "@iommu-sim/iommu";
import type { DmaDirection } from "../direction.js";
import type { FlushQueueOptions } from "../flush-queue/flush-queue.js";
import type { IovaPolicyDevice } from "../iova/policy.js";
import type { ScatterlistEntry } from "../scatterlist.js";
import type { Swiotlb } from "../swiotlb/swiotlb.js";
import type { RamBlocks } from "./ram-blocks.js";

/** Which DMA operations serve a device: dma-direct, dma-iommu, or ARM32's `iommu_ops`. */
export type DmaOpsKind = "direct" | "iommu" | "arm";

/** Counters the operations update; `dma.stats()` reports them. */
export interface DmaCounters {
  maps: number;
  unmaps: number;
  mapErrors: number;
  /** `iommu_iotlb_sync()` calls of strict unmaps. */
  iotlbSyncs: number;
  /** `flush_iotlb_all()` calls of flush queues. */
  flushAlls: number;
  /** Unmapped ranges the flushes covered (sum, and most in one flush). */
  flushedRanges: number;
  maxRangesPerFlush: number;
  /** Lazy unmaps whose flush has happened, and their stale windows. */
  staleUnmaps: number;
  staleTotalNs: number;
  staleMaxNs: number;
  /** Device accesses to unmapped-but-not-flushed IOVAs, and what became of them. */
  staleAccesses: number;
  staleHits: number;
  staleMisses: number;
  staleUnknown: number;
  staleSucceeded: number;
  /** CPU cache maintenance operations for non-coherent devices (`arch_sync_dma_for_*`). */
  cacheMaintenance: number;
}

/** Creates zeroed counters. */
export function createDmaCounters(): DmaCounters {
  return {
    maps: 0,
    unmaps: 0,
    mapErrors: 0,
    iotlbSyncs: 0,
    flushAlls: 0,
    flushedRanges: 0,
    maxRangesPerFlush: 0,
    staleUnmaps: 0,
    staleTotalNs: 0,
    staleMaxNs: 0,
    staleAccesses: 0,
    staleHits: 0,
    staleMisses: 0,
    staleUnknown: 0,
    staleSucceeded: 0,
    cacheMaintenance: 0,
  };
}

/** A warning the DMA layer printed (Linux's `dev_warn` / `WARN`). */
export interface DmaWarning {
  /** Device name, or `undefined` for machine-wide messages. */
  readonly device: string | undefined;
  /** The message. */
  readonly message: string;
  /** Virtual time, ns. */
  readonly time: number;
}

/** The machine-wide state the operations share. */
export interface DmaContext {
  readonly core: IommuCore;
  readonly memory: PhysBus;
  readonly ram: PageProvider;
  /** Coherent-buffer blocks taken from `ram`. */
  readonly ramBlocks: RamBlocks;
  readonly swiotlb: Swiotlb | undefined;
  readonly counters: DmaCounters;
  readonly cpus: number;
  readonly flushQueue: Omit<FlushQueueOptions, "cpus">;
  /** `iommu.forcedac=1`: PCI devices skip the below-4-GiB first try. */
  readonly forcedac: boolean;
  warn(device: IommuDevice | undefined, message: string): void;
}

/** Per-device DMA parameters (`struct device_dma_parameters`, `dev_is_dma_coherent()`...). */
export interface DmaDeviceState {
  readonly device: IommuDevice;
  /** `dev_is_dma_coherent()`: DMA snoops CPU caches (no cache maintenance, `IOMMU_CACHE`). */
  coherent: boolean;
  /** `dma_get_max_seg_size()`. */
  maxSegSize: number;
  /** `dma_get_seg_boundary() + 1`, or 0 when there is none (`ULONG_MAX`). */
  segBoundary: number;
  /** `dma_get_min_align_mask()`. */
  minAlignMask: number;
  /** `dev->iommu->pci_32bit_workaround` and its notice. */
  readonly policy: IovaPolicyDevice;
}

/** A coherent buffer as the operations return it. */
export interface CoherentBuffer {
  readonly cpu: number;
  readonly dma: number;
}

/** One set of DMA operations (`struct dma_map_ops`); -1 is `DMA_MAPPING_ERROR`. */
export interface DmaOps {
  readonly kind: DmaOpsKind;
  mapPage(
    st: DmaDeviceState,
    phys: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): number;
  unmapPage(
    st: DmaDeviceState,
    addr: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): void;
  mapResource(
    st: DmaDeviceState,
    phys: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): number;
  unmapResource(
    st: DmaDeviceState,
    addr: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): void;
  /** Returns output segments, 0 on failure (everything undone). */
  mapSg(
    st: DmaDeviceState,
    sg: ScatterlistEntry[],
    nents: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): number;
  unmapSg(
    st: DmaDeviceState,
    sg: ScatterlistEntry[],
    nents: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): void;
  allocCoherent(st: DmaDeviceState, size: number, attrs: number, cpu: number): CoherentBuffer | null;
  freeCoherent(
    st: DmaDeviceState,
    size: number,
    cpuAddr: number,
    dmaAddr: number,
    attrs: number,
    cpu: number,
  ): void;
  syncSingle(st: DmaDeviceState, addr: number, size: number, dir: DmaDirection, forCpu: boolean): void;
  syncSg(st: DmaDeviceState, sg: ScatterlistEntry[], nents: number, dir: DmaDirection, forCpu: boolean): void;
  /** `dma_supported()`. */
  maskSupported(st: DmaDeviceState, mask: bigint): boolean;
}

/** `PAGE_SIZE` of the simulated CPU. */
export const PAGE_SIZE = 4096;

/** `DMA_BIT_MASK(24)`: the smallest mask dma-direct supports (x86's ZONE_DMA). */
export const DMA_BIT_MASK_24 = 0xff_ffffn;
