import { decodeVtdFaultRecord, vtdDescriptorQwords } from "@iommu-sim/hw";
import {
  createIotlbGather,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { DMA_FECTL_IM, DMAR_FECTL_REG, DMAR_FSTS_REG } from "./hardware/registers.js";
import { DEFAULT_VTD_CAP } from "./options.js";
import { qwords, vtdMachine } from "./test-machine.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const hexq = (qs: readonly bigint[]) => qs.map((q) => `0x${q.toString(16)}`);

// Table pages at bring-up, from the allocator over [0x10_0000_0000, +1 GiB) in allocation order:
// invalidation queue 0x10_0000_0000, status words 0x10_0000_1000 (1 KiB block), root table
// 0x10_0000_2000; then the first device's default domain table 0x10_0000_3000 and the context
// table of its bus 0x10_0000_4000; a second domain's table 0x10_0000_5000.
const ROOT = 0x10_0000_2000;
const STATUS = 0x10_0000_1000;

describe("root and context entries", () => {
  it("writes a present root entry and a second-stage context entry on attach", () => {
    const { vtd, add } = vtdMachine();
    add(3, 0); // 0000:03:00.0, source id 0x0300, probed onto a DMA default domain
    expect(vtd.rootTable).toBe(ROOT);
    // Root entry of bus 3 at ROOT + 3 * 16: lo = CTP 0x10_0000_4000 | P (bit 0), hi = 0.
    expect(hexq(qwords(vtd, ROOT + 0x30))).toEqual(["0x1000004001", "0x0"]);
    // Context entry devfn 0: lo = SSPTPTR 0x10_0000_3000 | TT 0 << 2 | FPD 0 << 1 | P 1;
    // hi = DID 2 (first id after the reserved 0 and 1) << 8 | AW 2 (4 levels, SAGAW 39|48 -> agaw 2).
    expect(hexq(qwords(vtd, 0x10_0000_4000))).toEqual(["0x1000003001", "0x202"]);
    expect(vtd.memory.read(0x10_0000_4000, 16)).toEqual(
      Uint8Array.from([0x01, 0x30, 0, 0, 0x10, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0, 0]),
    );
  });

  it("tears the old context down with a device-selective context flush and a DSI flush, then writes the new one", () => {
    const { core, vtd, add } = vtdMachine();
    const dev = add(3, 0);
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED); // table 0x10_0000_5000
    vtd.hardware.invalidationQueue.clearHistory();
    core.attachDevice(domain, dev);
    const issued = vtd.hardware.invalidationQueue.consumed.map((c) => hexq(vtdDescriptorQwords(c.raw)));
    expect(issued).toEqual([
      // Context-cache, device-selective (G 3 << 4), DID 2 << 16, SID 0x0300 << 32, type 1.
      ["0x30000020031", "0x0"],
      // Wait: status write (SW bit 5), data QI_DONE = 2 << 32, type 5; status word of slot 5.
      ["0x200000025", `0x${(STATUS + 5 * 4).toString(16)}`],
      // IOTLB, domain-selective (G 2 << 4), DW bit 6, DR bit 7, DID 2 << 16, type 2.
      ["0x200e2", "0x0"],
      ["0x200000025", `0x${(STATUS + 7 * 4).toString(16)}`],
    ]);
    // The freed id 2 is reused; no flush follows the not-present -> present write (no Caching Mode).
    expect(hexq(qwords(vtd, 0x10_0000_4000))).toEqual(["0x1000005001", "0x202"]);
  });

  it("writes a pass-through context entry for an identity default domain", () => {
    const { core, vtd, add } = vtdMachine({}, { passthrough: true });
    const dev = add(3, 0);
    // lo = TT 2 << 2 | P = 0x9 (no table); hi = DID 1 (FLPT_DEFAULT_DID) << 8 | AW = msagaw 2.
    expect(hexq(qwords(vtd, vtd.contextEntryAddress(0x300)!))).toEqual(["0x9", "0x102"]);
    const data = Uint8Array.of(1, 2, 3, 4);
    expect(core.deviceDma(dev, { iova: 0x1234_5678, length: 4, write: true, data }).ok).toBe(true);
    expect(vtd.memory.read(0x1234_5678, 4)).toEqual(data);
  });
});

