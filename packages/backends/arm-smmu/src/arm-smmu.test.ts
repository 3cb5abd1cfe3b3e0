import {
  createIommuCore,
  createIotlbGather,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  isIommuSimError,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { type ArmSmmuOptions, createArmSmmu } from "./arm-smmu.js";
import { Cb, Gr0, Gr1, SCTLR } from "./hardware/registers.js";

const SID = 0x42;
const IOVA = 0x1000_0000;
const PA = 0x8000_0000;

// One platform device with StreamID 0x42. Its default DMA domain takes context bank 0; the
// unmanaged domain attached here takes bank 1 (ASID 1, VMID 2).
function setup(options: ArmSmmuOptions = {}, attach = true) {
  const backend = createArmSmmu(options);
  const core = createIommuCore({});
  core.registerIommu(backend);
  const dev = core.addPlatformDevice({ name: "dev0", firmware: { iommu: "smmu0", streamIds: [SID] } });
  const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  const hw = backend.hardware;
  hw.startTrace();
  if (attach) core.attachDevice(domain, dev);
  const attachWrites = hw.stopTrace().map((w) => [w.space, w.name, w.value] as const);
  const cb = (n: number, reg: number) => hw.read32(hw.cbOffset(n, reg));
  return { backend, core, dev, domain, hw, attachWrites, cb };
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return isIommuSimError(error) ? error.code : String(error);
  }
  return undefined;
};

describe("arm-smmu: registers programmed on attach", () => {
  it("stage 1 AArch64 LPAE, 4K granule: SMR, S2CR, CBA2R, CBAR, TCR2, TCR, TTBRs, MAIRs, SCTLR", () => {
    const { attachWrites, hw } = setup();
    // SMR0 (written at probe) = VALID[31] | MASK[30:16] = 0 | ID[15:0] = 0x42.
    expect(hw.read32(Gr0.SMR_BASE)).toBe(0x8000_0042);
    expect(attachWrites).toEqual([
      ["GR1", "CBA2R1", 0x1n], // VA64: AArch64 regime
      // TYPE[17:16] = 1 (S1 translate, S2 bypass) | MEMATTR[15:12] = 0xf (WB) | BPSHCFG[9:8] = 3 (NSH).
      ["GR1", "CBAR1", 0x1_f300n],
      // SEP[17:15] = 7 (upstream) | AS[4] (16-bit ASIDs) | PASIZE[3:0] = 5 (48-bit IPA).
      ["CB1", "TCR2", 0x3_8015n],
      // EPD1[23] | TG0[15:14] = 0 (4K) | SH0[13:12] = 3 (IS) | ORGN0[11:10] = IRGN0[9:8] = 1 (WBWA) | T0SZ = 64 - 48 = 16.
      ["CB1", "TCR", 0x80_3510n],
      // ASID 1 in [63:48] | the pgd: the allocator's second page (the default domain's pgd is 0x4000_0000).
      ["CB1", "TTBR0", 0x0001_0000_4000_1000n],
      ["CB1", "TTBR1", 0x0001_0000_0000_0000n], // ASID only: no TTBR1 table (EPD1)
      ["CB1", "MAIR0", 0xf404_ff44n], // io-pgtable MAIR: NC 0x44, WBRWA 0xff, DEVICE 0x04, INC_OWBRWA 0xf4
      ["CB1", "MAIR1", 0x0n],
      // ASIDPNE[12] | CFIE[6] | CFRE[5] | AFE[2] | TRE[1] | M[0].
      ["CB1", "SCTLR", 0x1067n],
      // S2CR0: TYPE[17:16] = 0 (translate) | CBNDX[7:0] = 1.
      ["GR0", "S2CR0", 0x1n],
    ]);
  });

  it("stage 1 ARMv7 short descriptor: CONTEXTIDR holds the ASID, PRRR/NMRR in MAIR0/1", () => {
    const { attachWrites } = setup({ format: "v7s" });
    expect(attachWrites).toEqual([
      ["GR1", "CBA2R1", 0x0n], // AArch32 regime
      ["GR1", "CBAR1", 0x1_f300n],
      ["CB1", "TCR2", 0x0n],
      ["CB1", "TCR", 0x0n], // T0SZ = 0, EAE = 0: short descriptors
      ["CB1", "CONTEXTIDR", 0x1n], // ASID 1
      // 16 KiB level-1 table at 0x4000_4000 (after the default domain's at 0x4000_0000) |
      // IRGN WBWA (bit 6) | NOS (bit 5) | ORGN WBWA (bits 4:3 = 1) | S (bit 1) = 0x6a.
      ["CB1", "TTBR0", 0x4000_406an],
      ["CB1", "TTBR1", 0x0n],
      // PRRR = NOS(7) bit 31 | NS1 bit 19 | DS1 bit 17 | DS0 bit 16 | TR(7) = TR(4) = NORMAL (2) | TR(1) = DEVICE (1).
      ["CB1", "MAIR0", 0x800b_8204n],
      ["CB1", "MAIR1", 0x4000_4000n], // NMRR = OR(7) = IR(7) = WBWA (1)
      ["CB1", "SCTLR", 0x1067n],
      ["GR0", "S2CR0", 0x1n],
    ]);
  });

  it("stage 2 (force_stage=2): CBAR carries VMID cbndx + 1, VTCR with SL0, no TCR2/TTBR1/MAIR", () => {
    const { attachWrites } = setup({ forceStage: 2 });
    expect(attachWrites).toEqual([
      ["GR1", "CBA2R1", 0x1n],
      ["GR1", "CBAR1", 0x2n], // TYPE 0 (S2 translate) | VMID 2
      // RES1[31] | PS[18:16] = 5 (48-bit) | TG0 = 0 | SH0 IS | ORGN0/IRGN0 WBWA | SL0[7:6] = 2 (start at
      // level 0 with 4K: ~(0 + 1) & 3) | T0SZ 16.
      ["CB1", "TCR", 0x8005_3590n],
      ["CB1", "TTBR0", 0x4000_1000n],
      ["CB1", "SCTLR", 0x67n], // no ASIDPNE at stage 2
      ["GR0", "S2CR0", 0x1n],
    ]);
  });

  it("resets sCR0 as arm_smmu_device_reset() does: fault reporting on, client access on, USFCFG per disable_bypass", () => {
    // GFRE | GFIE | GCFGFRE | GCFGFIE (0x36) | VMIDPNE 0x800 | PTM 0x1000, and USFCFG 0x400.
    expect(setup().hw.read32(Gr0.sCR0)).toBe(0x1c36);
    expect(setup({ disableBypass: false }).hw.read32(Gr0.sCR0)).toBe(0x1836);
  });
});

