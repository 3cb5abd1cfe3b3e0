import {
  IOMMU_CACHE,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_MMIO,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { DMA_ATTR_PRIVILEGED, DMA_MAPPING_ERROR, DmaDirection } from "./direction.js";
import { createScatterlist } from "./scatterlist.js";
import { errno, LAZY_CAPS, machine } from "./test-machine.js";

const { BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE } = DmaDirection;
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe("choosing the operations", () => {
  it("translated default domain -> iommu, identity -> direct, no IOMMU -> direct", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    expect(m.dma.device(dev).opsKind).toBe("iommu");
    const pt = machine({ passthrough: true });
    const d2 = pt.core.addPciDevice({ bus: 0, slot: 1 });
    expect(pt.dma.device(d2).opsKind).toBe("direct");
    const plain = m.core.addPlatformDevice({ name: "uart" });
    const h = m.dma.device(plain);
    expect(h.opsKind).toBe("direct");
    expect(h.mapSingle(0x4000_1000, 64, TO_DEVICE)).toBe(0x4000_1000n);
  });
  it("untrusted devices get a translated domain even in passthrough", () => {
    const pt = machine({ passthrough: true });
    const dev = pt.core.addPciDevice({ bus: 0, slot: 1, untrusted: true });
    expect(pt.dma.opsKind(dev)).toBe("iommu");
  });
  it("DMA_FQ is demoted to DMA without deferred-flush and kept with it", () => {
    const a = machine({ strict: false });
    const da = a.core.addPciDevice({ bus: 0, slot: 1 });
    expect(a.dma.iommuDmaDomain(da)).toMatchObject({ type: "DMA", demoted: true, granule: 4096 });
    expect(a.dma.warnings.at(-1)?.message).toMatch(/demoted/);
    const b = machine({ strict: false, ref: { caps: LAZY_CAPS } });
    const db = b.core.addPciDevice({ bus: 0, slot: 1 });
    expect(b.dma.iommuDmaDomain(db)).toMatchObject({ type: "DMA-FQ", demoted: false });
  });
  it("a group claimed for user-space DMA: binding fails EBUSY (iommu_device_use_default_domain)", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    m.core.groupClaimDmaOwner(m.core.groupGet(dev)!, {});
    expect(errno(() => m.dma.device(dev))).toBe("EBUSY");
    expect(m.dma.opsKind(dev)).toBe("refused");
    m.core.groupReleaseDmaOwner(m.core.groupGet(dev)!);
    expect(m.dma.device(dev).opsKind).toBe("iommu");
    // Bound: user space cannot claim it any more (the other direction: EPERM).
    expect(errno(() => m.core.groupClaimDmaOwner(m.core.groupGet(dev)!, {}))).toBe("EPERM");
  });
  it("a driver-owned domain: every call is refused with EBUSY and nothing changes", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    const own = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    m.core.attachDevice(own, dev);
    const before = m.dma.stats();
    expect(errno(() => d.mapPage(0x4000_0000, 0, 4096, BIDIRECTIONAL))).toBe("EBUSY");
    expect(errno(() => d.allocCoherent(4096))).toBe("EBUSY");
    expect(m.dma.stats()).toEqual(before);
    m.core.detachDevice(own, dev);
    expect(d.opsKind).toBe("iommu");
  });
  it("release unbinds: the handle is dead, the group can be claimed", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    d.release();
    expect(errno(() => d.mapSingle(0x4000_0000, 4, TO_DEVICE))).toBe("ENODEV");
    m.core.groupClaimDmaOwner(m.core.groupGet(dev)!, {});
  });
});

