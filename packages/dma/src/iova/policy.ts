/**
 * The IOVA allocation policy of dma-iommu (`iommu_dma_alloc_iova()` in drivers/iommu/dma-iommu.c):
 * which limit a device's allocation honours, the size rounding that keeps the range caches sound,
 * and the "below 4 GiB first" workaround for PCI devices, given up for good on its first failure.
 */
import { IommuError } from "@iommu-sim/iommu";
import { MAX_IOVA_PFN } from "./iova-domain.js";
import { type IovaRcache, iovaAllocationPages } from "./rcache.js";

/** `DMA_BIT_MASK(32)`. */
const DMA_BIT_MASK_32 = 0xffff_ffffn;

/** The per-device state the policy reads and updates (`dev->iommu->pci_32bit_workaround`). */
export interface IovaPolicyDevice {
  /**
   * Try below 4 GiB before using the full mask. Set at probe for PCI devices unless `iommu.forcedac`;
   * cleared permanently by the first allocation that does not fit below 4 GiB.
   */
  pci32bitWorkaround: boolean;
  /** Receives `dev_notice()` messages ("Using 48-bit DMA addresses"). */
  notice?(message: string): void;
}

/** Inputs of {@link iommuDmaLimit}: the device's masks and the domain's aperture. */
export interface DmaLimitInput {
  /** The mask the mapping honours (`dma_mask` for streaming, `coherent_dma_mask` for coherent). */
  dmaMask: bigint;
  /** `dev->bus_dma_limit`; 0 means none. @default 0n */
  busDmaLimit?: bigint;
  /** `domain->geometry.force_aperture`. @default false */
  forceAperture?: boolean;
  /** `domain->geometry.aperture_end` (inclusive). @default 2^64 - 1 */
  apertureEnd?: bigint;
}

/** A device's effective allocation limit, precomputed once per mask so allocations do no bigint work. */
export interface DmaIovaLimit {
  /** Highest usable IOVA (inclusive). */
  readonly dmaLimit: bigint;
  /** `dma_limit >> shift`, clamped to what pfns can express. */
  readonly limitPfn: number;
  /** `DMA_BIT_MASK(32) >> shift`. */
  readonly limit32Pfn: number;
  /** Whether the limit reaches above 4 GiB (so the 32-bit-first workaround applies). */
  readonly above4G: boolean;
  /** `bits_per(dma_limit)`, for the notice. */
  readonly bits: number;
}

/**
 * The effective limit of `iommu_dma_alloc_iova()`: `min_not_zero(dma_mask, bus_dma_limit)`, then no
 * higher than the aperture end when the domain forces its aperture; expressed in pfns of a granule
 * of `1 << shift` bytes.
 * @throws IommuError EINVAL if the mask is 0 or negative, or `shift` is not an integer in 0..63.
 */
export function iommuDmaLimit(input: DmaLimitInput, shift: number): DmaIovaLimit {
  if (input.dmaMask <= 0n) throw new IommuError("EINVAL", `DMA mask ${input.dmaMask} is not positive`);
  if (!Number.isInteger(shift) || shift < 0 || shift > 63) {
    throw new IommuError("EINVAL", `IOVA shift ${String(shift)} is not an integer in 0..63`);
  }
  let dmaLimit = input.dmaMask;
  const bus = input.busDmaLimit ?? 0n;
  if (bus !== 0n && bus < dmaLimit) dmaLimit = bus;
  if (input.forceAperture === true && input.apertureEnd !== undefined && input.apertureEnd < dmaLimit) {
    dmaLimit = input.apertureEnd;
  }
  const pfn = dmaLimit >> BigInt(shift);
  const max = BigInt(MAX_IOVA_PFN);
  return {
    dmaLimit,
    limitPfn: Number(pfn > max ? max : pfn),
    limit32Pfn: Number(DMA_BIT_MASK_32 >> BigInt(shift)),
    above4G: dmaLimit > DMA_BIT_MASK_32,
    bits: dmaLimit < 2n ? 1 : dmaLimit.toString(2).length,
  };
}

/**
 * `iommu_dma_alloc_iova()` in pfns: rounds `iovaLen` granules as {@link iovaAllocationPages}, tries
 * below 4 GiB without flushing the caches while the device keeps its PCI workaround (clearing it and
 * sending the "Using %d-bit DMA addresses" notice on failure), then the whole limit with a cache
 * flush on failure. Returns the low pfn, or 0 when nothing fits.
 * @throws IommuError EINVAL for a bad length or CPU (from the range caches).
 */
export function iommuDmaAllocIovaPfn(
  rcache: IovaRcache,
  iovaLen: number,
  limit: DmaIovaLimit,
  dev: IovaPolicyDevice,
  cpu: number,
): number {
  const len = iovaAllocationPages(iovaLen);
  if (limit.above4G && dev.pci32bitWorkaround) {
    const pfn = rcache.allocIovaFast(len, limit.limit32Pfn, false, cpu);
    if (pfn !== 0) return pfn;
    dev.pci32bitWorkaround = false;
    dev.notice?.(`Using ${limit.bits}-bit DMA addresses`);
  }
  return rcache.allocIovaFast(len, limit.limitPfn, true, cpu);
}

/**
 * `iommu_dma_alloc_iova(domain, size, dma_limit, dev)`: an IOVA for `size` bytes (a multiple of the
 * granule) below the device's limit, or 0n when nothing fits (callers turn that into
 * `DMA_MAPPING_ERROR`). See {@link iommuDmaAllocIovaPfn}.
 * @throws IommuError EINVAL if `size` is not a positive multiple of the granule.
 */
export function iommuDmaAllocIova(
  rcache: IovaRcache,
  size: bigint,
  limit: DmaIovaLimit,
  dev: IovaPolicyDevice,
  cpu: number,
): bigint {
  const { granule, shift } = rcache.domain;
  if (size <= 0n || size % BigInt(granule) !== 0n) {
    throw new IommuError(
      "EINVAL",
      `IOVA allocation size ${size} is not a positive multiple of the granule ${granule}`,
    );
  }
  const pfn = iommuDmaAllocIovaPfn(rcache, Number(size >> BigInt(shift)), limit, dev, cpu);
  return BigInt(pfn) << BigInt(shift);
}
