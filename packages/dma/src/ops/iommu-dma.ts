/**
 * dma-iommu (drivers/iommu/dma-iommu.c `iommu_dma_ops`): the operations of a device whose group is
 * on a DMA or DMA-FQ default domain. Streaming maps get an IOVA from the domain's cookie and are
 * mapped with `dma_info_to_prot()`; untrusted devices bounce sub-granule buffers through swiotlb with
 * the rest of the granule zeroed; scatterlists get one contiguous IOVA range.
 */
import type { SgEntry } from "@iommu-sim/iommu";
import { IOMMU_MMIO } from "@iommu-sim/iommu";
import { DMA_ATTR_SKIP_CPU_SYNC, DMA_MAPPING_ERROR, DmaDirection, dmaInfoToProt } from "../direction.js";
import type { IommuDmaCookie } from "../iommu-dma/cookie.js";
import { finaliseSg, iommuDmaSgLayout } from "../iommu-dma/sg-layout.js";
import { pageAlign } from "./direct.js";
import type { DmaContext, DmaDeviceState, DmaOps } from "./ops.js";

const hex = (v: number): string => `0x${v.toString(16)}`;

/** Creates the dma-iommu operations; `cookieOf` gives the cookie of a device's DMA domain. */
export function createIommuDmaOps(ctx: DmaContext, cookieOf: (st: DmaDeviceState) => IommuDmaCookie): DmaOps {
  const { swiotlb, counters, memory, core } = ctx;

  const needsBounce = (st: DmaDeviceState, granule: number, phys: number, size: number): boolean =>
    st.device.untrusted && (phys % granule !== 0 || size % granule !== 0);

  const ops: DmaOps = {
    kind: "iommu",
    mapPage(st, phys, size, dir, attrs, cpu) {
      const cookie = cookieOf(st);
      const granule = cookie.granule;
      const prot = dmaInfoToProt(dir, st.coherent, attrs);
      let target = phys;
      let bounce = -1;
      if (needsBounce(st, granule, phys, size)) {
        if (swiotlb === undefined) {
          ctx.warn(st.device, "untrusted device: swiotlb is not active, cannot bounce a sub-granule buffer");
          return -1;
        }
        bounce = swiotlb.map(phys, size, { allocAlignMask: granule - 1, minAlignMask: st.minAlignMask });
        if (bounce < 0) return -1;
        // The device sees whole granules: zero what is not the buffer (all of it when the data was
        // not copied for the device), so it cannot read stale data.
        const aligned = Math.ceil(size / granule) * granule;
        let padStart = bounce;
        let padSize = aligned;
        if (
          (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 &&
          (dir === DmaDirection.TO_DEVICE || dir === DmaDirection.BIDIRECTIONAL)
        ) {
          padStart += size;
          padSize -= size;
        }
        if (padSize > 0) memory.fill(padStart, padSize, 0);
        target = bounce;
      }
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
      const addr = cookie.map(st, target, size, prot, st.device.dmaMask, cpu);
      if (addr < 0) {
        if (bounce >= 0) swiotlb!.unmap(bounce, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
        return -1;
      }
      if (bounce >= 0) cookie.lookup(addr)!.bounce = bounce;
      return addr;
    },
    unmapPage(st, addr, size, dir, attrs, cpu) {
      const cookie = cookieOf(st);
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
      const rec = cookie.unmap(st.device, addr, cpu);
      if (rec !== undefined && rec.bounce >= 0) swiotlb!.unmap(rec.bounce, size, dir, attrs);
    },
    mapResource(st, phys, size, dir, attrs, cpu) {
      const prot = dmaInfoToProt(dir, false, attrs) | IOMMU_MMIO;
      return cookieOf(st).map(st, phys, size, prot, st.device.dmaMask, cpu);
    },
    unmapResource(st, addr, _size, _dir, _attrs, cpu) {
      cookieOf(st).unmap(st.device, addr, cpu);
    },
    mapSg(st, sg, nents, dir, attrs, cpu) {
      if (st.device.untrusted) {
        // `iommu_dma_map_sg_swiotlb()`: every entry on its own, possibly bounced.
        for (let i = 0; i < nents; i++) {
          const s = sg[i]!;
          const addr = ops.mapPage(st, Number(s.paddr), s.length, dir, attrs, cpu);
          if (addr < 0) {
            for (let j = 0; j < i; j++) {
              const m = sg[j]!;
              ops.unmapPage(st, Number(m.dmaAddress), m.dmaLength, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC, cpu);
            }
            for (let j = 0; j < nents; j++) {
              sg[j]!.dmaAddress = DMA_MAPPING_ERROR;
              sg[j]!.dmaLength = 0;
            }
            return 0;
          }
          s.dmaAddress = BigInt(addr);
          s.dmaLength = s.length;
        }
        return nents;
      }
      const cookie = cookieOf(st);
      const granule = cookie.granule;
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance += nents;
      const pa = new Float64Array(nents);
      const len = new Float64Array(nents);
      for (let i = 0; i < nents; i++) {
        pa[i] = Number(sg[i]!.paddr);
        len[i] = sg[i]!.length;
      }
      const layout = iommuDmaSgLayout(pa, len, nents, granule, st.segBoundary);
      const runs: SgEntry[] = [];
      for (let i = 0; i < nents; i++) runs.push({ paddr: layout.alignedPa[i]!, length: layout.iovaLen[i]! });
      const prot = dmaInfoToProt(dir, st.coherent, attrs);
      const iova = cookie.mapSg(st, runs, layout.total, prot, st.device.dmaMask, cpu);
      if (iova < 0) {
        for (let i = 0; i < nents; i++) {
          sg[i]!.dmaAddress = DMA_MAPPING_ERROR;
          sg[i]!.dmaLength = 0;
        }
        return 0;
      }
      const segs = finaliseSg(layout, len, nents, iova, st.segBoundary, st.maxSegSize);
      for (let i = 0; i < nents; i++) {
        const a = segs.addr[i]!;
        sg[i]!.dmaAddress = a < 0 ? DMA_MAPPING_ERROR : BigInt(a);
        sg[i]!.dmaLength = segs.len[i]!;
      }
      return segs.count;
    },
    unmapSg(st, sg, nents, dir, attrs, cpu) {
      if (st.device.untrusted) {
        for (let i = 0; i < nents; i++) {
          const s = sg[i]!;
          if (s.dmaLength !== 0) ops.unmapPage(st, Number(s.dmaAddress), s.dmaLength, dir, attrs, cpu);
        }
        return;
      }
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance += nents;
      // One IOVA range: it starts at the first output segment.
      const first = sg[0];
      if (first === undefined || first.dmaLength === 0) {
        ctx.warn(st.device, "unmap_sg of a list with no mapped segment");
        return;
      }
      cookieOf(st).unmap(st.device, Number(first.dmaAddress), cpu);
    },
    allocCoherent(st, size, attrs, cpu) {
      const bytes = pageAlign(size);
      const pa = ctx.ramBlocks.alloc(bytes);
      if (pa < 0) return null;
      const prot = dmaInfoToProt(DmaDirection.BIDIRECTIONAL, st.coherent, attrs);
      const dma = cookieOf(st).map(st, pa, bytes, prot, st.device.coherentDmaMask, cpu);
      if (dma < 0) {
        ctx.ramBlocks.free(pa);
        return null;
      }
      return { cpu: pa, dma };
    },
    freeCoherent(st, _size, cpuAddr, dmaAddr, _attrs, cpu) {
      cookieOf(st).unmap(st.device, dmaAddr, cpu);
      if (!ctx.ramBlocks.free(cpuAddr)) ctx.warn(st.device, `free of ${hex(cpuAddr)}: not a coherent buffer`);
    },
    syncSingle(st, addr, size, dir, forCpu) {
      if (st.coherent && !st.device.untrusted) return;
      if (!st.coherent) counters.cacheMaintenance++;
      const cookie = cookieOf(st);
      const phys = Number(core.iovaToPhys(cookie.domain, addr));
      if (phys === 0 || swiotlb === undefined || !swiotlb.isBuffer(phys)) return;
      if (forCpu) swiotlb.syncForCpu(phys, size, dir);
      else swiotlb.syncForDevice(phys, size, dir);
    },
    syncSg(st, sg, nents, dir, forCpu) {
      if (st.device.untrusted) {
        for (let i = 0; i < nents; i++) {
          const s = sg[i]!;
          if (s.dmaLength !== 0) ops.syncSingle(st, Number(s.dmaAddress), s.dmaLength, dir, forCpu);
        }
      } else if (!st.coherent) {
        counters.cacheMaintenance += nents;
      }
    },
    maskSupported(_st, mask) {
      return mask > 0n;
    },
  };
  return ops;
}
