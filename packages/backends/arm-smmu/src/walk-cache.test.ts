import { createIommuCore, IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { type ArmSmmuOptions, createArmSmmu } from "./arm-smmu.js";
import { Cb } from "./hardware/registers.js";

const SID = 0x42;
const IOVA = 0x1000_0000;
const RW = IOMMU_READ | IOMMU_WRITE;

// StreamID 0x42 on an unmanaged domain in context bank 1 (ASID 1, VMID 2), two pages at IOVA read
// once: the walk caches hold the LPAE level 0, 1 and 2 table descriptors above them.
function setup(options: ArmSmmuOptions = {}) {
  const backend = createArmSmmu({ walkCache: {}, ...options });
  const core = createIommuCore({});
  core.registerIommu(backend);
  const dev = core.addPlatformDevice({ name: "dev0", firmware: { iommu: "smmu0", streamIds: [SID] } });
  const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  core.attachDevice(domain, dev);
  core.map(domain, IOVA, 0x8000_0000, 0x2000, RW);
  expect(core.deviceDma(dev, { iova: IOVA, length: 4, write: false }).ok).toBe(true);
  const hw = backend.hardware;
  const wc = hw.unit.walkCache!;
  const entries = () => wc.snapshot().map((e) => `S${e.walkStage}L${e.level}`);
  // A context-bank TLB maintenance write of bank 1 (AArch64 form: address >> 12, ASID in [63:48]),
  // completed by the bank's TLBSYNC.
  const tlbi = (reg: number, address: number, asid = 0) => {
    hw.write64(hw.cbOffset(1, reg), (address / 4096) >>> 0, (asid << 16) >>> 0);
    hw.write32(hw.cbOffset(1, Cb.TLBSYNC), 0xffff_ffff);
  };
  return { backend, core, dev, domain, wc, entries, tlbi };
}

describe("arm-smmu: walk caches", () => {
  it("are off by default", () => {
    expect(createArmSmmu().hardware.unit.walkCache).toBeNull();
  });

  it("stage 1: TLBIVAL (leaf only) keeps the table descriptors, TLBIVA drops those over the VA", () => {
    const { entries, tlbi, wc } = setup();
    expect(entries()).toEqual(["S1L0", "S1L1", "S1L2"]);
    tlbi(Cb.TLBIVAL, IOVA, 1);
    expect(entries()).toHaveLength(3);
    tlbi(Cb.TLBIVA, IOVA, 2); // another ASID
    expect(entries()).toHaveLength(3);
    tlbi(Cb.TLBIVA, IOVA, 1);
    expect(entries()).toEqual([]);
    expect(wc.stats().total).toMatchObject({ invalidations: { range: 3 }, dropped: { range: 3 } });
  });

  it("stage 1: the driver's page unmap (TLBIVAL) keeps them, freeing a leaf table (TLBIVA) drops them", () => {
    const { core, domain, entries } = setup();
    expect(core.unmap(domain, IOVA + 0x1000, 0x1000)).toBe(0x1000n);
    expect(entries()).toHaveLength(3);
    expect(core.unmap(domain, IOVA, 0x20_0000)).toBe(0x20_0000n);
    expect(entries()).toEqual([]);
  });

  it("stage 2: TLBIIPAS2L keeps, TLBIIPAS2 drops; TLBIVMID drops the VMID's", () => {
    const { core, dev, domain, entries, tlbi } = setup({ forceStage: 2 });
    expect(entries()).toEqual(["S2L0", "S2L1", "S2L2"]);
    tlbi(Cb.TLBIIPAS2L, IOVA);
    expect(entries()).toHaveLength(3);
    tlbi(Cb.TLBIIPAS2, IOVA);
    expect(entries()).toEqual([]);
    expect(core.deviceDma(dev, { iova: IOVA, length: 4, write: false }).ok).toBe(true);
    expect(entries()).toHaveLength(3);
    core.flushIotlbAll(domain); // TLBIVMID 2 + sTLBGSYNC
    expect(entries()).toEqual([]);
  });
});
