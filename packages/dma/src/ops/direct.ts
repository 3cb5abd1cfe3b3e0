/**
 * dma-direct (kernel/dma/direct.c, direct.h): the operations of a device no IOMMU translates, or
 * one on an identity domain. The DMA address is the physical address; memory the device's mask
 * cannot reach is bounced through swiotlb (`dma_direct_map_page()` -> `swiotlb_map()`), and without
 * swiotlb the map fails.
 */
import { DMA_ATTR_SKIP_CPU_SYNC, type DmaDirection } from "../direction.js";
import { DMA_BIT_MASK_24, type DmaContext, type DmaDeviceState, type DmaOps, PAGE_SIZE } from "./ops.js";

const maskNumber = (mask: bigint): number => (mask >= 2n ** 53n ? Number.MAX_SAFE_INTEGER : Number(mask));
const hex = (v: number): string => `0x${v.toString(16)}`;

/** `dma_capable()`: the whole buffer sits at or below the mask. */
function capable(addr: number, size: number, mask: bigint): boolean {
  return addr + size - 1 <= maskNumber(mask);
}

/** Creates the dma-direct operations of a machine. */
export function createDirectOps(ctx: DmaContext): DmaOps {
  const { swiotlb, counters } = ctx;

  // `swiotlb_map()`: bounce, and give the slots back if even the bounce buffer is out of reach.
  const bounce = (
    st: DmaDeviceState,
    phys: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
  ): number => {
    if (swiotlb === undefined) return -1;
    const tlb = swiotlb.map(phys, size, { minAlignMask: st.minAlignMask });
    if (tlb < 0) return -1;
    if (!capable(tlb, size, st.device.dmaMask)) {
      swiotlb.unmap(tlb, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      ctx.warn(
        st.device,
        `swiotlb addr ${hex(tlb)}+${size} overflow (mask ${st.device.dmaMask.toString(16)}, bus limit 0).`,
      );
      return -1;
    }
    return tlb;
  };

  const ops: DmaOps = {
    kind: "direct",
    mapPage(st, phys, size, dir, attrs) {
      if (capable(phys, size, st.device.dmaMask)) {
        if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
        return phys;
      }
      if (swiotlb === undefined) {
        ctx.warn(
          st.device,
          `DMA addr ${hex(phys)}+${size} overflow (mask ${st.device.dmaMask.toString(16)}, bus limit 0).`,
        );
        return -1;
      }
      return bounce(st, phys, size, dir, attrs);
    },
    unmapPage(st, addr, size, dir, attrs) {
      if (swiotlb?.isBuffer(addr)) {
        try {
          swiotlb.unmap(addr, size, dir, attrs);
        } catch (error) {
          ctx.warn(st.device, `unmap of ${hex(addr)}: ${String(error)}`);
        }
        return;
      }
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
    },
    mapResource(st, phys, size) {
      if (!capable(phys, size, st.device.dmaMask)) {
        ctx.warn(
          st.device,
          `DMA addr ${hex(phys)}+${size} overflow (mask ${st.device.dmaMask.toString(16)}, bus limit 0).`,
        );
        return -1;
      }
      return phys;
    },
    unmapResource() {},
    mapSg(st, sg, nents, dir, attrs, cpu) {
      for (let i = 0; i < nents; i++) {
        const s = sg[i]!;
        const addr = ops.mapPage(st, Number(s.paddr), s.length, dir, attrs, cpu);
        if (addr < 0) {
          for (let j = 0; j < i; j++) {
            const m = sg[j]!;
            ops.unmapPage(st, Number(m.dmaAddress), m.dmaLength, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC, cpu);
            m.dmaLength = 0;
          }
          return 0;
        }
        s.dmaAddress = BigInt(addr);
        s.dmaLength = s.length;
      }
      return nents;
    },
    unmapSg(st, sg, nents, dir, attrs, cpu) {
      for (let i = 0; i < nents; i++) {
        const s = sg[i]!;
        if (s.dmaLength === 0) continue;
        ops.unmapPage(st, Number(s.dmaAddress), s.dmaLength, dir, attrs, cpu);
      }
    },
    allocCoherent(st, size) {
      const pa = ctx.ramBlocks.alloc(size);
      if (pa < 0) return null;
      if (!capable(pa, size, st.device.coherentDmaMask)) {
        // Linux would retry from ZONE_DMA32 / ZONE_DMA; the simulated RAM has no zones.
        ctx.ramBlocks.free(pa);
        ctx.warn(st.device, `coherent allocation at ${hex(pa)} is above the coherent DMA mask`);
        return null;
      }
      return { cpu: pa, dma: pa };
    },
    freeCoherent(st, _size, cpuAddr) {
      if (!ctx.ramBlocks.free(cpuAddr)) ctx.warn(st.device, `free of ${hex(cpuAddr)}: not a coherent buffer`);
    },
    syncSingle(st, addr, size, dir, forCpu) {
      if (!st.coherent) counters.cacheMaintenance++;
      if (swiotlb?.isBuffer(addr)) {
        if (forCpu) swiotlb.syncForCpu(addr, size, dir);
        else swiotlb.syncForDevice(addr, size, dir);
      }
    },
    syncSg(st, sg, nents, dir, forCpu) {
      for (let i = 0; i < nents; i++) {
        const s = sg[i]!;
        if (s.dmaLength !== 0) ops.syncSingle(st, Number(s.dmaAddress), s.length, dir, forCpu);
      }
    },
    maskSupported(_st, mask) {
      return mask >= DMA_BIT_MASK_24;
    },
  };
  return ops;
}

/** `PAGE_ALIGN()`. */
export function pageAlign(size: number): number {
  return Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
}
