import { pciDmaAliases, REQ_ACS_FLAGS } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { errno, machine } from "./test-machine.js";

describe("groups (sw-facts 1.3-1.4)", () => {
  it("ACS on the whole path isolates functions; a non-ACS switch port merges everything below", () => {
    const { core } = machine();
    const rp = core.addPciDevice({ bus: 0, slot: 1, kind: "root-port", secondaryBus: 1, acs: REQ_ACS_FLAGS });
    const up = core.addPciDevice({ bus: 1, slot: 0, kind: "switch-upstream", secondaryBus: 2 });
    const dpA = core.addPciDevice({
      bus: 2,
      slot: 1,
      kind: "switch-downstream",
      secondaryBus: 3,
      acs: REQ_ACS_FLAGS,
    });
    const dpB = core.addPciDevice({ bus: 2, slot: 2, kind: "switch-downstream", secondaryBus: 4 });
    const a = core.addPciDevice({ bus: 3, slot: 0 });
    const b1 = core.addPciDevice({ bus: 4, slot: 0 });
    const b2 = core.addPciDevice({ bus: 4, slot: 1 });
    expect(core.groupGet(a)).not.toBe(core.groupGet(dpA));
    expect(core.groupGet(b1)).toBe(core.groupGet(dpB));
    expect(core.groupGet(b2)).toBe(core.groupGet(dpB));
    expect(core.groupGet(dpB)).not.toBe(core.groupGet(rp));
    expect(new Set([rp, up, dpA, a].map((d) => core.groupGet(d)?.id)).size).toBe(4);
  });

  it("multi-function devices without ACS share a group; with ACS they do not", () => {
    const { core } = machine();
    const f0 = core.addPciDevice({ bus: 0, slot: 2, fn: 0, multifunction: true });
    const f1 = core.addPciDevice({ bus: 0, slot: 2, fn: 1 });
    const g0 = core.addPciDevice({ bus: 0, slot: 3, fn: 0, multifunction: true, acs: REQ_ACS_FLAGS });
    const g1 = core.addPciDevice({ bus: 0, slot: 3, fn: 1, acs: REQ_ACS_FLAGS });
    expect(core.groupGet(f1)).toBe(core.groupGet(f0));
    expect(core.groupGet(g1)).not.toBe(core.groupGet(g0));
  });

  it("devices behind a PCIe-to-PCI bridge alias to (secondary bus, 0) and share the bridge's group", () => {
    const { core } = machine();
    const br = core.addPciDevice({ bus: 0, slot: 5, kind: "pcie-to-pci-bridge", secondaryBus: 6 });
    const d = core.addPciDevice({ bus: 6, slot: 3, kind: "pci" });
    expect(pciDmaAliases(d)).toEqual([(6 << 8) | (3 << 3), 6 << 8]);
    expect(d.fwspec?.ids).toEqual([(6 << 8) | (3 << 3), 6 << 8]);
    expect(d.requesterId).toBe(0x0618);
    expect(core.groupGet(d)).toBe(core.groupGet(br));
  });

  it("quirk DMA aliases on the same bus share a group", () => {
    const { core } = machine();
    const a = core.addPciDevice({ bus: 0, slot: 8, dmaAliasDevfns: [(9 << 3) | 0] });
    const b = core.addPciDevice({ bus: 0, slot: 9 });
    expect(core.groupGet(b)).toBe(core.groupGet(a));
  });

  it("platform devices get one group each; without a firmware specifier none", () => {
    const { core } = machine();
    const p1 = core.addPlatformDevice({ name: "dma0", firmware: { iommu: "ref0", streamIds: [1, 2] } });
    const p2 = core.addPlatformDevice({ name: "dma1", firmware: { iommu: "ref0", streamIds: [3] } });
    const p3 = core.addPlatformDevice({ name: "uart" });
    expect(core.groupGet(p1)).not.toBe(core.groupGet(p2));
    expect(p1.fwspec).toEqual({ iommu: "ref0", ids: [1, 2] });
    expect(core.groupGet(p3)).toBeUndefined();
  });

  it("ids are the lowest free, reused after a group empties; membership events fire", () => {
    const { core } = machine();
    const events: string[] = [];
    core.subscribe((e) => {
      if (e.type === "add_device_to_group" || e.type === "remove_device_from_group")
        events.push(`${e.type}:${e.groupId}:${e.device}`);
    });
    const a = core.addPciDevice({ bus: 0, slot: 1 });
    const b = core.addPciDevice({ bus: 0, slot: 2 });
    expect([core.groupGet(a)?.id, core.groupGet(b)?.id]).toEqual([0, 1]);
    core.removeDevice(a);
    expect(errno(() => core.groupGet(a))).toBe("ENODEV");
    const c = core.addPciDevice({ bus: 0, slot: 3 });
    expect(core.groupGet(c)?.id).toBe(0);
    expect(events).toEqual([
      "add_device_to_group:0:0000:00:01.0",
      "add_device_to_group:1:0000:00:02.0",
      "remove_device_from_group:0:0000:00:01.0",
      "add_device_to_group:0:0000:00:03.0",
    ]);
    expect(core.groups().map((g) => g.id)).toEqual([0, 1]);
  });

  it("topology errors: duplicate function EEXIST, bridge without secondary bus EINVAL, busy bridge EBUSY", () => {
    const { core } = machine();
    const br = core.addPciDevice({ bus: 0, slot: 1, kind: "root-port", secondaryBus: 1 });
    core.addPciDevice({ bus: 1, slot: 0 });
    expect(errno(() => core.addPciDevice({ bus: 1, slot: 0 }))).toBe("EEXIST");
    expect(errno(() => core.addPciDevice({ bus: 0, slot: 2, kind: "root-port" }))).toBe("EINVAL");
    expect(errno(() => core.addPciDevice({ bus: 0, slot: 40 }))).toBe("EINVAL");
    expect(errno(() => core.removeDevice(br))).toBe("EBUSY");
  });

  it("devices added before the IOMMU registers are probed at registration", () => {
    const { core } = machine({ name: "late" });
    const early = core.addPlatformDevice({ name: "early", firmware: { iommu: "later", streamIds: [0] } });
    expect(core.groupGet(early)).toBeUndefined();
    const other = machine({ name: "later" }).ref;
    core.registerIommu({ ...other, connect: other.connect, dma: other.dma });
    expect(core.groupGet(early)?.iommu).toBe("later");
    core.unregisterIommu("later");
    expect(core.groupGet(early)).toBeUndefined();
  });
});
