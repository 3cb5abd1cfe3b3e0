/**
 * ARM32's IOMMU DMA operations (arch/arm/mm/dma-mapping.c `iommu_ops` / `iommu_coherent_ops`) for
 * devices attached to an {@link ArmIommuMapping}: first-fit bitmap IOVAs, `iommu_map()` with a
 * protection from the direction alone, strict `iommu_unmap()`, and scatterlists mapped in chunks
 * (a new chunk at every entry with an offset, after a chunk that does not end on a page, or when
 * the chunk would exceed the maximum segment size), each chunk its own IOVA allocation.
 */
import { IOMMU_MMIO, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import type { ArmMappingRecord } from "../arm/mapping.js";
import { DMA_ATTR_SKIP_CPU_SYNC, DMA_MAPPING_ERROR, DmaDirection } from "../direction.js";
import { pageAlign } from "./direct.js";
import { DMA_BIT_MASK_24, type DmaContext, type DmaDeviceState, type DmaOps, PAGE_SIZE } from "./ops.js";

/** `__dma_info_to_prot()` of ARM32 without attributes: the direction only. */
export function armDirectionProt(dir: DmaDirection): number {
  switch (dir) {
    case DmaDirection.BIDIRECTIONAL:
      return IOMMU_READ | IOMMU_WRITE;
    case DmaDirection.TO_DEVICE:
      return IOMMU_READ;
    case DmaDirection.FROM_DEVICE:
      return IOMMU_WRITE;
    default:
      return 0;
  }
}

/** Creates the ARM operations; `mappingOf` gives the mapping a device is attached to. */
export function createArmIommuOps(
  ctx: DmaContext,
  mappingOf: (st: DmaDeviceState) => ArmMappingRecord,
): DmaOps {
  const { core, counters } = ctx;

  // Allocates and maps `len` (page-aligned) bytes at `phys` (page-aligned); -1 on failure.
  const mapRange = (m: ArmMappingRecord, phys: number, len: number, prot: number): number => {
    const off = m.allocator.allocIovaOffset(len);
    if (off < 0) return -1;
    const iova = m.baseNum + off;
    try {
      core.map(m.domain, iova, phys, len, prot);
    } catch (error) {
      m.allocator.freeIova(BigInt(iova), len);
      ctx.warn(undefined, `arm iommu_map of ${len} bytes at 0x${iova.toString(16)} failed: ${String(error)}`);
      return -1;
    }
    m.mappings.set(iova, len);
    return iova;
  };

  // `__iommu_remove_mapping()`: unmaps and frees the allocation starting at `addr`'s page.
  const removeMapping = (st: DmaDeviceState, m: ArmMappingRecord, addr: number): void => {
    const iova = addr - (addr % PAGE_SIZE);
    if (iova === 0) return;
    const len = m.mappings.get(iova);
    if (len === undefined) {
      ctx.warn(st.device, `unmap of 0x${addr.toString(16)}: no mapping starts there`);
      return;
    }
    m.mappings.delete(iova);
    core.unmap(m.domain, iova, len);
    m.allocator.freeIova(BigInt(iova), len);
  };

  // `__map_sg_chunk()`: one allocation for entries from `from` covering `size` bytes from their pages.
  const mapChunk = (
    m: ArmMappingRecord,
    pa: Float64Array,
    len: Float64Array,
    from: number,
    nents: number,
    size: number,
    prot: number,
  ): number => {
    const total = pageAlign(size);
    const off = m.allocator.allocIovaOffset(total);
    if (off < 0) return -1;
    const base = m.baseNum + off;
    let iova = base;
    let done = 0;
    try {
      for (let j = from; done < total && j < nents; j++) {
        const pageOff = pa[j]! % PAGE_SIZE;
        const l = pageAlign(pageOff + len[j]!);
        core.map(m.domain, iova, pa[j]! - pageOff, l, prot);
        iova += l;
        done += l;
      }
    } catch {
      if (done > 0) core.unmap(m.domain, base, done);
      m.allocator.freeIova(BigInt(base), total);
      return -1;
    }
    m.mappings.set(base, total);
    return base;
  };

  const ops: DmaOps = {
    kind: "arm",
    mapPage(st, phys, size, dir, attrs) {
      const m = mappingOf(st);
      const offset = phys % PAGE_SIZE;
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
      const iova = mapRange(m, phys - offset, pageAlign(size + offset), armDirectionProt(dir));
      return iova < 0 ? -1 : iova + offset;
    },
    unmapPage(st, addr, _size, _dir, attrs) {
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
      removeMapping(st, mappingOf(st), addr);
    },
    mapResource(st, phys, size, dir) {
      const m = mappingOf(st);
      const offset = phys % PAGE_SIZE;
      const iova = mapRange(m, phys - offset, pageAlign(size + offset), armDirectionProt(dir) | IOMMU_MMIO);
      return iova < 0 ? -1 : iova + offset;
    },
    unmapResource(st, addr) {
      removeMapping(st, mappingOf(st), addr);
    },
    mapSg(st, sg, nents, dir, attrs) {
      const m = mappingOf(st);
      const prot = armDirectionProt(dir);
      if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance += nents;
      const pa = new Float64Array(nents);
      const len = new Float64Array(nents);
      for (let i = 0; i < nents; i++) {
        pa[i] = Number(sg[i]!.paddr);
        len[i] = sg[i]!.length;
      }
      const max = st.maxSegSize;
      let offset = pa[0]! % PAGE_SIZE;
      let size = offset + len[0]!;
      let start = 0;
      let dma = 0;
      let count = 0;
      const fail = (): number => {
        for (let i = 0; i < count; i++) removeMapping(st, m, Number(sg[i]!.dmaAddress));
        for (let i = 0; i < nents; i++) {
          sg[i]!.dmaAddress = DMA_MAPPING_ERROR;
          sg[i]!.dmaLength = 0;
        }
        return 0;
      };
      for (let i = 1; i < nents; i++) {
        const s = sg[i]!;
        s.dmaAddress = DMA_MAPPING_ERROR;
        s.dmaLength = 0;
        const sOff = pa[i]! % PAGE_SIZE;
        if (sOff !== 0 || size % PAGE_SIZE !== 0 || size + len[i]! > max) {
          const handle = mapChunk(m, pa, len, start, nents, size, prot);
          if (handle < 0) return fail();
          sg[dma]!.dmaAddress = BigInt(handle + offset);
          sg[dma]!.dmaLength = size - offset;
          size = sOff;
          offset = sOff;
          start = i;
          dma++;
          count++;
        }
        size += len[i]!;
      }
      const handle = mapChunk(m, pa, len, start, nents, size, prot);
      if (handle < 0) return fail();
      sg[dma]!.dmaAddress = BigInt(handle + offset);
      sg[dma]!.dmaLength = size - offset;
      return count + 1;
    },
    unmapSg(st, sg, nents, _dir, attrs) {
      const m = mappingOf(st);
      for (let i = 0; i < nents; i++) {
        const s = sg[i]!;
        if (s.dmaLength !== 0) removeMapping(st, m, Number(s.dmaAddress));
        if (!st.coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) counters.cacheMaintenance++;
      }
    },
    allocCoherent(st, size) {
      const m = mappingOf(st);
      const bytes = pageAlign(size);
      const pa = ctx.ramBlocks.alloc(bytes);
      if (pa < 0) return null;
      const iova = mapRange(m, pa, bytes, IOMMU_READ | IOMMU_WRITE);
      if (iova < 0) {
        ctx.ramBlocks.free(pa);
        return null;
      }
      return { cpu: pa, dma: iova };
    },
    freeCoherent(st, _size, cpuAddr, dmaAddr) {
      removeMapping(st, mappingOf(st), dmaAddr);
      if (!ctx.ramBlocks.free(cpuAddr))
        ctx.warn(st.device, `free of 0x${cpuAddr.toString(16)}: not a coherent buffer`);
    },
    syncSingle(st) {
      if (!st.coherent) counters.cacheMaintenance++;
    },
    syncSg(st, _sg, nents) {
      if (!st.coherent) counters.cacheMaintenance += nents;
    },
    maskSupported(_st, mask) {
      return mask >= DMA_BIT_MASK_24;
    },
  };
  return ops;
}
