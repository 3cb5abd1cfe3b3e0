import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY, IOMMU_DOMAIN_UNMANAGED } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "../reference/reference-backend.js";
import { errno, machine } from "./test-machine.js";

function single() {
  const m = machine();
  const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
  const group = m.core.groupGet(dev)!;
  return { ...m, dev, group };
}

describe("attach / detach (sw-facts 1.6)", () => {
  it("ENODEV for a device without a group, nothing changes", () => {
    const { core, dev } = single();
    const plat = core.addPlatformDevice({ name: "no-iommu" });
    const dom = core.domainAlloc(dev);
    expect(core.groupGet(plat)).toBeUndefined();
    expect(errno(() => core.attachDevice(dom, plat))).toBe("ENODEV");
    expect(errno(() => core.domainAlloc(plat))).toBe("ENODEV");
    expect(core.dmaApiUsable(plat)).toBe(true); // direct DMA
  });

  it("EINVAL for attach_device in a multi-device group; state unchanged", () => {
    const { core } = machine();
    const f0 = core.addPciDevice({ bus: 0, slot: 4, fn: 0, multifunction: true });
    const f1 = core.addPciDevice({ bus: 0, slot: 4, fn: 1 });
    const group = core.groupGet(f0)!;
    expect(core.groupGet(f1)).toBe(group);
    const dom = core.domainAlloc(f0);
    const before = group.domain;
    expect(errno(() => core.attachDevice(dom, f1))).toBe("EINVAL");
    expect(group.domain).toBe(before);
  });

  it("EBUSY when the group is on another non-core domain; the first stays attached", () => {
    const { core, dev, group, ref } = single();
    const d1 = core.domainAlloc(dev);
    const d2 = core.domainAlloc(dev);
    core.attachDevice(d1, dev);
    expect(errno(() => core.attachDevice(d2, dev))).toBe("EBUSY");
    expect(errno(() => core.attachGroup(d2, group))).toBe("EBUSY");
    expect(group.domain).toBe(d1);
    expect(ref.attachedDomain(dev)).toBeDefined();
    // The group is on a non-core domain, so even that same domain is refused (Linux checks before comparing).
    expect(errno(() => core.attachDevice(d1, dev))).toBe("EBUSY");
  });

  it("a driver's attach failure leaves the previous attachment, for every device of the group", () => {
    const { core, ref } = machine();
    const br = core.addPciDevice({ bus: 0, slot: 1, kind: "pcie-to-pci-bridge", secondaryBus: 1 });
    const a = core.addPciDevice({ bus: 1, slot: 0, kind: "pci" });
    const b = core.addPciDevice({ bus: 1, slot: 1, kind: "pci" });
    const group = core.groupGet(a)!;
    expect(group.devices).toEqual([br, a, b]);
    const def = group.domain;
    const dom = core.domainAlloc(a);
    const defDriver = ref.attachedDomain(a);
    ref.inject.attach = "ENOMEM";
    expect(errno(() => core.attachGroup(dom, group))).toBe("ENOMEM");
    expect(group.domain).toBe(def);
    for (const d of [br, a, b]) expect(ref.attachedDomain(d)).toBe(defDriver);
  });

  it("EINVAL for a domain of another IOMMU instance", () => {
    const { core, dev, group } = single();
    core.registerIommu(createReferenceBackend({ name: "ref1" }));
    const plat = core.addPlatformDevice({ name: "p", firmware: { iommu: "ref1", streamIds: [7] } });
    expect(core.groupGet(plat)?.iommu).toBe("ref1");
    const dom = core.domainAlloc(plat);
    expect(errno(() => core.attachDevice(dom, dev))).toBe("EINVAL");
    expect(group.domain).toBe(group.defaultDomain);
    expect(errno(() => core.registerIommu(createReferenceBackend({ name: "ref1" })))).toBe("EEXIST");
  });

  it("detach returns to the default domain; misuse warns and changes nothing", () => {
    const { core, dev, group } = single();
    const d1 = core.domainAlloc(dev);
    const d2 = core.domainAlloc(dev);
    core.attachDevice(d1, dev);
    const warnings = core.log.length;
    core.detachDevice(d2, dev); // not the attached domain
    expect(group.domain).toBe(d1);
    expect(core.log.length).toBe(warnings + 1);
    core.detachDevice(d1, dev);
    expect(group.domain).toBe(group.defaultDomain);
  });

  it("freeing an attached domain is EBUSY; a freed domain is EINVAL everywhere", () => {
    const { core, dev } = single();
    const d = core.domainAlloc(dev);
    core.attachDevice(d, dev);
    expect(errno(() => core.domainFree(d))).toBe("EBUSY");
    core.detachDevice(d, dev);
    core.domainFree(d);
    expect(d.freed).toBe(true);
    expect(errno(() => core.map(d, 0, 0, 0x1000, 1))).toBe("EINVAL");
    expect(errno(() => core.attachDevice(d, dev))).toBe("EINVAL");
  });

  it("domain types: EOPNOTSUPP for a type the driver lacks", () => {
    const m = machine({ domainTypes: [IOMMU_DOMAIN_UNMANAGED, 3] });
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    expect(errno(() => m.core.domainAlloc(dev, IOMMU_DOMAIN_IDENTITY))).toBe("EOPNOTSUPP");
    expect(errno(() => m.core.domainAlloc(dev, IOMMU_DOMAIN_BLOCKED))).toBe("EOPNOTSUPP");
    // Claiming falls back to an empty UNMANAGED domain as the blocking domain.
    const group = m.core.groupGet(dev)!;
    m.core.groupClaimDmaOwner(group, {});
    expect(group.blockingDomain?.type).toBe(IOMMU_DOMAIN_UNMANAGED);
    expect(group.domain).toBe(group.blockingDomain);
  });
});