describe("arm-smmu: TLB maintenance", () => {
  it("a strict unmap of three 4K pages writes TLBIVAL per page (VA >> 12 | ASID << 48) then one TLBSYNC", () => {
    const { core, domain, hw } = setup();
    core.map(domain, IOVA, PA, 0x3000, IOMMU_READ | IOMMU_WRITE);
    hw.startTrace();
    expect(core.unmap(domain, IOVA, 0x3000)).toBe(0x3000n);
    expect(hw.stopTrace().map((w) => [w.space, w.name, w.width, w.value])).toEqual([
      ["CB1", "TLBIVAL", 64, 0x0001_0000_0001_0000n],
      ["CB1", "TLBIVAL", 64, 0x0001_0000_0001_0001n],
      ["CB1", "TLBIVAL", 64, 0x0001_0000_0001_0002n],
      ["CB1", "TLBSYNC", 32, 0xffff_ffffn],
    ]);
  });

  it("a 2M block is one TLBIVAL; flushIotlbAll is TLBIASID + TLBSYNC", () => {
    const { core, domain, hw } = setup();
    core.map(domain, 0x4000_0000, PA, 0x20_0000, IOMMU_READ);
    hw.startTrace();
    core.unmap(domain, 0x4000_0000, 0x20_0000);
    core.flushIotlbAll(domain);
    expect(hw.stopTrace().map((w) => [w.name, w.value])).toEqual([
      ["TLBIVAL", 0x0001_0000_0004_0000n],
      ["TLBSYNC", 0xffff_ffffn],
      ["TLBIASID", 0x1n],
      ["TLBSYNC", 0xffff_ffffn],
    ]);
  });

  it("short descriptors use 32-bit writes: VA[31:12] | ASID", () => {
    const { core, domain, hw } = setup({ format: "v7s" });
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    hw.startTrace();
    core.unmap(domain, IOVA, 0x1000);
    expect(hw.stopTrace().map((w) => [w.name, w.width, w.value])).toEqual([
      ["TLBIVAL", 32, 0x1000_0001n],
      ["TLBSYNC", 32, 0xffff_ffffn],
    ]);
  });

  it("stage 2 unmaps write TLBIIPAS2L (IPA >> 12) and flush-all is TLBIVMID + global sync", () => {
    const { core, domain, hw } = setup({ forceStage: 2 });
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    hw.startTrace();
    core.unmap(domain, IOVA, 0x1000);
    core.flushIotlbAll(domain);
    expect(hw.stopTrace().map((w) => [w.space, w.name, w.value])).toEqual([
      ["CB1", "TLBIIPAS2L", 0x1_0000n],
      ["CB1", "TLBSYNC", 0xffff_ffffn],
      ["GR0", "TLBIVMID", 0x2n],
      ["GR0", "sTLBGSYNC", 0xffff_ffffn],
    ]);
  });

  it("keeps a stale TLB entry usable after TLBIVAL until the TLBSYNC completes it", () => {
    const { core, dev, domain, backend } = setup();
    backend.memory.write(PA, Uint8Array.of(1, 2, 3, 4));
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    expect(core.deviceDma(dev, { iova: IOVA, length: 4, write: false }).ok).toBe(true); // fills the TLB
    const gather = createIotlbGather();
    expect(core.unmapFast(domain, IOVA, 0x1000, gather)).toBe(0x1000n); // TLBIVAL written, not synced
    expect(backend.hardware.pendingInvalidations().context[1]).toBe(1);
    expect(core.staleTranslation(dev, IOVA)).toBe(true);
    const stale = core.deviceDma(dev, { iova: IOVA, length: 4, write: false });
    expect(stale.ok && stale.data).toEqual(Uint8Array.of(1, 2, 3, 4));
    core.iotlbSync(domain, gather); // TLBSYNC
    expect(core.staleTranslation(dev, IOVA)).toBe(false);
    expect(core.deviceDma(dev, { iova: IOVA, length: 4, write: false }).ok).toBe(false);
  });

  it("a queued (lazy) unmap writes no TLBIVAL: the entry stays until flush-all", () => {
    const { core, dev, domain, hw } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    core.deviceDma(dev, { iova: IOVA, length: 4, write: false });
    const gather = createIotlbGather();
    gather.queued = true;
    hw.startTrace();
    core.unmapFast(domain, IOVA, 0x1000, gather);
    core.iotlbSync(domain, gather);
    expect(hw.stopTrace().map((w) => w.name)).toEqual(["TLBSYNC"]);
    expect(core.staleTranslation(dev, IOVA)).toBe(true);
    core.flushIotlbAll(domain);
    expect(core.staleTranslation(dev, IOVA)).toBe(false);
  });
});

