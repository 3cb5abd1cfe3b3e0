import { IOMMU_DOMAIN_UNMANAGED } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DMA_MAPPING_ERROR, DmaDirection } from "../direction.js";
import { createScatterlist } from "../scatterlist.js";
import { errno, machine } from "../test-machine.js";

const { BIDIRECTIONAL } = DmaDirection;

describe("arm_iommu_* mapping helpers", () => {
  it("argument checks: ERANGE above 4 GiB, EINVAL under a page, nothing allocated", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const tables = m.ref.tableAllocator.pagesInUse;
    expect(errno(() => m.dma.armIommuCreateMapping(dev, 0x1000_0000, 0x1_0000_1000))).toBe("ERANGE");
    expect(errno(() => m.dma.armIommuCreateMapping(dev, 0x1000_0000, 4095))).toBe("EINVAL");
    expect(m.ref.tableAllocator.pagesInUse).toBe(tables);
    const mapping = m.dma.armIommuCreateMapping(dev, 0x1000_0000, 0x1_0000_0000n - 0x1000_0000n);
    expect(mapping.refcount).toBe(1);
  });
  it("attach: singleton groups only (EINVAL), EBUSY over another non-default domain; detach warns when not attached", () => {
    const m = machine();
    const f0 = m.core.addPciDevice({ bus: 0, slot: 3, fn: 0, multifunction: true });
    const f1 = m.core.addPciDevice({ bus: 0, slot: 3, fn: 1 });
    expect(m.core.groupGet(f0)).toBe(m.core.groupGet(f1));
    const mapping = m.dma.armIommuCreateMapping(f0, 0x1000_0000, 0x100_0000);
    expect(errno(() => m.dma.armIommuAttachDevice(f0, mapping))).toBe("EINVAL");
    expect(mapping.refcount).toBe(1);
    const solo = m.core.addPciDevice({ bus: 0, slot: 4, kind: "rc-endpoint" });
    const other = m.core.domainAlloc(solo, IOMMU_DOMAIN_UNMANAGED);
    m.core.attachDevice(other, solo);
    expect(errno(() => m.dma.armIommuAttachDevice(solo, mapping))).toBe("EBUSY");
    m.dma.armIommuDetachDevice(solo);
    expect(m.dma.warnings.at(-1)).toMatchObject({ device: solo.name, message: "Not attached" });
    m.dma.armIommuReleaseMapping(null);
    m.dma.armIommuReleaseMapping(undefined);
    m.dma.armIommuReleaseMapping(mapping);
    expect(mapping.domain.freed).toBe(true);
  });
  it("lifecycle: create, attach two, release creator ref, detach both frees the domain", () => {
    const m = machine();
    const a = m.core.addPciDevice({ bus: 0, slot: 1, kind: "rc-endpoint" });
    const b = m.core.addPciDevice({ bus: 0, slot: 2, kind: "rc-endpoint" });
    const mapping = m.dma.armIommuCreateMapping(a, 0x1000_0000, 0x100_0000);
    m.dma.armIommuAttachDevice(a, mapping);
    m.dma.armIommuAttachDevice(b, mapping);
    m.dma.armIommuReleaseMapping(mapping);
    expect(mapping.refcount).toBe(2);
    m.dma.armIommuDetachDevice(a);
    expect(mapping.domain.freed).toBe(false);
    m.dma.armIommuDetachDevice(b);
    expect(mapping.domain.freed).toBe(true);
    expect(m.dma.opsKind(a)).toBe("iommu");
  });
  it("sg chunking as 4.4: a new chunk at an offset, after a partial page, or over max_seg_size", () => {
    const m = machine();
    const dev = m.core.addPciDevice({ bus: 0, slot: 1, kind: "rc-endpoint" });
    const mapping = m.dma.armIommuCreateMapping(dev, 0x1000_0000, 0x100_0000);
    m.dma.armIommuAttachDevice(dev, mapping);
    const d = m.dma.device(dev, { maxSegmentSize: 0x3000 });
    const sg = createScatterlist([
      { paddr: 0x4000_0000, length: 0x1000 },
      { paddr: 0x4010_0000, length: 0x1000 }, // merges (page aligned, 0x2000 <= max)
      { paddr: 0x4020_0000, length: 0x2000 }, // 0x4000 > max: new chunk
      { paddr: 0x4030_0100, length: 0x100 }, // offset: new chunk
      { paddr: 0x4040_0000, length: 0x1000 }, // previous chunk ends mid-page: new chunk
    ]);
    expect(d.mapSg(sg, 5, BIDIRECTIONAL)).toBe(4);
    expect(sg.slice(0, 4).map((s) => [s.dmaAddress, s.dmaLength])).toEqual([
      [0x1000_0000n, 0x2000],
      [0x1000_2000n, 0x2000],
      [0x1000_4100n, 0x100],
      [0x1000_5000n, 0x1000],
    ]);
    expect(sg[4]!.dmaAddress).toBe(DMA_MAPPING_ERROR);
    expect(m.core.iovaToPhys(mapping.domain, 0x1000_1000)).toBe(0x4010_0000n);
    d.unmapSg(sg, 5, BIDIRECTIONAL);
    expect(m.dma.stats().iova.armPages).toBe(0);
    expect(m.dma.debugReports).toEqual([]);
  });
  it("property: two masters on one mapping never get overlapping IOVAs and both translate every live one", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant("map" as const),
              who: fc.nat(1),
              size: fc.integer({ min: 1, max: 70000 }),
            }),
            fc.record({ op: fc.constant("unmap" as const), pick: fc.nat(50) }),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const m = machine({ dma: { debug: false, swiotlb: false } });
          const devs = [
            m.core.addPciDevice({ bus: 0, slot: 1, kind: "rc-endpoint" }),
            m.core.addPciDevice({ bus: 0, slot: 2, kind: "rc-endpoint" }),
          ];
          const mapping = m.dma.armIommuCreateMapping(devs[0]!, 0x1000_0000, 0x40_0000);
          for (const dev of devs) m.dma.armIommuAttachDevice(dev, mapping);
          const handles = devs.map((dev) => m.dma.device(dev));
          const live: { addr: bigint; size: number; who: number; pa: number }[] = [];
          let pa = 0x4000_0000;
          for (const op of ops) {
            if (op.op === "map") {
              const addr = handles[op.who]!.mapSingle(pa + 0x10, op.size, BIDIRECTIONAL);
              if (addr === DMA_MAPPING_ERROR) continue;
              for (const l of live) {
                expect(addr + BigInt(op.size) <= l.addr || l.addr + BigInt(l.size) <= addr).toBe(true);
              }
              live.push({ addr, size: op.size, who: op.who, pa: pa + 0x10 });
              pa += 0x20_0000;
            } else if (live.length > 0) {
              const [l] = live.splice(op.pick % live.length, 1);
              handles[l!.who]!.unmapSingle(l!.addr, l!.size, BIDIRECTIONAL);
            }
          }
          for (const l of live) {
            expect(m.core.iovaToPhys(mapping.domain, l.addr)).toBe(BigInt(l.pa));
            for (const dev of devs)
              expect(m.dma.deviceDma(dev, { iova: l.addr, length: 1, write: false }).ok).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