describe("masks", () => {
  it("EIO for unsupported masks; the mask is honoured", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    expect(errno(() => d.setMask(0n))).toBe("EIO");
    d.setCoherentMask(0xff_ffffn);
    const buf = d.allocCoherent(8192)!;
    expect(buf.dmaAddr < 0x100_0000n).toBe(true);
    d.setMaskAndCoherent(0xffff_ffff_ffff_ffffn);
    expect(dev.dmaMask).toBe(0xffff_ffff_ffff_ffffn);
    const plain = m.core.addPlatformDevice({ name: "old-isa" });
    expect(errno(() => m.dma.dmaSetMask(plain, 0xffffn))).toBe("EIO");
    m.dma.dmaSetCoherentMask(plain, 0xff_ffffn);
  });
  it("PCI devices try below 4 GiB first; platform devices do not; forcedac turns it off", () => {
    const m = machine({ ref: { resvRegions: () => [] } });
    const pci = m.core.addPciDevice({ bus: 0, slot: 1, dmaMask: (1n << 48n) - 1n });
    const plat = m.core.addPlatformDevice({
      name: "gpu",
      firmware: { iommu: "ref0", streamIds: [7] },
      dmaMask: (1n << 48n) - 1n,
    });
    expect(m.dma.device(pci).mapSingle(0x4000_0000, 4096, TO_DEVICE) < 0x1_0000_0000n).toBe(true);
    expect(m.dma.device(plat).mapSingle(0x4000_0000, 4096, TO_DEVICE) > 0xffff_ffffn).toBe(true);
    const f = machine({ dma: { forcedac: true } });
    const p2 = f.core.addPciDevice({ bus: 0, slot: 1, dmaMask: (1n << 48n) - 1n });
    expect(f.dma.device(p2).mapSingle(0x4000_0000, 4096, TO_DEVICE) > 0xffff_ffffn).toBe(true);
  });
});

describe("dma-iommu mappings", () => {
  it("prot follows dma_info_to_prot; resources get IOMMU_MMIO and never IOMMU_CACHE", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    const domain = m.core.getDmaDomain(dev)!;
    const prots: number[] = [];
    m.core.subscribe(() => {});
    const orig = m.core.map.bind(m.core);
    (m.core as { map: typeof m.core.map }).map = (dom, iova, pa, size, prot) => {
      prots.push(prot);
      orig(dom, iova, pa, size, prot);
    };
    d.mapSingle(0x4000_0000, 100, FROM_DEVICE, { attrs: DMA_ATTR_PRIVILEGED });
    d.mapResource(0xfe00_0000, 4096, BIDIRECTIONAL);
    m.dma
      .device(m.core.addPciDevice({ bus: 0, slot: 2 }), { coherent: false })
      .mapSingle(0x4000_0000, 8, TO_DEVICE);
    expect(prots).toEqual([
      IOMMU_CACHE | IOMMU_PRIV | IOMMU_WRITE,
      IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO,
      IOMMU_READ,
    ]);
    expect(domain.type).toBeGreaterThan(0);
  });
  it("offsets are kept: the DMA address carries the buffer's offset in its granule", () => {
    const m = machine();
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    const a = d.mapSingle(0x4000_0123, 10, TO_DEVICE);
    expect(a & 0xfffn).toBe(0x123n);
    expect(m.core.iovaToPhys(m.core.getDmaDomain(d.device)!, a)).toBe(0x4000_0123n);
  });
  it("reserved regions never come out of the allocator; hardware MSI is identity, software MSI is mapped", () => {
    const m = machine({
      ref: {
        resvRegions: () => [
          { start: 0xfee0_0000, length: 0x10_0000, prot: IOMMU_WRITE, type: "msi" },
          { start: 0xfed0_0000, length: 0x1000, prot: 0, type: "reserved" },
        ],
      },
    });
    const dev = m.core.addPciDevice({ bus: 0, slot: 1, dmaMask: 0xfed0_0fffn });
    const d = m.dma.device(dev);
    expect(d.mapSingle(0x4000_0000, 4096, TO_DEVICE)).toBe(0xfecf_f000n);
    expect(d.prepareMsi(0xfee0_0040)).toBe(0xfee0_0040n);
    const s = machine({
      ref: { resvRegions: () => [{ start: 0x800_0000, length: 0x10_0000, prot: 0, type: "sw-msi" }] },
    });
    const sd = s.dma.device(s.core.addPciDevice({ bus: 0, slot: 1 }));
    const msi = sd.prepareMsi(0xfee0_0040);
    expect(msi).not.toBe(0xfee0_0040n);
    expect(sd.prepareMsi(0xfee0_0080)).toBe(msi + 0x40n);
    expect(s.dma.deviceDma(sd.device, { iova: msi, length: 4, write: true, data: bytes(4, 1) }).ok).toBe(
      true,
    );
  });
  it("CPU ids pick per-CPU caches and queues; out of range is EINVAL", () => {
    const m = machine({ dma: { cpus: 2 } });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    const a = d.mapSingle(0x4000_0000, 4096, TO_DEVICE, { cpu: 1 });
    d.unmapSingle(a, 4096, TO_DEVICE, { cpu: 1 });
    expect(m.dma.stats().iova.cached).toBe(1);
    expect(errno(() => d.mapSingle(0x4000_0000, 4096, TO_DEVICE, { cpu: 2 }))).toBe("EINVAL");
  });
  it("map_sg through the API: 64K boundary and max segment size, DMA lands in the CPU's entries", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev, { segmentBoundaryMask: 0xffffn, maxSegmentSize: 0x10000 });
    const sg = createScatterlist([
      { paddr: 0x4010_0000, length: 0x3000 },
      { paddr: 0x4020_0000, length: 0xf000 },
      { paddr: 0x4030_0200, length: 0x100 },
    ]);
    const n = d.mapSg(sg, 3, FROM_DEVICE);
    expect(n).toBe(3);
    expect(sg[1]!.dmaAddress - sg[0]!.dmaAddress).toBe(0x10000n);
    expect([sg[0]!.dmaLength, sg[1]!.dmaLength, sg[2]!.dmaLength]).toEqual([0x3000, 0xf000, 0x100]);
    expect(sg[2]!.dmaAddress & 0xfffn).toBe(0x200n);
    expect(
      m.dma.deviceDma(dev, { iova: sg[1]!.dmaAddress, length: 16, write: true, data: bytes(16, 2) }).ok,
    ).toBe(true);
    expect(m.memory.read(0x4020_0000, 16)).toEqual(bytes(16, 2));
    d.unmapSg(sg, 3, FROM_DEVICE);
    expect(m.dma.stats().liveMappings).toBe(0);
    expect(m.dma.debugReports).toEqual([]);
  });
});