describe("DMA ownership (sw-facts 1.7)", () => {
  it("claim with a kernel driver bound is EPERM; binding when claimed is EBUSY", () => {
    const { core, dev, group } = single();
    core.deviceUseDefaultDomain(dev);
    expect(errno(() => core.groupClaimDmaOwner(group, {}))).toBe("EPERM");
    expect(group.owner).toBeUndefined();
    expect(group.domain).toBe(group.defaultDomain);
    core.deviceUnuseDefaultDomain(dev);
    const owner = {};
    core.groupClaimDmaOwner(group, owner);
    expect(core.groupDmaOwnerClaimed(group)).toBe(true);
    expect(group.domain).toBe(group.blockingDomain);
    expect(group.blockingDomain?.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(errno(() => core.deviceUseDefaultDomain(dev))).toBe("EBUSY");
    expect(errno(() => core.groupClaimDmaOwner(group, {}))).toBe("EPERM");
    expect(group.ownerCount).toBe(1);
    expect(core.dmaApiUsable(dev)).toBe(false);
  });

  it("claim while on a non-default domain is EBUSY", () => {
    const { core, dev, group } = single();
    const d = core.domainAlloc(dev);
    core.attachDevice(d, dev);
    expect(errno(() => core.groupClaimDmaOwner(group, {}))).toBe("EBUSY");
    expect(group.domain).toBe(d);
    expect(group.ownerCount).toBe(0);
  });

  it("owned group: attach, detach to blocking, release to default", () => {
    const { core, dev, group } = single();
    core.groupClaimDmaOwner(group, {});
    const d = core.domainAlloc(dev);
    core.attachGroup(d, group);
    expect(group.domain).toBe(d);
    core.detachGroup(d, group);
    expect(group.domain).toBe(group.blockingDomain);
    core.groupReleaseDmaOwner(group);
    expect(group.domain).toBe(group.defaultDomain);
    expect(core.groupDmaOwnerClaimed(group)).toBe(false);
    core.deviceUseDefaultDomain(dev);
  });

  it("use_default_domain with users on a non-default domain is EBUSY", () => {
    const { core, dev, group } = single();
    core.deviceUseDefaultDomain(dev);
    const d = core.domainAlloc(dev);
    core.attachDevice(d, dev);
    expect(errno(() => core.deviceUseDefaultDomain(dev))).toBe("EBUSY");
    expect(group.ownerCount).toBe(1);
  });

  it("device-level claims: shared by one owner, EPERM for another, EINVAL without an owner", () => {
    const { core, dev, group } = single();
    const owner = {};
    core.deviceClaimDmaOwner(dev, owner);
    core.deviceClaimDmaOwner(dev, owner);
    expect(group.ownerCount).toBe(2);
    expect(errno(() => core.deviceClaimDmaOwner(dev, {}))).toBe("EPERM");
    expect(errno(() => core.deviceClaimDmaOwner(dev, null as unknown as object))).toBe("EINVAL");
    core.deviceReleaseDmaOwner(dev);
    expect(group.owner).toBe(owner);
    core.deviceReleaseDmaOwner(dev);
    expect(group.owner).toBeUndefined();
    expect(group.domain).toBe(group.defaultDomain);
  });

  it("claim fails with EINVAL when no blocking domain can be made, leaving the group alone", () => {
    const m = machine({ domainTypes: [3] });
    const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
    const group = m.core.groupGet(dev)!;
    expect(errno(() => m.core.groupClaimDmaOwner(group, {}))).toBe("EINVAL");
    expect(group.owner).toBeUndefined();
    expect(group.domain).toBe(group.defaultDomain);
  });

  it("a device hot-added to an owned group joins the group's current domain", () => {
    const { core, ref } = machine();
    const br = core.addPciDevice({ bus: 0, slot: 1, kind: "root-port", secondaryBus: 1 });
    const group = core.groupGet(br)!;
    core.groupClaimDmaOwner(group, {});
    const late = core.addPciDevice({ bus: 1, slot: 0 });
    expect(core.groupGet(late)).toBe(group);
    expect(ref.attachedDomain(late)).toBe(ref.attachedDomain(br));
    expect(core.deviceDma(late, { iova: 0, length: 4, write: false })).toMatchObject({
      ok: false,
      reason: "blocked",
    });
  });
});
