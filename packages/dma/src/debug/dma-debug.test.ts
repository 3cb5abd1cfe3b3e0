import { describe, expect, it } from "vitest";
import { DMA_MAPPING_ERROR, DmaDirection } from "../direction.js";
import { createScatterlist } from "../scatterlist.js";
import { machine } from "../test-machine.js";

const { BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE } = DmaDirection;

function setup() {
  const m = machine();
  const dev = m.core.addPciDevice({ bus: 0, slot: 1 });
  const d = m.dma.device(dev);
  const kinds = () => m.dma.debugReports.map((r) => r.kind);
  const last = () => m.dma.debugReports.at(-1)!.message;
  const mapChecked = (size = 4096, dir: DmaDirection = TO_DEVICE) => {
    const a = d.mapSingle(0x4000_0000, size, dir);
    expect(d.mappingError(a)).toBe(0);
    return a;
  };
  return { m, dev, d, kinds, last, mapChecked };
}

describe("DMA-API debug reports every misuse with Linux's text", () => {
  it("unmap of an address never mapped", () => {
    const { d, kinds, last } = setup();
    d.unmapSingle(0x1234_5000, 4096, TO_DEVICE);
    expect(kinds()).toEqual(["free-not-allocated"]);
    expect(last()).toBe(
      "DMA-API: 0000:00:01.0: device driver tries to free DMA memory it has not allocated [device address=0x0000000012345000] [size=4096 bytes]",
    );
  });
  it("unmap of DMA_MAPPING_ERROR", () => {
    const { d, kinds } = setup();
    d.unmapSingle(DMA_MAPPING_ERROR, 4096, TO_DEVICE);
    expect(kinds()).toEqual(["free-invalid-address"]);
  });
  it("wrong size", () => {
    const { d, kinds, last, mapChecked } = setup();
    const a = mapChecked();
    d.unmapSingle(a, 2048, TO_DEVICE);
    expect(kinds()).toEqual(["free-size-mismatch"]);
    expect(last()).toMatch(
      /frees DMA memory with different size \[device address=0x[0-9a-f]{16}\] \[map size=4096 bytes\] \[unmap size=2048 bytes\]$/,
    );
  });
  it("wrong direction", () => {
    const { d, kinds, last, mapChecked } = setup();
    d.unmapSingle(mapChecked(), 4096, FROM_DEVICE);
    expect(kinds()).toEqual(["free-direction-mismatch"]);
    expect(last()).toMatch(/\[mapped with DMA_TO_DEVICE\] \[unmapped with DMA_FROM_DEVICE\]$/);
  });
  it("wrong function (single vs page vs sg)", () => {
    const { d, kinds, last, mapChecked } = setup();
    d.unmapPage(mapChecked(), 4096, TO_DEVICE);
    expect(kinds()).toEqual(["free-wrong-function"]);
    expect(last()).toMatch(/\[mapped as single\] \[unmapped as page\]$/);
  });
  it("double unmap", () => {
    const { d, kinds, mapChecked } = setup();
    const a = mapChecked();
    d.unmapSingle(a, 4096, TO_DEVICE);
    d.unmapSingle(a, 4096, TO_DEVICE);
    expect(kinds()).toEqual(["free-not-allocated"]);
  });
  it("a mapping error never checked, reported at unmap", () => {
    const { d, kinds, last } = setup();
    const a = d.mapSingle(0x4000_0000, 64, TO_DEVICE);
    d.unmapSingle(a, 64, TO_DEVICE);
    expect(kinds()).toEqual(["map-error-not-checked"]);
    expect(last()).toMatch(
      /device driver failed to check map error\[device address=.*\] \[size=64 bytes\] \[mapped as single\]$/,
    );
  });
  it("sg unmap with different nents", () => {
    const { d, kinds, last } = setup();
    const sg = createScatterlist([
      { paddr: 0x4000_0000, length: 4096 },
      { paddr: 0x4100_0000, length: 4096 },
    ]);
    d.mapSg(sg, 2, TO_DEVICE);
    d.unmapSg(sg, 1, TO_DEVICE);
    expect(kinds()).toEqual(["free-sg-count-mismatch"]);
    expect(last()).toMatch(/frees DMA sg list with different entry count \[map count=2\] \[unmap count=1\]$/);
  });
  it("coherent free with a different CPU address", () => {
    const { d, kinds, last } = setup();
    const buf = d.allocCoherent(4096)!;
    d.freeCoherent(4096, buf.cpuAddr + 4096n, buf.dmaAddr);
    expect(kinds()).toEqual(["free-cpu-address-mismatch"]);
    expect(last()).toMatch(/frees DMA memory with different CPU address/);
  });
  it("sync outside any mapping, beyond a mapping, with the wrong direction", () => {
    const { d, kinds, mapChecked } = setup();
    d.syncSingleForCpu(0x7777_0000, 64, FROM_DEVICE);
    const a = mapChecked(4096, FROM_DEVICE);
    d.syncSingleForCpu(a + 4000n, 200, FROM_DEVICE);
    d.syncSingleForCpu(a, 64, TO_DEVICE);
    d.syncSingleForDevice(a, 64, FROM_DEVICE); // handing a FROM_DEVICE buffer back: fine
    d.syncSingleForDevice(a, 64, BIDIRECTIONAL);
    expect(kinds()).toEqual([
      "sync-not-allocated",
      "sync-out-of-range",
      "sync-direction-mismatch",
      "sync-direction-mismatch",
      "sync-write-only-to-device",
    ]);
    const b = mapChecked(4096, TO_DEVICE);
    d.syncSingleForCpu(b, 64, TO_DEVICE);
    d.syncSingleForCpu(b, 64, BIDIRECTIONAL);
    expect(kinds().slice(5)).toEqual(["sync-direction-mismatch", "sync-read-only-for-cpu"]);
  });
  it("leaked mappings at driver unbind / device release", () => {
    const { m, dev, d, kinds, last, mapChecked } = setup();
    mapChecked();
    d.allocCoherent(8192);
    expect(m.dma.debugCheckDeviceRelease(dev)).toBe(2);
    expect(kinds()).toEqual(["pending-at-release"]);
    expect(last()).toMatch(
      /has pending DMA allocations while released from device \[count=2\]\nOne of leaked entries details: /,
    );
    d.release();
    expect(kinds()).toEqual(["pending-at-release", "pending-at-release"]);
  });
  it("correct use reports nothing", () => {
    const { m, d, mapChecked } = setup();
    const a = mapChecked(4096, BIDIRECTIONAL);
    d.syncSingleForCpu(a + 16n, 32, BIDIRECTIONAL);
    d.syncSingleForDevice(a, 4096, BIDIRECTIONAL);
    d.unmapSingle(a, 4096, BIDIRECTIONAL);
    const sg = createScatterlist([{ paddr: 0x4000_0000, length: 100 }]);
    expect(d.mapSg(sg, 1, FROM_DEVICE)).toBe(1);
    d.syncSgForCpu(sg, 1, FROM_DEVICE);
    d.unmapSg(sg, 1, FROM_DEVICE);
    const r = d.mapResource(0xfe00_0000, 4096, BIDIRECTIONAL);
    expect(d.mappingError(r)).toBe(0);
    d.unmapResource(r, 4096, BIDIRECTIONAL);
    expect(m.dma.debugReports).toEqual([]);
    expect(m.dma.stats().liveMappings).toBe(0);
  });
});