describe("swiotlb", () => {
  it("direct: memory above the mask is bounced, and syncs copy per direction", () => {
    const m = machine({ passthrough: true });
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    const high = 0x1_4000_0000;
    m.memory.write(high, bytes(3000, 1));
    const a = d.mapSingle(high, 3000, BIDIRECTIONAL);
    expect(d.mappingError(a)).toBe(0);
    expect(a < 0x1_0000_0000n).toBe(true);
    expect(m.dma.stats().swiotlb?.live).toBe(1);
    // The device read the original (copied at map), then writes new bytes.
    const r = m.dma.deviceDma(dev, { iova: a, length: 3000, write: false });
    expect(r.ok && r.data).toEqual(bytes(3000, 1));
    m.dma.deviceDma(dev, { iova: a, length: 3000, write: true, data: bytes(3000, 9) });
    expect(m.memory.read(high, 4)).toEqual(bytes(4, 1));
    d.syncSingleForCpu(a, 3000, BIDIRECTIONAL);
    expect(m.memory.read(high, 3000)).toEqual(bytes(3000, 9));
    m.memory.write(high, bytes(3000, 4));
    d.syncSingleForDevice(a, 3000, BIDIRECTIONAL);
    expect(
      (m.dma.deviceDma(dev, { iova: a, length: 10, write: false }) as { data: Uint8Array }).data,
    ).toEqual(bytes(10, 4));
    m.dma.deviceDma(dev, { iova: a, length: 3000, write: true, data: bytes(3000, 5) });
    d.unmapSingle(a, 3000, BIDIRECTIONAL);
    expect(m.memory.read(high, 3000)).toEqual(bytes(3000, 5));
    expect(m.dma.stats().swiotlb?.used).toBe(0);
    expect(m.dma.debugReports).toEqual([]);
  });
  it("direct without swiotlb: memory above the mask cannot be mapped", () => {
    const m = machine({ passthrough: true, dma: { swiotlb: false } });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    expect(d.mapSingle(0x1_4000_0000, 64, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(m.dma.warnings.at(-1)?.message).toMatch(/overflow/);
  });
  it("untrusted device: a sub-granule buffer is bounced and the rest of the granule zeroed", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1, untrusted: true });
    const d = m.dma.device(dev);
    // Secrets next to the buffer in its page.
    m.memory.write(0x4000_0000, new Uint8Array(4096).fill(0xee));
    m.memory.write(0x4000_0100, bytes(200, 3));
    const a = d.mapSingle(0x4000_0100, 200, TO_DEVICE);
    expect(a & 0xfffn).toBe(0n);
    const seen = m.dma.deviceDma(dev, { iova: a, length: 4096, write: false });
    expect(seen.ok).toBe(true);
    const data = (seen as { data: Uint8Array }).data;
    expect(data.subarray(0, 200)).toEqual(bytes(200, 3));
    expect(data.subarray(200).every((v) => v === 0)).toBe(true);
    d.unmapSingle(a, 200, TO_DEVICE);
    // A granule-aligned buffer is not bounced.
    const b = d.mapSingle(0x4000_0000, 4096, FROM_DEVICE);
    expect(m.dma.stats().swiotlb?.live).toBe(0);
    d.unmapSingle(b, 4096, FROM_DEVICE);
  });
  it("swiotlb buffer is full -> DMA_MAPPING_ERROR, nothing leaked", () => {
    const m = machine({ passthrough: true });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    const addrs: bigint[] = [];
    for (let i = 0; i < 4; i++) addrs.push(d.mapSingle(0x1_0000_0000 + i * 0x10_0000, 250_000, TO_DEVICE));
    expect(addrs.every((a) => d.mappingError(a) === 0)).toBe(true);
    const before = m.dma.stats();
    const fail = d.mapSingle(0x1_8000_0000, 250_000, TO_DEVICE);
    expect(d.mappingError(fail)).toBe("ENOMEM");
    const after = m.dma.stats();
    expect(after.swiotlb?.used).toBe(before.swiotlb?.used);
    expect(after.swiotlb?.full).toBe(1);
    expect(m.dma.warnings.at(-1)?.message).toMatch(/swiotlb buffer is full/);
    for (const a of addrs) d.unmapSingle(a, 250_000, TO_DEVICE);
    expect(m.dma.stats().swiotlb?.used).toBe(0);
  });
});

