import {
  createIotlbGather,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuEvent,
  pgsizeBitmap,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { errno, machine } from "./test-machine.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const K4 = 0x1000;
const M2 = 0x20_0000;

function setup(opts: Parameters<typeof machine>[0] = {}) {
  const m = machine(opts);
  const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
  const dom = m.core.domainAlloc(dev);
  return { ...m, dev, dom };
}

describe("iommu_map checks in order (sw-facts 1.8)", () => {
  it("1. ENODEV when the domain has no page sizes", () => {
    const { core, dev } = setup({ pgsizeBitmap: 0 });
    const dom = core.domainAlloc(dev);
    expect(errno(() => core.map(dom, 0, 0, 0x1000, RW))).toBe("ENODEV");
  });

  it("2. EINVAL for identity and blocked domains; their unmap returns 0", () => {
    const { core, dev } = setup();
    for (const type of [IOMMU_DOMAIN_IDENTITY, IOMMU_DOMAIN_BLOCKED] as const) {
      const d = core.domainAlloc(dev, type);
      expect(errno(() => core.map(d, 0, 0, K4, RW))).toBe("EINVAL");
      // Linux checks the domain type before alignment.
      expect(errno(() => core.map(d, 0x800, 0, K4, RW))).toBe("EINVAL");
      expect(core.unmap(d, 0, K4)).toBe(0n);
    }
    expect(core.iovaToPhys(core.domainAlloc(dev, IOMMU_DOMAIN_IDENTITY), 0x1234n)).toBe(0x1234n);
    expect(core.iovaToPhys(core.domainAlloc(dev, IOMMU_DOMAIN_BLOCKED), 0x1234n)).toBe(0n);
  });

  it("3. EINVAL when iova, paddr or size is not aligned to the smallest page; size 0 maps nothing", () => {
    const { core, dom, ref } = setup();
    expect(errno(() => core.map(dom, 0x800, 0, K4, RW))).toBe("EINVAL");
    expect(errno(() => core.map(dom, 0, 0x800, K4, RW))).toBe("EINVAL");
    expect(errno(() => core.map(dom, 0, 0, 0x800, RW))).toBe("EINVAL");
    expect(core.log.length).toBe(0);
    core.map(dom, 0x1000, 0x2000, 0, RW);
    expect(core.iovaToPhys(dom, 0x1000)).toBe(0n);
    expect(ref.tableAllocator.pagesInUse).toBeGreaterThan(0);
  });

  it("public arguments: negative EINVAL, beyond 2^53 ERANGE, bigint accepted", () => {
    const { core, dom } = setup();
    expect(errno(() => core.map(dom, -4096, 0, K4, RW))).toBe("EINVAL");
    expect(errno(() => core.map(dom, 2n ** 60n, 0n, 4096n, RW))).toBe("ERANGE");
    core.map(dom, 0x1_0000_0000n, 0x8000_0000n, 0x1000n, RW);
    expect(core.iovaToPhys(dom, 0x1_0000_0abcn)).toBe(0x8000_0abcn);
  });

  it("5. a failing step rolls back everything this call mapped and passes the driver's errno through", () => {
    const { core, dom, ref } = setup();
    core.map(dom, 0x5000, 0x9000, K4, RW); // in the way
    const pages = ref.tableAllocator.pagesInUse;
    expect(errno(() => core.map(dom, 0x1000, 0x1000, 8 * K4, RW))).toBe("EEXIST");
    for (let a = 0x1000; a < 0x5000; a += K4) expect(core.iovaToPhys(dom, a)).toBe(0n);
    expect(core.iovaToPhys(dom, 0x5000)).toBe(0x9000n);
    expect(ref.tableAllocator.pagesInUse).toBe(pages);
    // Outside the aperture: ERANGE from the driver.
    expect(errno(() => core.map(dom, 2 ** 48 - K4, 0, 2 * K4, RW))).toBe("ERANGE");
    expect(core.iovaToPhys(dom, 2 ** 48 - K4)).toBe(0n);
  });

  it("6. iotlb_sync_map once per successful call, never on failure", () => {
    const { core, dom, ref } = setup();
    core.map(dom, 0, 0, 4 * M2, RW);
    expect(ref.stats.syncMaps).toBe(1);
    expect(errno(() => core.map(dom, 0, 0, K4, RW))).toBe("EEXIST");
    expect(ref.stats.syncMaps).toBe(1);
  });

  it("uses large pages when co-aligned (one leaf per 2M)", () => {
    const { core, dom } = setup();
    const events: IommuEvent[] = [];
    const stop = core.subscribe((e) => events.push(e));
    core.map(dom, M2, 2 * M2, 2 * M2, RW);
    stop();
    expect(events).toEqual([
      { type: "map", domainId: dom.id, iova: BigInt(M2), paddr: BigInt(2 * M2), size: BigInt(2 * M2) },
    ]);
    // Refused partial unmap proves these are 2M leaves.
    expect(core.unmap(dom, M2, K4)).toBe(0n);
  });
});

describe("iommu_unmap return rules (sw-facts 1.10)", () => {
  it("returns bytes, never throws: 0 for a hole, unaligned, or non-paging domain; short at a hole", () => {
    const { core, dom } = setup();
    expect(core.unmap(dom, 0, K4)).toBe(0n);
    core.map(dom, 0, 0, 2 * K4, RW);
    expect(core.unmap(dom, 0x800, K4)).toBe(0n);
    expect(core.unmap(dom, 0, 0x1800)).toBe(0n);
    expect(core.unmap(dom, 0, 8 * K4)).toBe(BigInt(2 * K4));
  });

  it("x86-style whole-page teardown returns more than asked", () => {
    const { core, dom } = setup({ partialUnmap: "whole" });
    core.map(dom, 0, 0, M2, RW);
    expect(core.unmap(dom, 0, K4)).toBe(BigInt(M2));
    expect(core.iovaToPhys(dom, K4)).toBe(0n);
  });

  it("unmap_fast gathers without syncing; iotlb_sync syncs once and empties the gather", () => {
    const { core, dom, ref } = setup();
    core.map(dom, 0, 0, 4 * K4, RW);
    const syncs = ref.stats.iotlbSyncs;
    const gather = createIotlbGather();
    expect(core.unmapFast(dom, 0, 2 * K4, gather)).toBe(BigInt(2 * K4));
    expect(core.unmapFast(dom, 2 * K4, 2 * K4, gather)).toBe(BigInt(2 * K4));
    expect(ref.stats.iotlbSyncs).toBe(syncs);
    expect([gather.start, gather.end]).toEqual([0, 4 * K4 - 1]);
    core.iotlbSync(dom, gather);
    expect(ref.stats.iotlbSyncs).toBe(syncs + 1);
    expect(gather.start > gather.end).toBe(true);
    core.map(dom, 0, 0, K4, RW);
    core.unmap(dom, 0, K4);
    expect(ref.stats.iotlbSyncs).toBe(syncs + 2);
  });
});

describe("iommu_map_sg (sw-facts 1.12)", () => {
  it("merges physically contiguous entries, skips bus addresses, one sync_map, returns bytes", () => {
    const { core, dom, ref } = setup();
    const maps: IommuEvent[] = [];
    core.subscribe((e) => e.type === "map" && maps.push(e));
    const syncs = ref.stats.syncMaps;
    const n = core.mapSg(
      dom,
      0x10_0000,
      [
        { paddr: 0x20_0000, length: K4 },
        { paddr: 0x20_1000, length: K4 },
        { paddr: 0x90_0000, length: K4, busAddress: true },
        { paddr: 0x40_0000, length: 2 * K4 },
      ],
      RW,
    );
    expect(n).toBe(BigInt(4 * K4));
    expect(maps.map((e) => (e.type === "map" ? [e.iova, e.paddr, e.size] : []))).toEqual([
      [0x10_0000n, 0x20_0000n, 0x2000n],
      [0x10_2000n, 0x40_0000n, 0x2000n],
    ]);
    expect(ref.stats.syncMaps).toBe(syncs + 1);
    expect(core.iovaToPhys(dom, 0x10_3000)).toBe(0x40_1000n);
  });

  it("on failure unmaps everything it mapped and throws", () => {
    const { core, dom } = setup();
    core.map(dom, 0x10_3000, 0x7000, K4, RW);
    expect(
      errno(() =>
        core.mapSg(
          dom,
          0x10_0000,
          [
            { paddr: 0x20_0000, length: 2 * K4 },
            { paddr: 0x40_0000, length: 2 * K4 },
          ],
          RW,
        ),
      ),
    ).toBe("EEXIST");
    expect(core.iovaToPhys(dom, 0x10_0000)).toBe(0n);
    expect(core.iovaToPhys(dom, 0x10_2000)).toBe(0n);
    expect(core.iovaToPhys(dom, 0x10_3000)).toBe(0x7000n);
  });

  it("an odd 2 KiB smallest page maps 2 KiB-aligned runs", () => {
    const { core, dom } = setup({ pgsizeBitmap: pgsizeBitmap(0x800, K4) });
    core.map(dom, 0x800, 0x1800, 0x1000, RW);
    expect(core.iovaToPhys(dom, 0xfff)).toBe(0x1fffn);
    expect(core.unmap(dom, 0x800, 0x1000)).toBe(0x1000n);
  });
});