describe("arm-smmu: DMA and context faults", () => {
  it("moves bytes through a mapped IO address to the right physical bytes, across pages", () => {
    const { core, dev, domain, backend } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ | IOMMU_WRITE);
    core.map(domain, IOVA + 0x1000, PA + 0x5000, 0x1000, IOMMU_READ | IOMMU_WRITE);
    const data = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    expect(core.deviceDma(dev, { iova: IOVA + 0xff0, length: 32, write: true, data }).ok).toBe(true);
    expect(backend.memory.read(PA + 0xff0, 16)).toEqual(data.subarray(0, 16));
    expect(backend.memory.read(PA + 0x5000, 16)).toEqual(data.subarray(16));
    const read = core.deviceDma(dev, { iova: IOVA + 0xff0, length: 32, write: false });
    expect(read.ok && read.data).toEqual(data);
  });

  it("an unmapped write sets FSR=TF (Format=2), FSYNR0.WNR, FAR, CBFRSYNRA and reports the write to the handler", () => {
    const { core, dev, domain, cb, hw } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ | IOMMU_WRITE);
    const seen: unknown[] = [];
    core.setFaultHandler(domain, (_d, device, iova, flags) => {
      // Runs from the context interrupt, before the driver clears FSR.
      seen.push({
        device: device.name,
        iova,
        flags,
        fsr: cb(1, Cb.FSR),
        fsynr0: cb(1, Cb.FSYNR0),
        far: hw.read64(hw.cbOffset(1, Cb.FAR)),
        cbfrsynra: hw.read32(0x1000 + Gr1.CBFRSYNRA_BASE + 4),
      });
      return 0;
    });
    const at = IOVA + 0x1008;
    const result = core.deviceDma(dev, { iova: at, length: 4, write: true, data: new Uint8Array(4) });
    expect(result).toEqual({
      ok: false,
      iova: BigInt(at),
      flags: IOMMU_FAULT_WRITE,
      reason: "unmapped",
      reported: 0,
    });
    expect(seen).toEqual([
      {
        device: "dev0",
        iova: BigInt(at),
        flags: IOMMU_FAULT_WRITE,
        fsr: 0x402, // FORMAT[10:9] = 2 (AArch64) | TF[1]
        fsynr0: 0x13, // WNR[4] | PLVL = 3 (the level-3 table exists, its entry is empty)
        far: BigInt(at),
        cbfrsynra: SID,
      },
    ]);
    expect(cb(1, Cb.FSR)).toBe(0); // cleared by the handler (write 1 to clear)
    expect(core.log.filter((r) => r.message.includes("Unhandled"))).toEqual([]);
  });

  it("without a handler logs Linux's three context fault lines and reports the read", () => {
    const { core, dev, domain } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    const result = core.deviceDma(dev, { iova: IOVA + 0x2000, length: 8, write: false });
    expect(result).toMatchObject({ ok: false, flags: IOMMU_FAULT_READ, reported: "ENOSYS" });
    expect(core.log.filter((r) => r.level === "warn").map((r) => r.message)).toEqual([
      "smmu0: Unhandled context fault: fsr=0x402, iova=0x10002000, fsynr=0x3, cbfrsynra=0x42, cb=1",
      "smmu0: FSR    = 00000402 [Format=2 TF], SID=0x42",
      "smmu0: FSYNR0 = 00000003 [S1CBNDX=0 PLVL=3]",
    ]);
  });

  it("a write to a read-only page is a permission fault (PF)", () => {
    const { core, dev, domain } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    const result = core.deviceDma(dev, { iova: IOVA, length: 4, write: true, data: new Uint8Array(4) });
    expect(result).toMatchObject({ ok: false, reason: "permission", reported: "ENOSYS" });
    expect(core.log.some((r) => r.message.endsWith("FSR    = 00000408 [Format=2 PF], SID=0x42"))).toBe(true);
  });

  it("sets MULTI when a second fault arrives before FSR is cleared, keeping the first syndrome", () => {
    const { core, dev, domain, hw, cb } = setup();
    core.map(domain, IOVA, PA, 0x1000, IOMMU_READ);
    // Mask the context interrupt so nothing clears FSR.
    hw.write32(hw.cbOffset(1, Cb.SCTLR), cb(1, Cb.SCTLR) & ~SCTLR.CFIE);
    expect(core.deviceDma(dev, { iova: IOVA + 0x3000, length: 4, write: false })).toMatchObject({
      ok: false,
      reported: undefined,
    });
    core.deviceDma(dev, { iova: IOVA + 0x4000, length: 4, write: true, data: new Uint8Array(4) });
    expect(cb(1, Cb.FSR)).toBe(0x8000_0402);
    expect(hw.read64(hw.cbOffset(1, Cb.FAR))).toBe(BigInt(IOVA + 0x3000));
    expect(cb(1, Cb.FSYNR0) & 0x10).toBe(0); // still the first (read) fault
  });

  it("identity is S2CR bypass and blocked is S2CR fault", () => {
    const { core, dev, backend, hw } = setup({}, false);
    const identity = core.domainAlloc(dev, IOMMU_DOMAIN_IDENTITY);
    core.attachDevice(identity, dev);
    expect(hw.read32(Gr0.S2CR_BASE)).toBe(0x1_0000); // TYPE = 1 (bypass)
    expect(core.deviceDma(dev, { iova: PA, length: 2, write: true, data: Uint8Array.of(7, 8) }).ok).toBe(
      true,
    );
    expect(backend.memory.read(PA, 2)).toEqual(Uint8Array.of(7, 8));
    core.detachDevice(identity, dev);
    const blocked = core.domainAlloc(dev, IOMMU_DOMAIN_BLOCKED);
    core.attachDevice(blocked, dev);
    expect(hw.read32(Gr0.S2CR_BASE)).toBe(0x2_0000); // TYPE = 2 (fault)
    expect(core.deviceDma(dev, { iova: PA, length: 2, write: false })).toMatchObject({
      ok: false,
      reason: "blocked",
      reported: undefined,
    });
  });
});