describe("strict and lazy invalidation", () => {
  it("strict: one IOTLB sync per unmap, before the IOVA is reused", () => {
    const m = machine();
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    for (let i = 0; i < 5; i++) d.unmapSingle(d.mapSingle(0x4000_0000, 4096, TO_DEVICE), 4096, TO_DEVICE);
    expect(m.dma.stats().invalidations).toMatchObject({ iotlbSyncs: 5, flushAlls: 0 });
    expect(m.ref.stats.iotlbSyncs).toBe(5);
  });
  it("lazy: no sync per unmap; a full per-CPU queue (255 usable) flushes, then the 10 ms timer", () => {
    const m = machine({ strict: false, ref: { caps: LAZY_CAPS } });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    for (let i = 0; i < 300; i++) {
      const a = d.mapSingle(0x4000_0000, 4096, TO_DEVICE);
      d.unmapSingle(a, 4096, TO_DEVICE);
      m.core.advance(1000);
    }
    let s = m.dma.stats();
    expect(s.invalidations.iotlbSyncs).toBe(0);
    expect(s.invalidations.flushAlls).toBe(1);
    expect(s.invalidations.maxRangesPerFlush).toBe(255);
    expect(s.staleWindow.pending).toBe(45);
    m.core.advance(10_000_000);
    s = m.dma.stats();
    expect(s.invalidations.flushAlls).toBe(2);
    expect(s.staleWindow.unmaps).toBe(300);
    expect(s.staleWindow.maxNs).toBeLessThanOrEqual(10_000_000);
    expect(s.iova).toMatchObject({ inUse: 0, queued: 0 });
  });
  it("single flush queue: 32768 entries, 1000 ms", () => {
    const m = machine({ strict: false, ref: { caps: LAZY_CAPS }, dma: { flushQueue: { single: true } } });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    for (let i = 0; i < 300; i++) d.unmapSingle(d.mapSingle(0x4000_0000, 4096, TO_DEVICE), 4096, TO_DEVICE);
    m.core.advance(10_000_000);
    expect(m.dma.stats().invalidations.flushAlls).toBe(0);
    m.core.advance(990_000_000);
    expect(m.dma.stats().invalidations).toMatchObject({ flushAlls: 1, rangesFlushed: 300 });
    expect(m.dma.stats().staleWindow.maxNs).toBe(1_000_000_000);
  });
  it("dma.flushQueues() flushes now", () => {
    const m = machine({ strict: false, ref: { caps: LAZY_CAPS } });
    const d = m.dma.device(m.core.addPciDevice({ bus: 0, slot: 1 }));
    d.unmapSingle(d.mapSingle(0x4000_0000, 4096, TO_DEVICE), 4096, TO_DEVICE);
    m.dma.flushQueues();
    expect(m.dma.stats().staleWindow).toMatchObject({ unmaps: 1, pending: 0, maxNs: 0 });
  });
});

