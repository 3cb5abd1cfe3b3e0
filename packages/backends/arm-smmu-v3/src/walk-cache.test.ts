import {
  createIommuCore,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { createArmSmmuV3 } from "./backend.js";
import type { ArmSmmuV3Options } from "./options.js";

const RW = IOMMU_READ | IOMMU_WRITE;

// A PCI device (StreamID 0x100) on a new paging domain: ASID 2 (stage 1) or VMID 2 (stage 2), the
// default DMA domain having taken 1. Two pages mapped at 2 MiB, read once to fill the walk cache.
function setup(options: ArmSmmuV3Options = {}) {
  const backend = createArmSmmuV3({ walkCache: {}, ...options });
  const core = createIommuCore();
  core.registerIommu(backend);
  const dev: IommuDevice = core.addPciDevice({ bus: 1, slot: 0, iommu: backend.name });
  const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  core.attachDevice(domain, dev);
  core.map(domain, 0x20_0000, 0x8000_0000, 0x2000, RW);
  expect(core.deviceDma(dev, { iova: 0x20_0000, length: 4, write: false }).ok).toBe(true);
  const wc = backend.hardware.translation.walkCache!;
  const entries = () => wc.snapshot().map((e) => `S${e.walkStage}L${e.level}`);
  return { backend, core, dev, domain, wc, entries };
}

// dw0 = opcode | VMID [47:32] | ASID [63:48]; dw1 = address [63:12] | LEAF [0] (hw-facts 4.1).
const nhVa = (asid: number, va: number, leaf: boolean): [bigint, bigint] => [
  0x12n | (BigInt(asid) << 48n),
  BigInt(va) | (leaf ? 1n : 0n),
];
const s2Ipa = (vmid: number, ipa: number, leaf: boolean): [bigint, bigint] => [
  0x2an | (BigInt(vmid) << 32n),
  BigInt(ipa) | (leaf ? 1n : 0n),
];

describe("arm-smmu-v3: walk caches", () => {
  it("is off by default", () => {
    expect(createArmSmmuV3().hardware.translation.walkCache).toBeNull();
  });

  it("TLBI_NH_VA with LEAF=1 keeps the table descriptors, LEAF=0 drops those over its address", () => {
    const { backend, wc, entries } = setup();
    expect(entries()).toEqual(["S1L0", "S1L1", "S1L2"]);
    expect(wc.snapshot().every((e) => e.asid === 2)).toBe(true);
    backend.issueCommand(nhVa(2, 0x20_0000, true));
    expect(entries()).toEqual(["S1L0", "S1L1", "S1L2"]);
    expect(backend.hardware.translation.iotlb!.snapshot()).toEqual([]);
    backend.issueCommand(nhVa(3, 0x20_0000, false)); // another ASID: nothing
    expect(entries()).toHaveLength(3);
    backend.issueCommand(nhVa(2, 0x40_0000, false)); // next 2 MiB: only L0 and L1 span it
    expect(entries()).toEqual(["S1L2"]);
    backend.issueCommand(nhVa(2, 0x20_0000, false));
    expect(entries()).toEqual([]);
    expect(wc.stats().total).toMatchObject({ invalidations: { range: 4 }, dropped: { range: 3 } });
  });

  it("the driver's page unmap is leaf-only; freeing a leaf table sends LEAF=0 and drops the entries", () => {
    const { backend, core, domain, entries } = setup();
    core.unmap(domain, 0x20_1000, 0x1000);
    const leafCmds = backend.hardware.recentCommands().filter((c) => c.name === "TLBI_NH_VA");
    expect(leafCmds.map((c) => c.dwords[1] & 1n)).toEqual([1n]);
    expect(entries()).toEqual(["S1L0", "S1L1", "S1L2"]);
    // One 2 MiB unmap over the leaf table: io-pgtable frees it and tlb_flush_walk sends LEAF=0.
    backend.hardware.resetStats();
    expect(core.unmap(domain, 0x20_0000, 0x20_0000)).toBe(0x20_0000n);
    const walkCmds = backend.hardware.recentCommands().filter((c) => c.name === "TLBI_NH_VA");
    expect(walkCmds.length).toBeGreaterThan(0);
    expect(walkCmds.every((c) => (c.dwords[1]! & 1n) === 0n)).toBe(true);
    expect(entries()).toEqual([]);
  });

  it("TLBI_NH_ASID and TLBI_NSNH_ALL drop by tag", () => {
    const { backend, core, dev, entries } = setup();
    backend.issueCommand([0x11n | (3n << 48n), 0n]); // NH_ASID 3
    expect(entries()).toHaveLength(3);
    backend.issueCommand([0x11n | (2n << 48n), 0n]); // NH_ASID 2
    expect(entries()).toEqual([]);
    core.deviceDma(dev, { iova: 0x20_0000, length: 4, write: false });
    expect(entries()).toHaveLength(3);
    backend.issueCommand([0x30n, 0n]); // NSNH_ALL
    expect(entries()).toEqual([]);
  });

  it("stage 2: TLBI_S2_IPA with LEAF=1 keeps, LEAF=0 drops; TLBI_S12_VMALL drops the VMID", () => {
    const { backend, core, dev, wc, entries } = setup({ stage: 2 });
    expect(entries()).toEqual(["S2L0", "S2L1", "S2L2"]);
    expect(wc.snapshot().every((e) => e.vmid === 2 && e.asid === 0)).toBe(true);
    backend.issueCommand(s2Ipa(2, 0x20_0000, true));
    expect(entries()).toHaveLength(3);
    backend.issueCommand(nhVa(0, 0x20_0000, false)); // a stage-1 TLBI leaves stage-2 walks alone
    expect(entries()).toHaveLength(3);
    backend.issueCommand(s2Ipa(2, 0x20_0000, false));
    expect(entries()).toEqual([]);
    core.deviceDma(dev, { iova: 0x20_0000, length: 4, write: false });
    expect(entries()).toHaveLength(3);
    backend.issueCommand([0x28n | (2n << 32n), 0n]); // S12_VMALL VMID 2
    expect(entries()).toEqual([]);
  });
});