describe("arm-smmu: resources and stream matching", () => {
  it("fails an attach with ENOSPC when every context bank is taken, leaving the old domain", () => {
    // Two banks: the default domain holds bank 0; domain a takes bank 1 and keeps it after detach.
    const { core, dev, domain: a } = setup({ contextBanks: 2 }, false);
    core.attachDevice(a, dev);
    core.detachDevice(a, dev);
    const def = core.getDomainForDevice(dev);
    const b = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    expect(codeOf(() => core.attachDevice(b, dev))).toBe("ENOSPC");
    expect(core.getDomainForDevice(dev)).toBe(def);
    core.domainFree(a); // releases bank 1 (after TLBIASID + TLBSYNC)
    core.attachDevice(b, dev);
    expect(core.getDomainForDevice(dev)).toBe(b);
  });

  it("an unmatched stream faults with USFCFG=1 (global fault logged) and bypasses with USFCFG=0", () => {
    const blocked = setup();
    const r = blocked.hw.transaction(0x77, PA, 4, false);
    expect(r).toMatchObject({ ok: false, kind: "unidentified-stream" });
    expect(blocked.core.log.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      'smmu0: Blocked unknown Stream ID 0x77; boot with "arm-smmu.disable_bypass=0" to allow, but this may have security implications',
      "smmu0: \tGFSR 0x00000002, GFSYNR0 0x00000000, GFSYNR1 0x00000077, GFSYNR2 0x00000000",
    ]);
    expect(blocked.hw.read32(Gr0.sGFSR)).toBe(0); // cleared by the handler
    const open = setup({ disableBypass: false });
    open.backend.memory.write(PA, Uint8Array.of(9, 9, 9, 9));
    expect(open.hw.transaction(0x77, PA, 4, false)).toEqual({ ok: true, data: Uint8Array.of(9, 9, 9, 9) });
  });

  it("devices with the same stream ID share one SMR and one group; a partly overlapping SMR is refused", () => {
    const { core, dev, hw } = setup({}, false);
    const twin = core.addPlatformDevice({ name: "twin", firmware: { iommu: "smmu0", streamIds: [SID] } });
    expect(core.groupGet(twin)).toBe(core.groupGet(dev));
    expect(hw.read32(Gr0.SMR_BASE + 4)).toBe(0); // SMR1 still free
    // ID 0x40 with MASK 0xf covers 0x42 but is not covered by SMR0 (arm_smmu_find_sme: -EINVAL).
    const wide = core.addPlatformDevice({
      name: "wide",
      firmware: { iommu: "smmu0", streamIds: [0xf_0040] },
    });
    expect(core.groupGet(wide)).toBeUndefined();
    expect(core.log.some((l) => l.message.includes("conflicts with SMR0"))).toBe(true);
  });
});

// Regression: with a 64 KiB granule, a mapPages that failed on an injected allocation once left a
// stale leaf that made the next map of the range fail with EEXIST.
it("64K granule: a map after an injected allocation failure succeeds (regression: hw rollback)", () => {
  const { core, domain, backend } = setup({ granule: 65536 });
  const size = 4096 * 0x1_0000;
  const iova = 0x10_0000_0000 + 4 * 0x1_0000;
  backend.tableAllocator.failAfter(2);
  expect(codeOf(() => core.map(domain, iova, PA, size, IOMMU_READ))).toBe("ENOMEM");
  backend.tableAllocator.failAfter(0);
  expect(codeOf(() => core.map(domain, iova, PA, size, IOMMU_READ))).toBeUndefined();
});
