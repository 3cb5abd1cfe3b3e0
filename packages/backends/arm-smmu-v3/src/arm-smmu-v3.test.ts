import { decodeSmmuCommand, decodeSmmuEvent, type PhysMemory, u64sToRecord } from "@iommu-sim/hw";
import {
  createIommuCore,
  createIotlbGather,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { type ArmSmmuV3Backend, createArmSmmuV3 } from "./backend.js";
import type { ArmSmmuV3Options } from "./options.js";
import { GEM5_SMMU_V3_ID_REGISTERS } from "./options.js";

const dwords = (memory: PhysMemory, pa: number, n: number): bigint[] =>
  Array.from({ length: n }, (_, i) => memory.readU64(pa + 8 * i));

const setup = (options: ArmSmmuV3Options = {}, sids?: number[]) => {
  const backend = createArmSmmuV3(options);
  const core = createIommuCore();
  core.registerIommu(backend);
  const dev: IommuDevice = sids
    ? core.addPlatformDevice({ name: "dma0", firmware: { iommu: backend.name, streamIds: sids } })
    : core.addPciDevice({ bus: 1, slot: 0, iommu: backend.name }); // requester ID 0x100
  return { backend, core, dev };
};

const attachNew = (
  core: ReturnType<typeof setup>["core"],
  dev: IommuDevice,
  type = IOMMU_DOMAIN_UNMANAGED,
) => {
  const domain = core.domainAlloc(dev, type);
  core.attachDevice(domain, dev);
  return domain;
};

const steOf = (backend: ArmSmmuV3Backend, sid: number) =>
  dwords(backend.memory, backend.smmu.steAddress(sid), 8);

describe("arm-smmu-v3: stream table entries and context descriptors", () => {
  it("writes Linux's stage-1 STE and CD for a paging domain", () => {
    const { backend, core, dev } = setup();
    attachNew(core, dev);
    const master = backend.driver.masterOf(dev)!;
    const cd = master.cdTable;
    expect(cd % 64).toBe(0);
    // dw0 = S1ContextPtr | Config S1_TRANS (0b101 << 1 = 0xa) | V (1); S1Fmt linear, S1CDMax 0.
    // dw1 = S1DSS SSID0 (2) | S1CIR WBRA (1 << 2) | S1COR WBRA (1 << 4) | S1CSH ISH (3 << 6) = 0xd6;
    //       no S1STALLD (IDR0.STALL_MODEL = 1: no stalls), STRW NS-EL1 (0), EATS 0.
    expect(steOf(backend, 0x100)).toEqual([BigInt(cd) | 0xbn, 0xd6n, 0n, 0n, 0n, 0n, 0n, 0n]);
    // The default DMA domain took ASID 1, this one ASID 2.
    // dw0 low  = T0SZ 16 (0x10) | TG0 4K (0) | IRGN0 WBWA (1 << 8) | ORGN0 WBWA (1 << 10) | SH0 IS (3 << 12)
    //            | EPD1 (1 << 30) | V (1 << 31) = 0xc0003510
    // dw0 high = IPS 48-bit (5) | AA64 (1 << 9) | R (1 << 13) | A (1 << 14) | ASET (1 << 15) | ASID 2 << 16
    //          = 0x0002e205
    // dw1 = TTB0; dw3 = MAIR 0xf404ff44 (NC 0x44, WBRWA 0xff, DEVICE 0x04, INC_OWBRWA 0xf4).
    const [cd0, cd1, ...rest] = dwords(backend.memory, cd, 8);
    expect(cd0).toBe(0x0002_e205_c000_3510n);
    expect(cd1).toBe(BigInt(master.domain!.table!.rootAddress));
    expect(rest).toEqual([0n, 0xf404ff44n, 0n, 0n, 0n, 0n]);
  });

  it("writes Linux's stage-2 STE with the VTCR of the table", () => {
    const { backend, core, dev } = setup({ stage: 2 });
    attachNew(core, dev);
    const domain = backend.driver.masterOf(dev)!.domain!;
    expect(domain.vmid).toBe(2); // the default domain has VMID 1
    // dw0 = Config S2_TRANS (0b110 << 1 = 0xc) | V = 0xd; dw1 = 0 (no ATTR_TYPES_OVR, no ATS).
    // VTCR (4K, ias = oas = 48, coherent): T0SZ 16 | SL0 2 (start level 0) << 6 | IR0 1 << 8 | OR0 1 << 10
    //   | SH0 3 << 12 | TG 0 << 14 | PS 5 << 16 = 0x53590, at dw2[50:32];
    // dw2 high = 0x53590 | S2AA64 (bit 51 -> 1 << 19) | S2PTW (bit 54 -> 1 << 22) | S2R (bit 58 -> 1 << 26)
    //          = 0x044d3590; dw2 low = S2VMID 2. dw3 = S2TTB.
    expect(steOf(backend, 0x100)).toEqual([
      0xdn,
      0n,
      0x044d_3590_0000_0002n,
      BigInt(domain.table!.rootAddress),
      0n,
      0n,
      0n,
      0n,
    ]);
  });

  it("writes the bypass STE for identity and the abort STE for blocked domains", () => {
    const { backend, core, dev } = setup();
    attachNew(core, dev, IOMMU_DOMAIN_IDENTITY);
    // V | Config bypass (0b100 << 1 = 8); SHCFG only with IDR1.ATTR_TYPES_OVR.
    expect(steOf(backend, 0x100)).toEqual([0x9n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(core.deviceDma(dev, { iova: 0x8000_0000, length: 4, write: false }).ok).toBe(true);
    const { backend: b2, core: c2, dev: d2 } = setup();
    attachNew(c2, d2, IOMMU_DOMAIN_BLOCKED);
    // V | Config abort (0).
    expect(steOf(b2, 0x100)).toEqual([0x1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    const blocked = c2.deviceDma(d2, { iova: 0x8000_0000, length: 4, write: false });
    expect(blocked).toMatchObject({ ok: false, reason: "blocked", reported: undefined });
    expect(b2.hardware.stats().eventsWritten).toBe(0); // abort STEs record nothing
  });
});

describe("arm-smmu-v3: invalidation commands", () => {
  const unmap33 = (rangeInvalidation: boolean) => {
    const { backend, core, dev } = setup({ rangeInvalidation });
    const domain = attachNew(core, dev);
    core.map(domain, 0x10000, 0x8000_0000, 33 * 4096, IOMMU_READ | IOMMU_WRITE);
    backend.hardware.resetStats();
    expect(core.unmap(domain, 0x10000, 0x21000)).toBe(0x21000n);
    return backend.hardware.recentCommands();
  };

  it("unmapping 33 pages with RIL issues the two range TLBIs of hw-facts 4.1 and a CMD_SYNC", () => {
    // hw-facts 4.1 vector (ASID 1): dw0 0x0001000000000012 / dw1 0x0000000000010701 (NUM 0, SCALE 0,
    // TTL 3, TG 4K, LEAF), then SCALE 5: 0x0001000000500012 / 0x0000000000011701. Here ASID 2.
    const cmds = unmap33(true);
    expect(cmds.map((c) => c.dwords)).toEqual([
      [0x0002_0000_0000_0012n, 0x0000_0000_0001_0701n],
      [0x0002_0000_0050_0012n, 0x0000_0000_0001_1701n],
      [0x0000_0000_0000_2046n, 0n], // CMD_SYNC, CS = SEV
    ]);
    // The same words through @iommu-sim/hw's decoder.
    const first = decodeSmmuCommand(u64sToRecord(cmds[1]!.dwords));
    expect(first).toMatchObject({
      name: "TLBI_NH_VA",
      fields: { asid: 2, num: 0, scale: 5, ttl: 3, tg: 1, leaf: true },
    });
  });

  it("unmapping 33 pages without RIL issues 33 TLBI_NH_VA and a CMD_SYNC", () => {
    const cmds = unmap33(false);
    expect(cmds).toHaveLength(34);
    for (let i = 0; i < 33; i++) {
      // TG = TTL = NUM = SCALE = 0, LEAF, one 4 KiB page each (hw-facts 4.1, no-RIL vector).
      expect(cmds[i]!.dwords).toEqual([0x0002_0000_0000_0012n, BigInt(0x10000 + i * 4096) | 1n]);
    }
    expect(cmds[33]!.dwords).toEqual([0x2046n, 0n]);
  });

  it("flush-all is TLBI_NH_ASID for stage 1 and TLBI_S12_VMALL for stage 2", () => {
    for (const [stage, dw0] of [
      [1, 0x0002_0000_0000_0011n],
      [2, 0x0000_0002_0000_0028n],
    ] as const) {
      const { backend, core, dev } = setup({ stage });
      const domain = attachNew(core, dev);
      backend.hardware.resetStats();
      core.flushIotlbAll(domain);
      expect(backend.hardware.recentCommands().map((c) => c.dwords)).toEqual([
        [dw0, 0n],
        [0x2046n, 0n],
      ]);
    }
  });

  it("keeps a stale IOTLB entry reachable until the gathered range is synced", () => {
    const { core, dev } = setup();
    const domain = attachNew(core, dev);
    const iova = 0x10_0000_0000;
    core.map(domain, iova, 0x8000_0000, 4096, IOMMU_READ);
    expect(core.deviceDma(dev, { iova, length: 4, write: false }).ok).toBe(true); // fills the IOTLB
    const gather = createIotlbGather();
    expect(core.unmapFast(domain, iova, 4096, gather)).toBe(4096n);
    expect(core.iovaToPhys(domain, iova)).toBe(0n);
    expect(core.staleTranslation(dev, iova)).toBe(true);
    core.iotlbSync(domain, gather);
    expect(core.staleTranslation(dev, iova)).toBe(false);
  });

  it("stops on an unknown opcode with CERROR_ILL, and the driver skips it", () => {
    const { backend, core } = setup();
    backend.issueCommand([0xffn, 0n]);
    const stats = backend.hardware.stats();
    expect(stats.illegalCommands).toBe(1);
    const log = core.log.map((l) => l.message).join("\n");
    expect(log).toContain("CMDQ error (cons 0x01");
    expect(log).toContain("Illegal command");
    expect(log).toContain("skipping command in error state:");
    // The queue runs again: the replacement CMD_SYNC and the driver's own completed.
    expect(backend.hardware.read32(0x9c) & 0x7f00_0000).toBe(0);
    expect(backend.hardware.read32(0x9c)).toBe(backend.hardware.read32(0x98));
    expect(log).not.toContain("CMD_SYNC timeout");
  });
});

describe("arm-smmu-v3: datapath and faults", () => {
  it("moves a device's DMA to the mapped physical bytes", () => {
    const { backend, core, dev } = setup();
    const domain = attachNew(core, dev);
    core.map(domain, 0x20_0000, 0x9000_0000, 0x20_0000, IOMMU_READ | IOMMU_WRITE); // one 2 MiB block
    const data = Uint8Array.from({ length: 64 }, (_, i) => i ^ 0x5a);
    expect(core.deviceDma(dev, { iova: 0x21_2340, length: 64, write: true, data }).ok).toBe(true);
    expect(backend.memory.read(0x9001_2340, 64)).toEqual(data);
    const read = core.deviceDma(dev, { iova: 0x21_2340, length: 64, write: false });
    expect(read.ok && read.data).toEqual(data);
  });

  it("turns an unmapped read into an F_TRANSLATION record in the EVTQ and a core fault report", () => {
    const { backend, core, dev } = setup();
    const domain = attachNew(core, dev);
    const seen: [IommuDomain, bigint, number][] = [];
    core.setFaultHandler(domain, (d, _dev, iova, flags) => {
      seen.push([d, iova, flags]);
      return 0;
    });
    const result = core.deviceDma(dev, { iova: 0xdead000, length: 8, write: false });
    expect(result).toMatchObject({
      ok: false,
      iova: 0xdead000n,
      flags: IOMMU_FAULT_READ,
      reason: "unmapped",
      reported: 0,
    });
    expect(seen).toEqual([[domain, 0xdead000n, IOMMU_FAULT_READ]]);
    const record = backend.memory.read(backend.smmu.evtqBase, 32);
    const event = decodeSmmuEvent(record);
    expect(event.name).toBe("F_TRANSLATION");
    expect(event.fields).toMatchObject({
      sid: 0x100,
      ssv: false,
      rnw: true,
      s2: false,
      class: 2,
      inputAddr: 0xdead000n,
    });
    // hw-facts 5.1 layout: dw0 = SID << 32 | 0x10; dw1 = CLASS IN (2 << 40) | RnW (1 << 35).
    expect(dwords(backend.memory, backend.smmu.evtqBase, 4)).toEqual([
      0x0000_0100_0000_0010n,
      0x0000_0208_0000_0000n,
      0xdead000n,
      0n,
    ]);
    // Consumed by the event thread: CONS caught up with PROD.
    expect(backend.hardware.read32(0xac)).toBe(backend.hardware.read32(0xa8));
  });

  it("logs Linux's event dump when nobody handles the fault", () => {
    const { core, dev } = setup();
    attachNew(core, dev);
    core.deviceDma(dev, { iova: 0xdead000, length: 4, write: true, data: new Uint8Array(4) });
    const log = core.log.map((l) => l.message);
    expect(log).toContain("smmu0: event 0x10 received:");
    expect(log).toContain(
      "smmu0: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0xdead000 ipa: 0x0",
    );
    expect(log).toContain('smmu0: unpriv data write s1 "Input address caused fault" stag: 0x0');
  });

  it("does not see an STE changed in memory until CFGI_STE (config cache)", () => {
    const { backend, core, dev } = setup();
    const domain = attachNew(core, dev);
    core.map(domain, 0x1000_0000, 0x8000_0000, 4096, IOMMU_READ);
    expect(core.deviceDma(dev, { iova: 0x1000_0000, length: 4, write: false }).ok).toBe(true);
    // Behind the driver's back: make the STE abort (dword 0 = V | Config abort).
    const ste = backend.smmu.steAddress(0x100);
    backend.memory.writeU32(ste, 1);
    backend.memory.writeU32(ste + 4, 0);
    expect(core.deviceDma(dev, { iova: 0x1000_0000, length: 4, write: false }).ok).toBe(true);
    backend.issueCommand([0x0000_0100_0000_0003n, 1n]); // CFGI_STE SID 0x100, LEAF
    expect(core.deviceDma(dev, { iova: 0x1000_0000, length: 4, write: false })).toMatchObject({
      ok: false,
      reason: "blocked",
    });
  });
});

describe("arm-smmu-v3: configurations", () => {
  it("uses a 2-level stream table with SPLIT 8 and level-1 descriptors", () => {
    const { backend, core, dev } = setup({ streamTable: "2-level" });
    attachNew(core, dev);
    // STRTAB_BASE_CFG: FMT 2-level (1 << 16) | SPLIT 8 (8 << 6) | LOG2SIZE 16.
    expect(backend.hardware.read32(0x88)).toBe(0x1_0210);
    const base = Number(backend.hardware.read64(0x80) & 0xf_ffff_ffff_ffc0n);
    const l1 = backend.memory.readU64(base + 8); // SID 0x100 -> L1 index 1
    expect(l1 & 0x1fn).toBe(9n); // SPAN = SPLIT + 1
    const l2 = Number(l1 & 0xf_ffff_ffff_ffc0n);
    expect(backend.smmu.steAddress(0x100)).toBe(l2); // L2 index 0
    expect(backend.hardware.cachedConfig(0x100)?.steAddress ?? l2).toBe(l2);
    const unused = backend.memory.readU64(base + 16); // L1 index 2: no device, invalid
    expect(unused).toBe(0n);
  });

  for (const granule of [16384, 65536] as const) {
    it(`translates with ${granule / 1024}K granules (TG0 ${granule === 16384 ? 2 : 1})`, () => {
      const { backend, core, dev } = setup({ granule });
      const domain = attachNew(core, dev);
      expect(domain.pgsizeBitmap).toBe(granule === 16384 ? 0x4000 | 0x200_0000 : 0x1_0000 | 0x2000_0000);
      core.map(domain, 4 * granule, 0x8000_0000, granule, IOMMU_READ | IOMMU_WRITE);
      const data = new Uint8Array([1, 2, 3, 4]);
      expect(core.deviceDma(dev, { iova: 4 * granule + granule - 4, length: 4, write: true, data }).ok).toBe(
        true,
      );
      expect(backend.memory.read(0x8000_0000 + granule - 4, 4)).toEqual(data);
      const cd0 = backend.memory.readU64(backend.driver.masterOf(dev)!.cdTable);
      expect(Number((cd0 >> 6n) & 3n)).toBe(granule === 16384 ? 2 : 1);
    });
  }

  it("runs with gem5's ID registers (IDR0 0x094C100F, IDR1 0x00E00000, IDR5 0x55)", () => {
    // SIDSIZE 0: one StreamID, so a linear table; COHACC 0: non-coherent walks, so Linux programs
    // IRGN0 = ORGN0 = NC and SH0 = OS in the CD; CMDQS 7 (128 commands), EVTQS 0 (one record).
    const { backend, core, dev } = setup({ idRegisters: GEM5_SMMU_V3_ID_REGISTERS }, [0]);
    expect(backend.smmu.twoLevel).toBe(false);
    expect(backend.smmu.rangeInvalidation).toBe(false);
    const domain = attachNew(core, dev);
    core.map(domain, 0x4000, 0x8000_0000, 4096, IOMMU_READ | IOMMU_WRITE);
    expect(core.deviceDma(dev, { iova: 0x4000, length: 4, write: false }).ok).toBe(true);
    const cd0 = backend.memory.readU64(backend.driver.masterOf(dev)!.cdTable);
    // T0SZ 16 | SH0 OS (2 << 12) | EPD1 | V; IPS 5 | AA64 | R | A | ASET | ASID 2.
    expect(cd0).toBe(0x0002_e205_c000_2010n);
  });

  it("refuses a command queue too small for a batch and a 2-level table without ST_LVL", () => {
    expect(() => createArmSmmuV3({ idRegisters: { idr1: 0x00c0_0010 } })).toThrowError(
      expect.objectContaining({ code: "EINVAL", message: expect.stringMatching(/command queue size <= 64/) }),
    );
    expect(() =>
      createArmSmmuV3({ idRegisters: { idr0: 0x014c_101f }, streamTable: "2-level" }),
    ).toThrowError(/2-level stream table needs IDR0.ST_LVL/);
    expect(() => createArmSmmuV3({ idRegisters: { idr3: 0 }, rangeInvalidation: true })).toThrowError(
      /IDR3.RIL is 0/,
    );
    expect(() => createArmSmmuV3({ idRegisters: GEM5_SMMU_V3_ID_REGISTERS, granule: 16384 })).toThrowError(
      /granule 16384 is not in IDR5/,
    );
  });
});
