import { decodeVtdDescriptor, encodeVtdDescriptor, vtdDescriptorQwords } from "@iommu-sim/hw";
import { IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { vtdMachine } from "./test-machine.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const hex = (q: bigint) => `0x${q.toString(16)}`;
const hexAll = (raw: Uint8Array) => vtdDescriptorQwords(raw).map(hex);

// A scalable-mode machine with device 0000:03:00.0 (source id 0x0300) on an unmanaged domain
// (DID 2, the first id after the reserved 0 and 1), first or second stage.
function smMachine(firstStage: boolean) {
  const m = vtdMachine({ scalableMode: true, firstStage });
  const dev = m.add(3, 0);
  const domain = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  m.core.attachDevice(domain, dev);
  const read = (pa: number, n: number) =>
    Array.from({ length: n }, (_, i) => hex(m.vtd.memory.readU64(pa + i * 8)));
  const dir = m.vtd.pasidDirectory(dev)!;
  const pe = m.vtd.pasidEntryAddress(dev, 0)!;
  return { ...m, dev, domain, read, dir, pe, root: Number(domain.pageTable!.root) };
}

describe("scalable-mode structures", () => {
  it.each([false, true])(
    "writes the root, context, PASID directory and PASID entries (first stage: %s)",
    (fs) => {
      const { vtd, read, dir, pe, root } = smMachine(fs);
      expect(vtd.hardware.scalable).toBe(true);
      // Root entry of bus 3: devfn 0 is in the lower half, lo = LCTP | LP; the upper half stays 0.
      const rootEntry = read(vtd.rootTable + 3 * 16, 2);
      const ctxTable = Number(BigInt(rootEntry[0]!) & ~0xfffn);
      expect(rootEntry).toEqual([hex(BigInt(ctxTable) | 1n), "0x0"]);
      // Context entry (256 bits) at ctxTable + 0 * 32: qw0 = PASIDDIRPTR | PDTS 2 << 9 (0x400) |
      // PASIDE 1 << 3 (0x8, ECAP.PASID) | DTE 0 | FPD 0 | P 1 = dir | 0x409; qw1 = RID_PASID 0; qw2 = qw3 = 0.
      expect(vtd.contextEntryAddress(0x0300)).toBe(ctxTable);
      expect(read(ctxTable, 4)).toEqual([hex(BigInt(dir) | 0x409n), "0x0", "0x0", "0x0"]);
      // PASID directory entry 0 (PASIDs 0-63): the PASID table | P; PASID 0 is that table's entry 0.
      expect(read(dir, 1)).toEqual([hex(BigInt(pe) | 1n)]);
      if (fs) {
        // qw0 = PGTT 1 << 6 (0x40) | AW 2 << 2 (0x8, the unit's agaw) | P = 0x49; qw1 = DID 2;
        // qw2 = FLPTR (4-level, FLPM 0); SRE, PWSNP, PGSNP clear.
        expect(read(pe, 8)).toEqual(["0x49", "0x2", hex(BigInt(root)), "0x0", "0x0", "0x0", "0x0", "0x0"]);
      } else {
        // qw0 = SLPTPTR | PGTT 2 << 6 (0x80) | AW 2 << 2 (0x8) | P = root | 0x89; qw1 = DID 2; qw2 = 0.
        expect(read(pe, 8)).toEqual([
          hex(BigInt(root) | 0x89n),
          "0x2",
          "0x0",
          "0x0",
          "0x0",
          "0x0",
          "0x0",
          "0x0",
        ]);
      }
      expect(vtd.memory.read(pe, 8)).toEqual(
        fs
          ? Uint8Array.from([0x49, 0, 0, 0, 0, 0, 0, 0])
          : Uint8Array.from([
              0x89,
              (root / 256) % 256,
              (root >>> 16) & 0xff,
              (root / 2 ** 24) % 256,
              (root / 2 ** 32) % 256,
              0,
              0,
              0,
            ]),
      );
    },
  );

  it("refuses first stage without scalable mode or without ECAP.FLTS", () => {
    expect(() => vtdMachine({ firstStage: true })).toThrow(expect.objectContaining({ code: "EOPNOTSUPP" }));
    const noFlts = (1n << 1n) | (1n << 6n) | (0xfn << 8n) | (1n << 40n) | (1n << 43n) | (1n << 46n);
    expect(() => vtdMachine({ scalableMode: true, firstStage: true, ecap: noFlts })).toThrow(/ECAP.FLTS/);
    expect(() => vtdMachine({ scalableMode: true, ecap: (1n << 1n) | (1n << 6n) | (1n << 46n) })).toThrow(
      /SMTS/,
    );
  });
});

describe("first-stage domains", () => {
  it("issues one PASID-IOTLB PSI (ADDR 0x0, AM 3, IH) and a wait for a strict unmap of 0x3000+0x2000", () => {
    const { core, vtd, domain } = smMachine(true);
    core.map(domain, 0x3000, 0x8000_3000, 0x3000, RW);
    vtd.hardware.invalidationQueue.clearHistory();
    core.unmap(domain, 0x3000, 0x2000);
    const issued = vtd.hardware.invalidationQueue.consumed;
    expect(issued.length).toBe(2);
    // 256-bit descriptors (ECAP.SMTS). qw0: PASID 0 << 32 | DID 2 << 16 | G 3 (PSI within PASID)
    // << 4 | type 6 = 0x20036; qw1: ADDR 0 | IH 1 << 6 | AM 3 (pfn 3..4: shared bits from 3, hw-facts 4.2).
    expect(issued[0]!.raw.length).toBe(32);
    expect(vtdDescriptorQwords(issued[0]!.raw).map(hex)).toEqual(["0x20036", "0x43", "0x0", "0x0"]);
    expect(decodeVtdDescriptor(issued[0]!.raw).name).toBe("pasid-iotlb");
    expect(issued[1]!.decoded?.name).toBe("invalidation-wait");
    expect(vtd.hardware.probeStale(0x0300, 0x3000)).toBe(false);
  });

  it("moves DMA bytes through the first-stage table, both ways", () => {
    const { core, vtd, dev, domain } = smMachine(true);
    core.map(domain, 0x1_0000_0000, 0x2_0000_0000, 0x2000, RW);
    vtd.memory.write(0x2_0000_1ff8, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    vtd.memory.write(0x2_0000_0000, Uint8Array.from([9, 10, 11, 12]));
    const r = core.deviceDma(dev, { iova: 0x1_0000_1ff8, length: 8, write: false });
    expect(r).toEqual({ ok: true, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    const w = core.deviceDma(dev, {
      iova: 0x1_0000_0002,
      length: 2,
      write: true,
      data: Uint8Array.from([0xaa, 0xbb]),
    });
    expect(w.ok).toBe(true);
    expect(Array.from(vtd.memory.read(0x2_0000_0000, 4))).toEqual([9, 10, 0xaa, 0xbb]);
  });

  it("records an unmapped read with reason 0x71 (NO_PASID) and a read with an unset PASID with 0x59 and PP/PV", () => {
    const { core, vtd, dev } = smMachine(true);
    const r = core.deviceDma(dev, { iova: 0x7000_0000, length: 4, write: false });
    expect(r).toMatchObject({ ok: false, reason: "unmapped", iova: 0x7000_0000n });
    expect(vtd.faultHandler.handled[0]).toMatchObject({
      sid: 0x0300,
      address: 0x7000_0000,
      reason: 0x71,
      read: true,
    });
    expect(vtd.faultHandler.handled[0]!.line).toBe(
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x70000000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
    );
    // PASID 5 shares PASID 0's table page, whose entry 5 is not present.
    const p = core.deviceDma(dev, {
      iova: 0x1000,
      length: 4,
      write: true,
      data: new Uint8Array(4),
      pasid: 5,
    });
    expect(p.ok).toBe(false);
    expect(vtd.faultHandler.handled[0]!.line).toBe(
      "DMAR: [DMA Write PASID 0x5] Request device [03:00.0] fault addr 0x1000 [fault reason 0x59] SM: Present bit in PASID Table Entry is clear",
    );
    // A PASID beyond the directory (PDTS 2: 512 entries x 64 = 32768 PASIDs).
    core.deviceDma(dev, { iova: 0x1000, length: 4, write: false, pasid: 0x8000 });
    expect(vtd.faultHandler.handled[0]!.reason).toBe(0x46);
  });
});

describe("second-stage domains in scalable mode", () => {
  it("issues the IOTLB PSI with DID (not PASID-based) for a strict unmap", () => {
    const { core, vtd, domain } = smMachine(false);
    core.map(domain, 0x3000, 0x8000_3000, 0x3000, RW);
    vtd.hardware.invalidationQueue.clearHistory();
    core.unmap(domain, 0x3000, 0x2000);
    // qw0: G 3 << 4 | DW | DR | DID 2 << 16 | type 2; qw1: ADDR 0 | IH | AM 3.
    expect(vtdDescriptorQwords(vtd.hardware.invalidationQueue.consumed[0]!.raw).map(hex)).toEqual([
      "0x200f2",
      "0x43",
      "0x0",
      "0x0",
    ]);
  });

  it("records an unmapped second-stage read with reason 0x79", () => {
    const { core, vtd, dev } = smMachine(false);
    core.deviceDma(dev, { iova: 0x7000_0000, length: 4, write: false });
    expect(vtd.faultHandler.handled[0]!.reason).toBe(0x79);
  });

  it("keeps using a cached PASID entry until a PASID-cache invalidation", () => {
    const { core, vtd, dev, domain, pe } = smMachine(false);
    core.map(domain, 0x1000, 0x8000_0000, 0x3000, RW);
    expect(core.deviceDma(dev, { iova: 0x1000, length: 4, write: false }).ok).toBe(true);
    // Clear P behind the hardware's back: the PASID cache still holds the entry, so a page the
    // IOTLB has never seen (0x2000) still walks the old table.
    vtd.memory.writeU32(pe, vtd.memory.readU32(pe) & ~1);
    expect(core.deviceDma(dev, { iova: 0x2000, length: 4, write: false }).ok).toBe(true);
    // PASID-selective PASID-cache invalidation (G 1) for DID 2, PASID 0.
    vtd.submitInvalidation([encodeVtdDescriptor("pasid-cache", { g: 1, did: 2, pasid: 0 }, { width: 256 })]);
    const r = core.deviceDma(dev, { iova: 0x3000, length: 4, write: false });
    expect(r.ok).toBe(false);
    expect(vtd.faultHandler.handled[0]!.reason).toBe(0x59);
  });

  it("tears RID_PASID down on a domain change with a PASID-cache flush, then a DSI, then writes the new entry", () => {
    const { core, vtd, dev, domain } = smMachine(false);
    vtd.hardware.invalidationQueue.clearHistory();
    core.detachDevice(domain, dev); // back to the default DMA domain
    const issued = vtd.hardware.invalidationQueue.consumed.map((c) => hexAll(c.raw));
    expect(issued).toEqual([
      // PASID cache, PASID-selective (G 1 << 4), DID 2 << 16, PASID 0, type 7.
      ["0x20017", "0x0", "0x0", "0x0"],
      expect.anything(), // wait
      // IOTLB, domain-selective (G 2 << 4), DW, DR, DID 2 << 16, type 2.
      ["0x200e2", "0x0", "0x0", "0x0"],
      expect.anything(),
    ]);
    // Not-present -> present without Caching Mode: no invalidation. The default domain gave id 2 back
    // when the device left it, so it takes the freed id 2 again.
    expect(vtd.memory.readU64(vtd.pasidEntryAddress(dev, 0)! + 8)).toBe(2n);
  });
});
