import { vtdDescriptorQwords } from "@iommu-sim/hw";
import { IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { vtdMachine } from "./test-machine.js";

const RW = IOMMU_READ | IOMMU_WRITE;

// 0000:03:00.0 on a new domain (DID 2, freed by the default domain on detach), 4-level tables.
// Two pages at 0x1_0000_0000, read once: the paging-structure caches hold the level-3, 2 and 1
// entries above them (generic_pt numbering: level 1 entries point to the 4 KiB leaf tables).
function setup() {
  const m = vtdMachine({ walkCache: {} });
  const dev = m.add(3, 0);
  const domain = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  m.core.attachDevice(domain, dev);
  m.core.map(domain, 0x1_0000_0000, 0x2_0000_0000, 0x2000, RW);
  expect(m.core.deviceDma(dev, { iova: 0x1_0000_0000, length: 4, write: false }).ok).toBe(true);
  const wc = m.vtd.hardware.translation.walkCache!;
  const entries = () => wc.snapshot().map((e) => `L${e.level}/did${e.asid}`);
  // The IH bit of every page-selective IOTLB descriptor issued since `from`.
  const psiIh = (from: number) =>
    m.vtd.hardware.invalidationQueue.consumed
      .slice(from)
      .map((c) => vtdDescriptorQwords(c.raw))
      .filter(([q0 = 0n]) => (q0 & 0xfn) === 2n && ((q0 >> 4n) & 3n) === 3n)
      .map(([, q1 = 0n]) => Number((q1 >> 6n) & 1n));
  return { ...m, dev, domain, wc, entries, psiIh };
}

describe("intel-vtd: paging-structure caches (walk caches)", () => {
  it("are off by default", () => {
    expect(vtdMachine().vtd.hardware.translation.walkCache).toBeNull();
  });

  it("a PSI with IH = 1 keeps them; the PSI without IH after a table is freed drops them", () => {
    const { core, domain, entries, psiIh, vtd, wc } = setup();
    expect(entries()).toEqual(["L1/did2", "L2/did2", "L3/did2"]);
    // A page unmap frees no table: Linux sets IH (leaf only), the entries stay.
    let from = vtd.hardware.invalidationQueue.consumed.length;
    expect(core.unmap(domain, 0x1_0000_1000, 0x1000)).toBe(0x1000n);
    expect(psiIh(from)).toEqual([1]);
    expect(entries()).toEqual(["L1/did2", "L2/did2", "L3/did2"]);
    // Unmapping the whole 2 MiB frees the leaf table: the flush must not carry IH, and the
    // entries whose span covers the range go.
    from = vtd.hardware.invalidationQueue.consumed.length;
    expect(core.unmap(domain, 0x1_0000_0000, 0x20_0000)).toBe(0x20_0000n);
    expect(psiIh(from)).toEqual([0]);
    expect(entries()).toEqual([]);
    expect(wc.stats().total).toMatchObject({ invalidations: { range: 2 }, dropped: { range: 3 } });
  });

  it("a domain-selective flush drops the domain's entries", () => {
    const { core, domain, dev, entries } = setup();
    core.flushIotlbAll(domain);
    expect(entries()).toEqual([]);
    expect(core.deviceDma(dev, { iova: 0x1_0000_0000, length: 4, write: false }).ok).toBe(true);
    expect(entries()).toHaveLength(3);
  });
});