describe("bad arguments: errno-style refusals with nothing leaked", () => {
  it("every refusal leaves stats, RAM and page tables as they were", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    const keep = d.mapSingle(0x4000_0000, 4096, TO_DEVICE);
    const snap = () => ({
      stats: m.dma.stats(),
      ram: m.ram.pagesInUse,
      tables: m.ref.tableAllocator.pagesInUse,
    });
    const before = snap();
    const sg = createScatterlist([{ paddr: 0x4000_0000, length: 4096 }]);
    const cases: [string, () => unknown][] = [
      ["EINVAL", () => d.mapSingle(0x4000_0000, 0, TO_DEVICE)],
      ["EINVAL", () => d.mapSingle(0x4000_0000, 16, DmaDirection.NONE)],
      ["EINVAL", () => d.mapSingle(0x4000_0000, 16, 7 as DmaDirection)],
      ["EINVAL", () => d.mapSingle(-1, 16, TO_DEVICE)],
      ["EINVAL", () => d.mapSingle(0x4000_0000, 16, TO_DEVICE, { cpu: 1 })],
      ["EINVAL", () => d.mapSingle(0x4000_0000, 16, TO_DEVICE, { attrs: -1 })],
      ["EINVAL", () => d.mapPage(0x4000_0100, 0, 16, TO_DEVICE)],
      ["EINVAL", () => d.mapSg(sg, 0, TO_DEVICE)],
      ["EINVAL", () => d.mapSg(sg, 2, TO_DEVICE)],
      ["EINVAL", () => createScatterlist([{ paddr: 0, length: 0 }])],
      ["EINVAL", () => d.allocCoherent(0)],
      ["EINVAL", () => d.unmapSingle(keep, 4096, DmaDirection.NONE)],
      ["EINVAL", () => d.setSegmentBoundary(0x1000n)],
      ["EINVAL", () => d.setMaxSegmentSize(0)],
      ["EIO", () => d.setMask(0n)],
      ["ERANGE", () => m.dma.armIommuCreateMapping(dev, 0, 0x2_0000_0000)],
      ["EINVAL", () => m.dma.armIommuCreateMapping(dev, 0, 100)],
      ["ERANGE", () => d.mapSingle(2n ** 60n, 16, TO_DEVICE)],
    ];
    for (const [code, fn] of cases) expect([code, errno(fn)]).toEqual([code, code]);
    expect(snap()).toEqual(before);
  });
  it("resource exhaustion returns DMA_MAPPING_ERROR / null / 0 with nothing leaked", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const d = m.dma.device(dev);
    const snap = () => ({
      live: m.dma.stats().liveMappings,
      iova: m.dma.stats().iova.inUse,
      ram: m.ram.pagesInUse,
      tables: m.ref.tableAllocator.pagesInUse,
    });
    d.unmapSingle(d.mapSingle(0x4000_0000, 4096, TO_DEVICE), 4096, TO_DEVICE);
    const before = snap();
    // Page-table allocation fails inside iommu_map: the IOVA goes back.
    m.ref.tableAllocator.failAfter(1);
    expect(d.mapSingle(0x4000_1000, 0x3000, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    m.ref.tableAllocator.failAfter(1);
    const sg = createScatterlist([
      { paddr: 0x4000_0000, length: 0x3000 },
      { paddr: 0x4100_0000, length: 0x1000 },
    ]);
    expect(d.mapSg(sg, 2, TO_DEVICE)).toBe(0);
    expect(sg[0]!.dmaAddress).toBe(DMA_MAPPING_ERROR);
    // RAM exhausted: no coherent buffer.
    m.ram.failAfter(1);
    expect(d.allocCoherent(4096)).toBeNull();
    // IOVA space exhausted below a small mask.
    d.setMask(0xff_ffffn);
    expect(d.mapSingle(0x4000_0000, 0x200_0000, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(snap()).toEqual(before);
    expect(m.dma.stats().mapErrors).toBe(4);
  });
});
