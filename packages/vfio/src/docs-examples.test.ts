// The runnable example of docs/vfio.md, verbatim between the markers.
import { expect, it } from "vitest";

it("docs/vfio.md: the classic type1 flow", async () => {
  // --- example ---
  const { createIommuCore } = await import("@iommu-sim/iommu");
  const { createCountingAllocator, createReferenceBackend, createSparseMemory } = await import(
    "@iommu-sim/testkit"
  );
  const {
    createVfio,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    VFIO_DMA_MAP_FLAG_READ,
    VFIO_DMA_MAP_FLAG_WRITE,
    VfioExtension,
  } = await import("@iommu-sim/vfio");

  const memory = createSparseMemory();
  const core = createIommuCore({ memory });
  core.registerIommu(createReferenceBackend({ memory }));
  const ram = createCountingAllocator({ base: 0x2_0000_0000, size: 0x4000_0000 });
  // No simulated IOMMU reports interrupt remapping: allow_unsafe_interrupts, as on such hosts.
  const vfio = createVfio(core, { ram, memory, allowUnsafeInterrupts: true });

  const nic = core.addPciDevice({ bus: 6, slot: 0xd });
  const proc = vfio.createProcess();
  const container = vfio.openContainer(proc);
  const group = vfio.openGroup(proc, core.groupGet(nic)!.id);
  group.setContainer(container);
  container.setIommu(VfioExtension.TYPE1v2_IOMMU);

  const buf = proc.mmap({
    length: 1 << 20,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_ANONYMOUS | MAP_PRIVATE,
  });
  container.mapDma({
    flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
    vaddr: buf,
    iova: 0,
    size: 1 << 20,
  });
  const device = group.getDeviceFd("0000:06:0d.0");

  vfio.deviceDma(nic, { iova: 0x10, length: 3, write: true, data: new Uint8Array([7, 8, 9]) });
  console.log(proc.read(buf + 0x10n, 3)); // Uint8Array [7, 8, 9]
  console.log(proc.lockedVm); // 1048576

  container.unmapDma({ flags: 0, iova: 0, size: 1 << 20 });
  console.log(vfio.deviceDma(nic, { iova: 0x10, length: 1, write: false }).ok); // false: unmapped
  device.close();
  vfio.exitProcess(proc); // the group is back on its default domain
  // --- end ---
  expect(core.getDomainForDevice(nic)).toBe(core.groupGet(nic)!.defaultDomain);
  expect(ram.pagesInUse).toBe(0);
});
