// The runnable examples of docs/dma.md, verbatim between the markers.
import { expect, it } from "vitest";

it("docs/dma.md: the x86 flow (default domains)", async () => {
  // --- example: x86 ---
  const { createIommuCore } = await import("@iommu-sim/iommu");
  const { createCountingAllocator, createReferenceBackend, createSparseMemory } = await import(
    "@iommu-sim/testkit"
  );
  const { createDmaApi, DmaDirection } = await import("@iommu-sim/dma");

  const memory = createSparseMemory();
  const core = createIommuCore({ strict: true, memory });
  core.registerIommu(createReferenceBackend({ memory }));
  const ram = createCountingAllocator({ base: 0x4000_0000, size: 0x4000_0000 });
  const dma = createDmaApi(core, { ram, swiotlb: { size: 1 << 20 }, debug: true });

  const nic = core.addPciDevice({ bus: 0, slot: 1 }); // probed: a DMA default domain
  const d = dma.device(nic); // the driver binds
  const buf = ram.alloc(4096);
  const addr = d.mapSingle(buf, 4096, DmaDirection.FROM_DEVICE);
  if (d.mappingError(addr)) throw new Error("map failed");
  dma.deviceDma(nic, { iova: addr, length: 4, write: true, data: new Uint8Array([1, 2, 3, 4]) });
  d.syncSingleForCpu(addr, 4096, DmaDirection.FROM_DEVICE);
  console.log(memory.read(buf, 4)); // Uint8Array [1, 2, 3, 4]
  d.unmapSingle(addr, 4096, DmaDirection.FROM_DEVICE);
  console.log(dma.deviceDma(nic, { iova: addr, length: 4, write: false }).ok); // false: strict unmap
  // --- end ---
  expect(memory.read(buf, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));
  expect(dma.debugReports).toEqual([]);
});

it("docs/dma.md: the ARM flow (explicit mapping)", async () => {
  // --- example: arm ---
  const { createIommuCore } = await import("@iommu-sim/iommu");
  const { createCountingAllocator, createReferenceBackend, createSparseMemory } = await import(
    "@iommu-sim/testkit"
  );
  const { createDmaApi } = await import("@iommu-sim/dma");

  const memory = createSparseMemory();
  const core = createIommuCore({ memory });
  core.registerIommu(createReferenceBackend({ memory }));
  const ram = createCountingAllocator({ base: 0x4000_0000, size: 0x4000_0000 });
  const dma = createDmaApi(core, { ram });

  const fw = (id: number) => ({ iommu: "ref0", streamIds: [id] });
  const gpu = core.addPlatformDevice({ name: "gpu", firmware: fw(1) });
  const display = core.addPlatformDevice({ name: "display", firmware: fw(2) });
  const mapping = dma.armIommuCreateMapping(gpu, 0x1000_0000n, 0x1000_0000n); // refcount 1
  dma.armIommuAttachDevice(gpu, mapping); // refcount 2
  dma.armIommuAttachDevice(display, mapping); // refcount 3
  const fb = dma.device(gpu).allocCoherent(64 * 1024)!; // 0x10000000: first fit
  console.log(dma.deviceDma(display, { iova: fb.dmaAddr, length: 16, write: false }).ok); // true: shared
  dma.device(gpu).freeCoherent(64 * 1024, fb.cpuAddr, fb.dmaAddr);
  dma.armIommuDetachDevice(gpu);
  dma.armIommuDetachDevice(display);
  dma.armIommuReleaseMapping(mapping); // last reference: the domain is freed
  // --- end ---
  expect(fb.dmaAddr).toBe(0x1000_0000n);
  expect(mapping.domain.freed).toBe(true);
});
