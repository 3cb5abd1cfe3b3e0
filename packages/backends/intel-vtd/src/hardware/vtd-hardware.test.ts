import {
  createPageTable,
  createPhysMemory,
  encodeVtdDescriptor,
  IOMMU_READ,
  IOMMU_WRITE,
} from "@iommu-sim/hw";
import { describe, expect, it } from "vitest";
import { DEFAULT_VTD_CAP, DEFAULT_VTD_ECAP, DEFAULT_VTD_IOTLB } from "../options.js";
import {
  DMA_GCMD_QIE,
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMAR_GCMD_REG,
  DMAR_IQA_REG,
  DMAR_IQT_REG,
  DMAR_RTADDR_REG,
} from "./registers.js";
import { createVtdHardware } from "./vtd-hardware.js";

// A unit programmed by hand, without the driver: root table 0x5000_0000, bus 0 context table
// 0x5000_1000, queue 0x5000_2000; device 00:01.0 (source id 0x0008) on domain 5.
function unit(cap = DEFAULT_VTD_CAP) {
  const memory = createPhysMemory();
  const hw = createVtdHardware({
    memory,
    cap,
    ecap: DEFAULT_VTD_ECAP,
    version: 0x10,
    iotlb: DEFAULT_VTD_IOTLB,
    name: "t",
  });
  const table = createPageTable("intel-vtd-ss", { memory, ias: 48, oas: 52 });
  table.map(0x1000, 0x9000_0000, 0x1000, 1, IOMMU_READ | IOMMU_WRITE);
  memory.writeU64(0x5000_0000, 0x5000_1001n);
  const ce = 0x5000_1000 + 8 * 16;
  const writeContext = (did: number, present = true) => {
    memory.writeU64(ce + 8, (BigInt(did) << 8n) | 2n);
    memory.writeU64(ce, table.root | (present ? 1n : 0n));
  };
  hw.write64(DMAR_RTADDR_REG, 0x5000_0000n);
  hw.write64(DMAR_IQA_REG, 0x5000_2000n);
  hw.write32(DMAR_GCMD_REG, DMA_GCMD_SRTP | DMA_GCMD_QIE);
  hw.write32(DMAR_GCMD_REG, DMA_GCMD_QIE | DMA_GCMD_TE);
  let tail = 0;
  const submit = (descriptor: Uint8Array) => {
    memory.write(0x5000_2000 + tail * 16, descriptor);
    tail++;
    hw.write32(DMAR_IQT_REG, tail << 4);
  };
  return { memory, hw, writeContext, submit };
}

describe("the context cache", () => {
  it("keeps using a cached context entry until a matching context-cache invalidation", () => {
    const { hw, writeContext, submit } = unit();
    writeContext(5);
    expect(hw.dma(0x0008, 0x1000, 4, false).ok).toBe(true);
    expect(hw.stats().contextFetches).toBe(1);
    writeContext(5, false); // the driver clears P but does not flush
    expect(hw.dma(0x0008, 0x1000, 4, false).ok).toBe(true);
    // Device-selective with another domain id leaves the entry cached.
    submit(encodeVtdDescriptor("context-cache", { g: 3, did: 6, sid: 0x0008 }));
    expect(hw.dma(0x0008, 0x1000, 4, false).ok).toBe(true);
    submit(encodeVtdDescriptor("context-cache", { g: 3, did: 5, sid: 0x0008 }));
    expect(hw.dma(0x0008, 0x1000, 4, false)).toMatchObject({ ok: false, reason: 0x2, kind: "context" });
    expect(hw.stats().contextFetches).toBe(2);
  });

  it("does not cache not-present entries without Caching Mode, and does with it (under domain 0)", () => {
    const plain = unit();
    expect(plain.hw.dma(0x0008, 0x1000, 4, false)).toMatchObject({ ok: false, reason: 0x2 });
    plain.writeContext(5);
    expect(plain.hw.dma(0x0008, 0x1000, 4, false).ok).toBe(true);

    const cm = unit(DEFAULT_VTD_CAP | (1n << 7n));
    expect(cm.hw.dma(0x0008, 0x1000, 4, false)).toMatchObject({ ok: false, reason: 0x2 });
    cm.writeContext(5);
    expect(cm.hw.dma(0x0008, 0x1000, 4, false)).toMatchObject({ ok: false, reason: 0x2 });
    cm.submit(encodeVtdDescriptor("context-cache", { g: 3, did: 0, sid: 0x0008 }));
    expect(cm.hw.dma(0x0008, 0x1000, 4, false).ok).toBe(true);
  });

  it("reads a missing root entry as reason 1 and an unsupported AW as reason 3", () => {
    const { hw, memory, writeContext, submit } = unit();
    expect(hw.dma(0x0108, 0x1000, 4, true, new Uint8Array(4))).toMatchObject({
      ok: false,
      reason: 0x1,
      kind: "root",
    });
    writeContext(5);
    memory.writeU64(0x5000_1000 + 8 * 16 + 8, (5n << 8n) | 3n); // AW 3: 5-level, not in SAGAW 39|48
    submit(encodeVtdDescriptor("context-cache", { g: 1 }));
    expect(hw.dma(0x0008, 0x1000, 4, false)).toMatchObject({ ok: false, reason: 0x3 });
  });

  it("stops at an invalid descriptor with FSTS.IQE and leaves IQH on it", () => {
    const { hw, submit } = unit();
    submit(encodeVtdDescriptor("pasid-iotlb", { g: 2, did: 5 })); // scalable mode only
    expect(hw.read32(0x34) & 0x10).toBe(0x10);
    expect(hw.read32(0x80)).toBe(0);
  });
});