describe("strict unmap invalidation", () => {
  const setup = (cap?: bigint) => {
    const m = vtdMachine(cap === undefined ? {} : { cap });
    const dev = m.add(3, 0);
    const domain = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    m.core.attachDevice(domain, dev); // DID 2
    m.core.map(domain, 0x3000, 0x8000_3000, 0x2000, RW);
    m.vtd.hardware.invalidationQueue.clearHistory();
    m.core.unmap(domain, 0x3000, 0x2000);
    return m.vtd.hardware.invalidationQueue.consumed.map((c) => ({
      index: c.index,
      q: hexq(vtdDescriptorQwords(c.raw)),
    }));
  };

  it("issues one PSI (ADDR 0x0, AM 3, IH) and a wait for an unmap of 0x3000+0x2000", () => {
    const issued = setup();
    expect(issued.length).toBe(2);
    // qw0: G 3 (PSI) << 4 | DW | DR | DID 2 << 16 | type 2; qw1: ADDR 0 | IH 1 << 6 | AM 3.
    expect(issued[0]!.q).toEqual(["0x200f2", "0x43"]);
    expect(issued[1]!.q).toEqual(["0x200000025", `0x${(STATUS + issued[1]!.index * 4).toString(16)}`]);
  });

  it("falls back to a domain-selective flush when AM exceeds CAP.MAMV", () => {
    const mamv2 = (DEFAULT_VTD_CAP & ~(0x3fn << 48n)) | (2n << 48n);
    const issued = setup(mamv2);
    expect(issued.map((d) => d.q[0])).toEqual(["0x200e2", "0x200000025"]);
    expect(issued[0]!.q[1]).toBe("0x0");
  });

  it("falls back to a domain-selective flush without page-selective invalidation (CAP.PSI clear)", () => {
    const issued = setup(DEFAULT_VTD_CAP & ~(1n << 39n));
    expect(issued.map((d) => d.q)).toEqual([["0x200e2", "0x0"], issued[1]!.q]);
  });
});

describe("the datapath", () => {
  it("moves DMA through a mapping to the right physical bytes", () => {
    const { core, vtd, add } = vtdMachine();
    const dev = add(3, 0);
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x1_0000_0000, 0x2_0000_0000, 0x2000, RW);
    const data = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
    expect(core.deviceDma(dev, { iova: 0x1_0000_0ff0, length: 32, write: true, data }).ok).toBe(true);
    expect(vtd.memory.read(0x2_0000_0ff0, 32)).toEqual(data);
    const read = core.deviceDma(dev, { iova: 0x1_0000_0ff0, length: 32, write: false });
    expect(read.ok && read.data).toEqual(data);
  });

  it("keeps a stale IOTLB entry usable until the invalidation runs", () => {
    const { core, vtd, add } = vtdMachine();
    const dev = add(3, 0);
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x40_0000, 0x9000_0000, 0x1000, RW);
    vtd.memory.write(0x9000_0000, Uint8Array.of(7, 7, 7, 7));
    expect(core.deviceDma(dev, { iova: 0x40_0000, length: 4, write: false }).ok).toBe(true); // fills the IOTLB
    const gather = createIotlbGather();
    expect(core.unmapFast(domain, 0x40_0000, 0x1000, gather)).toBe(0x1000n);
    expect(core.iovaToPhys(domain, 0x40_0000)).toBe(0n);
    expect(core.staleTranslation(dev, 0x40_0000)).toBe(true);
    const stale = core.deviceDma(dev, { iova: 0x40_0000, length: 4, write: false });
    expect(stale.ok && stale.data).toEqual(Uint8Array.of(7, 7, 7, 7));
    core.iotlbSync(domain, gather);
    expect(core.staleTranslation(dev, 0x40_0000)).toBe(false);
    expect(core.deviceDma(dev, { iova: 0x40_0000, length: 4, write: false })).toMatchObject({
      ok: false,
      reason: "unmapped",
    });
  });
});

