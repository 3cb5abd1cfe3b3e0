import {
  createIommuCore,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../reference/reference-backend.js";
import { machine } from "./test-machine.js";

describe("default domain type (sw-facts 1.5)", () => {
  it("global policy: translated strict -> DMA, lazy -> DMA_FQ, passthrough -> IDENTITY", () => {
    for (const [opts, type] of [
      [{}, IOMMU_DOMAIN_DMA],
      [{ strict: false }, IOMMU_DOMAIN_DMA_FQ],
      [{ passthrough: true }, IOMMU_DOMAIN_IDENTITY],
    ] as const) {
      const { core } = machine({}, opts);
      const d = core.addPciDevice({ bus: 0, slot: 1 });
      expect(core.groupGet(d)?.defaultDomain?.type).toBe(type);
    }
    const { core } = machine({}, { strict: false });
    core.setDmaStrict();
    expect(core.defaultDomainType).toBe(IOMMU_DOMAIN_DMA);
  });

  it("untrusted devices (and those behind an external-facing port) get DMA even in passthrough", () => {
    const { core } = machine({}, { passthrough: true });
    const port = core.addPciDevice({
      bus: 0,
      slot: 1,
      kind: "root-port",
      secondaryBus: 1,
      acs: 0x1d,
      untrusted: true,
    });
    const tb = core.addPciDevice({ bus: 1, slot: 0 });
    expect(tb.untrusted).toBe(true);
    expect(core.groupGet(tb)?.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
    expect(core.groupGet(port)?.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
  });

  it("the driver's def_domain_type wins over the global default", () => {
    const { core } = machine({
      defDomainType: (d) => (d.name === "0000:00:01.0" ? IOMMU_DOMAIN_IDENTITY : undefined),
    });
    expect(core.groupGet(core.addPciDevice({ bus: 0, slot: 1 }))?.defaultDomain?.type).toBe(
      IOMMU_DOMAIN_IDENTITY,
    );
    expect(core.groupGet(core.addPciDevice({ bus: 0, slot: 2 }))?.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
  });

  it("conflicting requirements in one group warn and use the global default (bus probe at registration)", () => {
    const core = createIommuCore();
    // Devices exist before the IOMMU registers: they are grouped first, then default domains chosen.
    const f0 = core.addPciDevice({ bus: 0, slot: 3, fn: 0, multifunction: true, iommu: "ref0" });
    const f1 = core.addPciDevice({ bus: 0, slot: 3, fn: 1, iommu: "ref0" });
    const agree = core.addPciDevice({ bus: 0, slot: 4, iommu: "ref0" });
    core.registerIommu(
      createReferenceBackend({
        defDomainType: (d) =>
          d.name.endsWith("03.0") || d.name.endsWith("04.0") ? IOMMU_DOMAIN_IDENTITY : IOMMU_DOMAIN_DMA,
      }),
    );
    const group = core.groupGet(f0)!;
    expect(core.groupGet(f1)).toBe(group);
    expect(group.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
    expect(core.log.map((l) => l.message)).toContain(
      "Device 0000:00:03.1 needs domain type DMA, but device 0000:00:03.0 in the same iommu group requires type identity - using default",
    );
    expect(core.groupGet(agree)?.defaultDomain?.type).toBe(IOMMU_DOMAIN_IDENTITY);
  });

  it("falls back to DMA with a warning when the chosen type cannot be allocated", () => {
    const { core } = machine(
      { domainTypes: [IOMMU_DOMAIN_UNMANAGED, IOMMU_DOMAIN_DMA] },
      { passthrough: true },
    );
    const d = core.addPciDevice({ bus: 0, slot: 1 });
    expect(core.groupGet(d)?.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
    expect(core.log.some((l) => l.message.includes("falling back to IOMMU_DOMAIN_DMA"))).toBe(true);
  });

  it("no default domain when even DMA fails: the device is grouped but cannot use the DMA API", () => {
    const { core, ref } = machine();
    ref.inject.domainAlloc = "ENOMEM";
    const d = core.addPciDevice({ bus: 0, slot: 1 });
    expect(core.groupGet(d)?.defaultDomain).toBeUndefined();
    expect(core.dmaApiUsable(d)).toBe(false);
  });
});

describe("reserved regions (sw-facts 1.13)", () => {
  it("direct regions are identity-mapped into DMA default domains, then the IOTLB flushed", () => {
    const { core, ref } = machine({
      resvRegions: () => [
        { start: 0xe000_0800, length: 0x2000, prot: IOMMU_READ | IOMMU_WRITE, type: "direct" },
        { start: 0xf000_0000, length: 0x1000, prot: IOMMU_READ, type: "direct-relaxable" },
        { start: 0xfee0_0000, length: 0x10_0000, prot: 0, type: "msi" },
      ],
    });
    const d = core.addPciDevice({ bus: 0, slot: 1 });
    const dom = core.groupGet(d)!.defaultDomain!;
    // Start rounded up to 0xe0001000, end rounded up to 0xe0003000.
    expect(core.iovaToPhys(dom, 0xe000_0800)).toBe(0n);
    expect(core.iovaToPhys(dom, 0xe000_1000)).toBe(0xe000_1000n);
    expect(core.iovaToPhys(dom, 0xe000_2fff)).toBe(0xe000_2fffn);
    expect(core.iovaToPhys(dom, 0xf000_0010)).toBe(0xf000_0010n);
    expect(core.iovaToPhys(dom, 0xfee0_0000)).toBe(0n);
    expect(ref.stats.flushAlls).toBe(1);
    expect(core.deviceDma(d, { iova: 0xe000_1000, length: 4, write: false }).ok).toBe(true);
    const unmanaged = core.domainAlloc(d);
    expect(core.iovaToPhys(unmanaged, 0xe000_1000)).toBe(0n);
  });

  it("the group list merges same-type neighbours across devices", () => {
    const { core } = machine({
      resvRegions: (d) =>
        d.name.endsWith("01.0")
          ? [{ start: 0x1000, length: 0x1000, prot: 0, type: "reserved" }]
          : [
              { start: 0x2000, length: 0x1000, prot: 0, type: "reserved" },
              { start: 0x2000, length: 0x1000, prot: 0, type: "sw-msi" },
            ],
    });
    const br = core.addPciDevice({ bus: 0, slot: 1, kind: "root-port", secondaryBus: 1 });
    core.addPciDevice({ bus: 1, slot: 0 });
    expect(core.groupResvRegions(core.groupGet(br)!)).toEqual([
      { start: 0x1000n, length: 0x2000n, prot: 0, type: "reserved" },
      { start: 0x2000n, length: 0x1000n, prot: 0, type: "sw-msi" },
    ]);
  });
});
