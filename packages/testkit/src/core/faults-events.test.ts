import { IOMMU_FAULT_READ, IOMMU_FAULT_WRITE, IOMMU_READ, type IommuEvent } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { machine } from "./test-machine.js";

describe("fault reporting (sw-facts 1.14) and tracepoint events", () => {
  it("ENOSYS without a handler; the handler's answer otherwise; counted, logged, traced, never thrown", () => {
    const { core } = machine();
    const dev = core.addPciDevice({ bus: 0, slot: 1 });
    const dom = core.domainAlloc(dev);
    const events: IommuEvent[] = [];
    core.subscribe((e) => events.push(e));
    core.attachDevice(dom, dev);
    core.map(dom, 0x4000, 0x8000, 0x1000, IOMMU_READ);
    expect(core.reportIommuFault(dom, dev, 0x9000, IOMMU_FAULT_READ)).toBe("ENOSYS");
    const r = core.deviceDma(dev, { iova: 0x4000, length: 8, write: true, data: new Uint8Array(8) });
    expect(r).toEqual({
      ok: false,
      iova: 0x4000n,
      flags: IOMMU_FAULT_WRITE,
      reason: "permission",
      reported: "ENOSYS",
    });
    const token = { name: "vfio" };
    core.setFaultHandler(
      dom,
      (_d, _dev, iova, _flags, t) => {
        expect(t).toBe(token);
        return iova === 0x5000n ? 0 : "EINVAL";
      },
      token,
    );
    expect(core.deviceDma(dev, { iova: 0x5000, length: 1, write: false })).toMatchObject({
      reason: "unmapped",
      reported: 0,
    });
    core.setFaultHandler(dom, () => {
      throw new Error("handler bug");
    });
    expect(core.deviceDma(dev, { iova: 0x6000, length: 1, write: false })).toMatchObject({ reported: "EIO" });
    expect(core.faultCount).toBe(4);
    expect(core.faults.map((f) => f.result)).toEqual(["ENOSYS", "ENOSYS", 0, "EIO"]);
    expect(events.map((e) => e.type)).toEqual([
      "attach_device_to_domain",
      "detach_device_from_domain",
      "map",
      "io_page_fault",
      "io_page_fault",
      "io_page_fault",
      "io_page_fault",
    ]);
    expect(events[3]).toEqual({
      type: "io_page_fault",
      device: "0000:00:01.0",
      driver: "reference",
      iova: 0x9000n,
      flags: 0,
    });
  });

  it("a DMA that crosses into an unmapped page faults at the first bad address and writes nothing", () => {
    const { core, ref } = machine();
    const dev = core.addPciDevice({ bus: 0, slot: 1 });
    const dom = core.domainAlloc(dev);
    core.attachDevice(dom, dev);
    core.map(dom, 0x1000, 0x20000, 0x1000, 3);
    const r = core.deviceDma(dev, {
      iova: 0x1ff0,
      length: 32,
      write: true,
      data: new Uint8Array(32).fill(7),
    });
    expect(r).toMatchObject({ ok: false, iova: 0x2000n, reason: "unmapped" });
    expect(ref.memory.read(0x20ff0, 16)).toEqual(new Uint8Array(16));
  });

  it("identity default domains pass DMA through untranslated", () => {
    const { core, ref } = machine({}, { passthrough: true });
    const dev = core.addPciDevice({ bus: 0, slot: 1 });
    expect(core.deviceDma(dev, { iova: 0x1234, length: 2, write: true, data: Uint8Array.of(1, 2) }).ok).toBe(
      true,
    );
    expect(ref.memory.read(0x1234, 2)).toEqual(Uint8Array.of(1, 2));
  });

  it("the virtual clock drives timers deterministically", () => {
    const { core } = machine();
    const at: number[] = [];
    core.clock.setTimer(10_000, () => at.push(core.now()));
    core.advance(5_000);
    expect(at).toEqual([]);
    core.advance(5_000);
    expect(at).toEqual([10_000]);
  });
});