describe("fault recording and dmar_fault", () => {
  const faulting = () => {
    const m = vtdMachine();
    const dev = m.add(3, 0);
    const domain = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    m.core.attachDevice(domain, dev);
    m.core.map(domain, 0x10_0000, 0x8000_0000, 0x1000, IOMMU_READ);
    return { ...m, dev, domain };
  };
  const FRO = 0x220; // CAP.FRO 0x22 * 16

  it("records an unmapped read as reason 6 with the hw-facts vector, logs it as Linux and reports it", () => {
    const { core, vtd, dev, domain } = faulting();
    vtd.hardware.write32(DMAR_FECTL_REG, DMA_FECTL_IM); // hold the interrupt to look at the record
    const result = core.deviceDma(dev, { iova: 0xffff_f010, length: 4, write: false });
    expect(result).toMatchObject({
      ok: false,
      iova: 0xffff_f010n,
      flags: IOMMU_FAULT_READ,
      reason: "unmapped",
    });
    // FSTS: PPF, FRI 0; the record: FI 0xfffff000; SID 0x0300, FR 6, T 1 (read), F 1.
    expect(vtd.hardware.read32(DMAR_FSTS_REG)).toBe(0x2);
    expect(hexq([vtd.hardware.read64(FRO), vtd.hardware.read64(FRO + 8)])).toEqual([
      "0xfffff000",
      "0xc000000600000300",
    ]);
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, vtd.hardware.read64(FRO), true);
    new DataView(bytes.buffer).setBigUint64(8, vtd.hardware.read64(FRO + 8), true);
    expect(decodeVtdFaultRecord(bytes)).toEqual({
      fi: 0xfffff000n,
      sid: 0x300,
      pp: false,
      fr: 6,
      pv: 0,
      t: true,
      f: true,
    });

    const handled: [bigint, number][] = [];
    core.setFaultHandler(domain, (_d, _dev, iova, flags) => {
      handled.push([iova, flags]);
      return 0;
    });
    vtd.hardware.write32(DMAR_FECTL_REG, 0); // unmask: the pending event runs dmar_fault
    expect(core.log.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        "dmar0: DMAR: DRHD: handling fault status reg 2",
        "dmar0: DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set",
      ]),
    );
    expect(handled).toEqual([[0xffff_f000n, IOMMU_FAULT_READ]]);
    expect(core.faults.at(-1)).toMatchObject({ iova: 0xffff_f000n, flags: IOMMU_FAULT_READ });
    expect(vtd.hardware.read32(DMAR_FSTS_REG)).toBe(0);
    expect(vtd.hardware.read32(FRO + 12) >>> 31).toBe(0);
  });

  it("records a write to a read-only page as reason 5 (T = 0) and reports a write fault", () => {
    const { core, vtd, dev } = faulting();
    const result = core.deviceDma(dev, { iova: 0x10_0008, length: 4, write: true, data: new Uint8Array(4) });
    expect(result).toMatchObject({
      ok: false,
      flags: IOMMU_FAULT_WRITE,
      reason: "permission",
      reported: "ENOSYS",
    });
    expect(vtd.faultHandler.handled.map((h) => h.line)).toEqual([
      "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x100000 [fault reason 0x05] PTE Write access is not set",
    ]);
    expect(core.faults.at(-1)).toMatchObject({ iova: 0x10_0000n, flags: IOMMU_FAULT_WRITE });
    // Handled and cleared: the record keeps its fields with F = 0.
    expect(hexq([vtd.hardware.read64(FRO + 8)])).toEqual(["0x500000300"]);
  });

  it("sets PFO when every record is in use and records nothing more until it is cleared", () => {
    const { core, vtd, dev } = faulting();
    vtd.hardware.write32(DMAR_FECTL_REG, DMA_FECTL_IM);
    for (let i = 0; i < 9; i++)
      core.deviceDma(dev, { iova: 0x20_0000 + i * 0x1000, length: 4, write: false });
    // 8 records (CAP.NFR), then overflow: FSTS = PFO | PPF | FRI 0.
    expect(vtd.hardware.read32(DMAR_FSTS_REG)).toBe(0x3);
    expect(vtd.hardware.faultRecording.overflowed).toBe(1);
    vtd.hardware.write32(DMAR_FECTL_REG, 0);
    expect(vtd.faultHandler.handled.map((h) => h.address)).toEqual(
      Array.from({ length: 8 }, (_, i) => 0x20_0000 + i * 0x1000),
    );
    expect(vtd.hardware.read32(DMAR_FSTS_REG)).toBe(0);
  });

  it("faults a device whose context is not present with reason 2 (blocked), without a core report", () => {
    const { core, vtd, dev, domain } = faulting();
    core.detachDevice(domain, dev);
    core.groupClaimDmaOwner(core.groupGet(dev)!, {}); // the blocked domain: context entry cleared
    const result = core.deviceDma(dev, { iova: 0x10_0000, length: 4, write: false });
    expect(result).toMatchObject({ ok: false, reason: "blocked", reported: undefined });
    expect(vtd.faultHandler.handled.map((h) => h.line)).toEqual([
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x100000 [fault reason 0x02] Present bit in context entry is clear",
    ]);
  });
});

describe("reserved regions", () => {
  const rmrr = [{ base: 0xbf00_0000, end: 0xbf0f_ffff, devices: [0x0300] }];

  it("reports RMRRs as direct and the IOAPIC window as MSI, and the core identity-maps the RMRR", () => {
    const { core, vtd, add } = vtdMachine({ rmrr });
    const dev = add(3, 0);
    const other = add(4, 0);
    expect(core.deviceResvRegions(dev)).toEqual([
      { start: 0xbf00_0000n, length: 0x10_0000n, prot: RW, type: "direct" },
      { start: 0xfee0_0000n, length: 0x10_0000n, prot: 0, type: "msi" },
    ]);
    expect(core.deviceResvRegions(other).map((r) => r.type)).toEqual(["msi"]);
    const domain = core.getDomainForDevice(dev)!;
    expect(core.iovaToPhys(domain, 0xbf08_0123)).toBe(0xbf08_0123n);
    const data = Uint8Array.of(9, 8, 7);
    expect(core.deviceDma(dev, { iova: 0xbf08_0000, length: 3, write: true, data }).ok).toBe(true);
    expect(vtd.memory.read(0xbf08_0000, 3)).toEqual(data);
  });

  it("reports RMRRs of USB and graphics devices as direct-relaxable", () => {
    const { core, add } = vtdMachine({ rmrr, rmrrRelaxable: (d) => d.busType === "pci" && d.bus === 3 });
    expect(core.deviceResvRegions(add(3, 0))[0]!.type).toBe("direct-relaxable");
  });
});
