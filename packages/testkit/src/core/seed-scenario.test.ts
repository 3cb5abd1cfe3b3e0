import { IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { errno, machine } from "./test-machine.js";

describe("seed scenario (reference backend)", () => {
  it("default domains at probe, a driver's own domain, detach back, and a shared group", () => {
    const { core } = machine();
    // Two endpoints behind ACS-capable root ports: separate groups, each on a DMA default domain.
    const rp1 = core.addPciDevice({ bus: 0, slot: 1, kind: "root-port", secondaryBus: 1, acs: 0x1d });
    const rp2 = core.addPciDevice({ bus: 0, slot: 2, kind: "root-port", secondaryBus: 2, acs: 0x1d });
    const nic = core.addPciDevice({ bus: 1, slot: 0 });
    const gpu = core.addPciDevice({ bus: 2, slot: 0 });
    const gNic = core.groupGet(nic)!;
    const gGpu = core.groupGet(gpu)!;
    expect(gNic).not.toBe(gGpu);
    expect(core.groupGet(rp1)).not.toBe(gNic);
    expect(core.groupGet(rp2)).not.toBe(gGpu);
    for (const g of [gNic, gGpu]) {
      expect(g.defaultDomain?.type).toBe(IOMMU_DOMAIN_DMA);
      expect(g.domain).toBe(g.defaultDomain);
    }
    core.deviceUseDefaultDomain(nic); // the NIC's kernel driver binds and uses the DMA API
    expect(core.dmaApiUsable(nic)).toBe(true);

    // The GPU's driver takes control of its IO addresses.
    core.deviceUseDefaultDomain(gpu); // its driver binds first
    const own = core.domainAlloc(gpu, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(own, gpu);
    expect(core.getDomainForDevice(gpu)).toBe(own);
    expect(core.dmaApiUsable(gpu)).toBe(false);
    expect(errno(() => core.deviceUseDefaultDomain(gpu))).toBe("EBUSY"); // DMA-API use is refused
    core.map(own, 0x10000, 0x8000_0000, 0x1000, IOMMU_READ | IOMMU_WRITE);
    expect(core.deviceDma(gpu, { iova: 0x10000, length: 4, write: false }).ok).toBe(true);
    expect(core.deviceDma(nic, { iova: 0x10000, length: 4, write: false }).ok).toBe(false);

    core.detachDevice(own, gpu);
    expect(core.getDomainForDevice(gpu)).toBe(gGpu.defaultDomain);
    expect(core.dmaApiUsable(gpu)).toBe(true);
    expect(core.deviceDma(gpu, { iova: 0x10000, length: 4, write: false }).ok).toBe(false);
    core.deviceUnuseDefaultDomain(gpu);
    core.deviceUseDefaultDomain(gpu); // works again
    core.unmap(own, 0x10000, 0x1000);
    core.domainFree(own);

    // Two devices behind a bridge without ACS share one group; single-device attach is refused.
    const sw = core.addPciDevice({ bus: 0, slot: 3, kind: "root-port", secondaryBus: 3 });
    const a = core.addPciDevice({ bus: 3, slot: 0 });
    const b = core.addPciDevice({ bus: 3, slot: 1 });
    const shared = core.groupGet(a)!;
    expect(core.groupGet(b)).toBe(shared);
    expect(core.groupGet(sw)).toBe(shared);
    const dom = core.domainAlloc(a);
    expect(errno(() => core.attachDevice(dom, a))).toBe("EINVAL");
    expect(shared.domain).toBe(shared.defaultDomain);
    core.attachGroup(dom, shared);
    expect(shared.domain).toBe(dom);
    core.detachGroup(dom, shared);
    expect(shared.domain).toBe(shared.defaultDomain);
  });
});
