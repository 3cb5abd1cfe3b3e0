import {
  createIommuCore,
  domainTypeName,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuBackend,
} from "@iommu-sim/iommu";

/** Where the scenario's DMA buffers live (system RAM, far from any table allocator). */
const RAM = 0x1_0000_0000;

/**
 * The seed story on one backend, as a transcript of what an observer sees: devices probed into
 * groups with DMA default domains; a DMA-API user mapping and its device writing through the
 * hardware; a driver taking its device into its own domain (DMA API refused), DMA there, a fault on
 * an unmapped address reaching its handler; detach (back on the default domain, DMA API usable).
 */
export function runSeedScenario(makeBackend: () => IommuBackend): string[] {
  const log: string[] = [];
  const core = createIommuCore();
  const backend = makeBackend();
  core.registerIommu(backend);
  const nic = core.addPciDevice({ bus: 0, slot: 1 });
  const gpu = core.addPciDevice({ bus: 0, slot: 2 });
  for (const dev of [nic, gpu]) {
    const group = core.groupGet(dev);
    log.push(
      `${dev.name}: group of ${group?.devices.length ?? 0}, default ${domainTypeName(core.getDmaDomain(dev)?.type ?? -1)}`,
    );
  }
  if (core.groupGet(nic) === core.groupGet(gpu)) log.push("nic and gpu share a group");

  // A kernel driver binds to the NIC and uses the DMA API on its default domain.
  core.deviceUseDefaultDomain(nic);
  const def = core.getDmaDomain(nic)!;
  core.map(def, 0x10000n, BigInt(RAM), 0x2000n, IOMMU_READ | IOMMU_WRITE);
  const w1 = core.deviceDma(nic, {
    iova: 0x10ffcn,
    length: 8,
    write: true,
    data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  });
  log.push(`nic DMA write across pages: ${w1.ok ? "ok" : "fault"}`);
  log.push(`memory at RAM+0xffc: ${[...backend.memory.read(RAM + 0xffc, 8)].join(",")}`);

  // The GPU driver takes its device into its own domain.
  const own = core.domainAlloc(gpu, IOMMU_DOMAIN_UNMANAGED);
  core.attachDevice(own, gpu);
  log.push(
    `gpu on ${domainTypeName(core.getDomainForDevice(gpu)?.type ?? -1)}, DMA API usable: ${core.dmaApiUsable(gpu)}`,
  );
  core.map(own, 0x4000_0000n, BigInt(RAM + 0x10_0000), 0x20_0000n, IOMMU_READ | IOMMU_WRITE);
  const w2 = core.deviceDma(gpu, {
    iova: 0x4010_0000n,
    length: 4,
    write: true,
    data: new Uint8Array([9, 9, 9, 9]),
  });
  log.push(
    `gpu DMA in its own domain: ${w2.ok ? "ok" : "fault"}, RAM+0x200000 = ${[...backend.memory.read(RAM + 0x20_0000, 4)].join(",")}`,
  );
  const faults: string[] = [];
  core.setFaultHandler(own, (_domain, dev, iova, flags) => {
    faults.push(`${dev.name} iova=0x${iova.toString(16)} ${flags & IOMMU_FAULT_WRITE ? "write" : "read"}`);
    return 0;
  });
  const bad = core.deviceDma(gpu, { iova: 0x8000_0000n, length: 4, write: true, data: new Uint8Array(4) });
  log.push(`gpu DMA to an unmapped address: ${bad.ok ? "ok" : "fault"}; handler saw: ${faults.join("; ")}`);
  const leak = core.deviceDma(gpu, { iova: 0x10000n, length: 4, write: false });
  log.push(`gpu reading the NIC's IOVA: ${leak.ok ? "ok (isolation broken)" : "fault"}`);

  core.detachDevice(own, gpu);
  log.push(
    `after detach gpu on ${domainTypeName(core.getDomainForDevice(gpu)?.type ?? -1)}, DMA API usable: ${core.dmaApiUsable(gpu)}`,
  );
  core.domainFree(own);
  core.unmap(def, 0x10000n, 0x2000n);
  const after = core.deviceDma(nic, { iova: 0x10000n, length: 4, write: false });
  log.push(`nic DMA after unmap: ${after.ok ? "ok" : "fault"}`);
  return log;
}
