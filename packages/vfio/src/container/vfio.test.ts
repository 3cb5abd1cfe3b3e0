import { createReferenceBackend } from "@iommu-sim/testkit";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import type { SimProcess } from "../process/process.js";
import { errno, machine } from "../test-machine.js";
import {
  VFIO_DMA_MAP_FLAG_READ as R,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VfioExtension,
  VFIO_DMA_MAP_FLAG_WRITE as W,
} from "../uapi/constants.js";
import type { VfioContainer } from "./vfio.js";

const P = 4096;
const MiB = 1 << 20;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANONYMOUS | MAP_PRIVATE;

/** Everything a failed operation must leave untouched. */
function snapshot(m: ReturnType<typeof machine>, c: VfioContainer, proc: SimProcess) {
  return {
    mappings: c.iommu?.list.mappings().map((d) => `${d.iova}+${d.size}@${d.vaddr}`) ?? [],
    dmaAvail: c.iommu?.list.dmaAvail,
    iovaRanges: c.iommu?.list.iovaRanges,
    domains: c.iommu?.domains.map((d) => d.id) ?? [],
    groups: c.groups.map((g) => g.id),
    locked: proc.lockedVm,
    pinned: proc.pinnedPages,
    tables: m.ref.tableAllocator.pagesInUse,
  };
}

/** One device's group attached to a TYPE1v2 (or v1) container, with a process. */
function ready(o: Parameters<typeof machine>[0] = {}, type: number = VfioExtension.TYPE1v2_IOMMU) {
  const m = machine(o);
  const { device, group } = m.addDevice(1);
  const proc = m.vfio.createProcess({ rlimitMemlock: 64 * MiB });
  const container = m.vfio.openContainer(proc);
  const gfile = m.vfio.openGroup(proc, group.id);
  gfile.setContainer(container);
  container.setIommu(type);
  return { m, device, group, proc, container, gfile };
}

describe("container", () => {
  it("GET_API_VERSION is 0; CHECK_EXTENSION polls type1 before an IOMMU is set", () => {
    const m = machine();
    const c = m.vfio.openContainer(m.vfio.createProcess());
    expect(c.getApiVersion()).toBe(0);
    expect(c.checkExtension(VfioExtension.TYPE1_IOMMU)).toBe(1);
    expect(c.checkExtension(VfioExtension.TYPE1v2_IOMMU)).toBe(1);
    expect(c.checkExtension(VfioExtension.UNMAP_ALL)).toBe(1);
    expect(c.checkExtension(VfioExtension.UPDATE_VADDR)).toBe(1);
    expect(c.checkExtension(VfioExtension.DMA_CC_IOMMU)).toBe(0);
    expect(c.checkExtension(VfioExtension.SPAPR_TCE_IOMMU)).toBe(0);
    expect(c.checkExtension(VfioExtension.NOIOMMU_IOMMU)).toBe(0);
    expect(c.checkExtension(1234)).toBe(0);
  });

  it("DMA_CC_IOMMU answers whether every domain enforces cache coherency", () => {
    expect(ready().container.checkExtension(VfioExtension.DMA_CC_IOMMU)).toBe(0);
    const caps = ["cache-coherency", "enforce-cache-coherency"] as const;
    expect(ready({ ref: { caps } }).container.checkExtension(VfioExtension.DMA_CC_IOMMU)).toBe(1);
  });

  it("SET_IOMMU: EINVAL without groups or when set; ENODEV for a type nobody offers; EINVAL for a non-type extension", () => {
    const m = machine();
    const { group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    expect(errno(() => c.setIommu(VfioExtension.TYPE1v2_IOMMU))).toBe("EINVAL");
    m.vfio.openGroup(proc, group.id).setContainer(c);
    expect(errno(() => c.setIommu(VfioExtension.SPAPR_TCE_IOMMU))).toBe("ENODEV");
    expect(errno(() => c.setIommu(VfioExtension.UNMAP_ALL))).toBe("EINVAL");
    expect(c.iommu).toBeUndefined();
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    expect(errno(() => c.setIommu(VfioExtension.TYPE1v2_IOMMU))).toBe("EINVAL");
    expect(errno(() => c.setIommu(VfioExtension.TYPE1_IOMMU))).toBe("EINVAL");
  });

  it("SET_IOMMU refuses a group without MSI isolation (EPERM) unless allow_unsafe_interrupts, leaving nothing set", () => {
    const m = machine({ vfio: { allowUnsafeInterrupts: false } });
    const { device, group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    m.vfio.openGroup(proc, group.id).setContainer(c);
    const tables = m.ref.tableAllocator.pagesInUse;
    expect(errno(() => c.setIommu(VfioExtension.TYPE1v2_IOMMU))).toBe("EPERM");
    expect(c.iommu).toBeUndefined();
    expect(m.core.getDomainForDevice(device)).toBe(group.blockingDomain);
    expect(m.ref.tableAllocator.pagesInUse).toBe(tables);
    // With interrupt remapping the same group attaches.
    const ok = machine({
      vfio: { allowUnsafeInterrupts: false },
      ref: { caps: ["cache-coherency", "intr-remap"] },
    });
    const g2 = ok.addDevice(1).group;
    const p2 = ok.vfio.createProcess();
    const c2 = ok.vfio.openContainer(p2);
    ok.vfio.openGroup(p2, g2.id).setContainer(c2);
    c2.setIommu(VfioExtension.TYPE1v2_IOMMU);
    expect(c2.iommu?.domains).toHaveLength(1);
  });

  it("unknown container fd for SET_CONTAINER is EBADF; a group fd is EBADFD", () => {
    const m = machine();
    const { group } = m.addDevice(1);
    const other = m.addDevice(2).group;
    const proc = m.vfio.createProcess();
    const g = m.vfio.openGroup(proc, group.id);
    const g2 = m.vfio.openGroup(proc, other.id);
    expect(errno(() => g.setContainer(99))).toBe("EBADF");
    expect(errno(() => g.setContainer(g2.fd!))).toBe("EBADFD");
    expect(m.core.groupDmaOwnerClaimed(group)).toBe(false);
  });
});

describe("group", () => {
  it("open: ENODEV for no such group, EBUSY when already open, reopen after close", () => {
    const m = machine();
    const { group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    expect(errno(() => m.vfio.openGroup(proc, 42))).toBe("ENODEV");
    const g = m.vfio.openGroup(proc, group.id);
    expect(errno(() => m.vfio.openGroup(proc, group.id))).toBe("EBUSY");
    const fd = g.fd;
    g.close();
    expect(g.fd).toBeUndefined();
    expect(m.vfio.openGroup(proc, group.id).fd).toBe(fd);
  });

  it("open: EINVAL when the IOMMU does not give the device cache coherency", () => {
    const m = machine({ ref: { caps: [] } });
    const { group } = m.addDevice(1);
    expect(errno(() => m.vfio.openGroup(m.vfio.createProcess(), group.id))).toBe("EINVAL");
  });

  it("status: not VIABLE while a kernel driver uses a device; SET_CONTAINER then EPERM; VIABLE after unbind", () => {
    const m = machine();
    const { device, group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    const g = m.vfio.openGroup(proc, group.id);
    expect(g.getStatus()).toBe(VFIO_GROUP_FLAGS_VIABLE);
    m.core.deviceUseDefaultDomain(device);
    expect(g.getStatus()).toBe(0);
    expect(errno(() => g.setContainer(c))).toBe("EPERM");
    expect(c.groups).toEqual([]);
    m.core.deviceUnuseDefaultDomain(device);
    g.setContainer(c);
    expect(g.getStatus()).toBe(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
    // Claimed for VFIO: a kernel driver cannot bind now.
    expect(errno(() => m.core.deviceUseDefaultDomain(device))).toBe("EBUSY");
    expect(m.core.getDomainForDevice(device)).toBe(group.blockingDomain);
  });

  it("SET_CONTAINER: EBUSY when the group sits on a driver-owned domain; EINVAL when already set", () => {
    const m = machine();
    const { device, group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    const g = m.vfio.openGroup(proc, group.id);
    const own = m.core.domainAlloc(device);
    m.core.attachGroup(own, group);
    expect(errno(() => g.setContainer(c))).toBe("EBUSY");
    m.core.detachGroup(own, group);
    g.setContainer(c);
    expect(errno(() => g.setContainer(c))).toBe("EINVAL");
  });

  it("SET_CONTAINER on a container with an IOMMU attaches at once; an attach failure releases ownership", () => {
    const { m, container, proc } = ready();
    const second = m.addDevice(2);
    const g2 = m.vfio.openGroup(proc, second.group.id);
    m.ref.inject.attach = "ENOMEM";
    expect(errno(() => g2.setContainer(container))).toBe("ENOMEM");
    expect(m.core.groupDmaOwnerClaimed(second.group)).toBe(false);
    expect(m.core.getDomainForDevice(second.device)).toBe(second.group.defaultDomain);
    g2.setContainer(container);
    // Same IOMMU instance: one shared domain.
    expect(container.iommu?.domains).toHaveLength(1);
    expect(m.core.getDomainForDevice(second.device)).toBe(container.iommu?.domains[0]);
  });

  it("GET_DEVICE_FD: ENODEV for a name not in the group, EINVAL without an IOMMU set", () => {
    const m = machine();
    const { device, group } = m.addDevice(1);
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    const g = m.vfio.openGroup(proc, group.id);
    expect(errno(() => g.getDeviceFd(device.name))).toBe("EINVAL");
    g.setContainer(c);
    expect(errno(() => g.getDeviceFd(device.name))).toBe("EINVAL");
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    expect(errno(() => g.getDeviceFd("0000:09:00.0"))).toBe("ENODEV");
    const d = g.getDeviceFd(device.name);
    expect(d.fd).toBeGreaterThan(2);
    expect(m.vfio.file(d.fd!)).toBe(d);
  });

  it("UNSET_CONTAINER: EINVAL without one, EBUSY with a device open; the last group releases everything", () => {
    const { m, device, group, proc, container, gfile } = ready();
    const tablesBefore = m.ref.tableAllocator.pagesInUse;
    const va = proc.mmap({ length: MiB, prot: RW, flags: ANON });
    container.mapDma({ flags: R | W, vaddr: va, iova: MiB, size: MiB });
    expect(proc.lockedVm).toBe(MiB);
    const dev = gfile.getDeviceFd(device.name);
    expect(errno(() => gfile.unsetContainer())).toBe("EBUSY");
    dev.close();
    gfile.unsetContainer();
    expect(errno(() => gfile.unsetContainer())).toBe("EINVAL");
    expect(container.iommu).toBeUndefined();
    expect(proc.lockedVm).toBe(0);
    expect(proc.pinnedPages).toBe(0);
    expect(m.core.getDomainForDevice(device)).toBe(group.defaultDomain);
    expect(m.core.groupDmaOwnerClaimed(group)).toBe(false);
    expect(m.ref.tableAllocator.pagesInUse).toBeLessThan(tablesBefore + 1);
    // The container is unprivileged again: SET_IOMMU needs a group.
    expect(errno(() => container.setIommu(VfioExtension.TYPE1v2_IOMMU))).toBe("EINVAL");
  });

  it("closing the group file detaches it once its device files are closed", () => {
    const { m, device, group, container, gfile } = ready();
    const dev = gfile.getDeviceFd(device.name);
    gfile.close();
    expect(container.groups).toEqual([group]);
    dev.close();
    expect(container.groups).toEqual([]);
    expect(m.core.getDomainForDevice(device)).toBe(group.defaultDomain);
  });

  it("process exit closes every file: mappings gone, pages unpinned and freed, groups back on default domains", () => {
    const { m, device, group, proc, container, gfile } = ready();
    const ramBefore = m.ram.pagesInUse;
    gfile.getDeviceFd(device.name);
    const va = proc.mmap({ length: 2 * MiB, prot: RW, flags: ANON });
    container.mapDma({ flags: R | W, vaddr: va, iova: 0, size: 2 * MiB });
    expect(m.ram.pagesInUse).toBe(ramBefore + 512);
    m.vfio.exitProcess(proc);
    expect(m.ram.pagesInUse).toBe(ramBefore);
    expect(m.core.getDomainForDevice(device)).toBe(group.defaultDomain);
    expect(container.fd).toBeUndefined();
    expect(errno(() => m.vfio.close(3))).toBe("EBADF");
  });
});

describe("type1 attach_group", () => {
  it("a second IOMMU instance gets its own domain and the existing mappings replayed into it", () => {
    const m = machine({ ref: { pgsizeBitmap: 0x1000 } });
    const ref1 = createReferenceBackend({ name: "ref1", memory: m.memory });
    m.core.registerIommu(ref1);
    const d0 = m.addDevice(1);
    const d1 = m.core.addPciDevice({ bus: 1, slot: 0, kind: "rc-endpoint", iommu: "ref1" });
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    m.vfio.openGroup(proc, d0.group.id).setContainer(c);
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    const va = proc.mmap({ length: 64 * P, prot: RW, flags: ANON });
    // Touch pages backwards so the physical pages are not contiguous: many runs to replay.
    for (let i = 63; i >= 0; i--) proc.write(va + BigInt(i * P), new Uint8Array([i]));
    c.mapDma({ flags: R | W, vaddr: va, iova: 0x40_0000, size: 64 * P });
    m.vfio.openGroup(proc, m.core.groupGet(d1)!.id).setContainer(c);
    expect(c.iommu?.domains.map((d) => d.iommu)).toEqual(["ref0", "ref1"]);
    // pgsize bitmap: the intersection (4 KiB from ref0, 4K|2M|1G from ref1).
    expect(c.getInfo().pgsizeBitmap).toBe(0x1000n);
    for (const i of [0, 17, 63]) {
      const r = m.vfio.deviceDma(d1, { iova: 0x40_0000 + i * P, length: 1, write: false });
      expect(r.ok && r.data?.[0]).toBe(i);
    }
    expect(proc.lockedVm).toBe(64 * P); // replay pins nothing twice
    c.unmapDma({ flags: 0, iova: 0x40_0000, size: 64 * P });
    expect(m.vfio.deviceDma(d1, { iova: 0x40_0000, length: 1, write: false }).ok).toBe(false);
    expect(ref1.tableAllocator.pagesInUse).toBeGreaterThan(0);
  });

  it("a reserved region over an existing mapping: EINVAL, state unchanged; direct-relaxable regions do not count", () => {
    const m = machine();
    const ref1 = createReferenceBackend({
      name: "ref1",
      memory: m.memory,
      resvRegions: () => [
        { start: 0x10_0000, length: 0x1000, prot: 0, type: "reserved" },
        { start: 0x80_0000, length: 0x1000, prot: 3, type: "direct-relaxable" },
      ],
    });
    m.core.registerIommu(ref1);
    const d0 = m.addDevice(1);
    const d1 = m.core.addPciDevice({ bus: 1, slot: 0, kind: "rc-endpoint", iommu: "ref1" });
    const g1 = m.core.groupGet(d1)!;
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    m.vfio.openGroup(proc, d0.group.id).setContainer(c);
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    const va = proc.mmap({ length: MiB, prot: RW, flags: ANON });
    c.mapDma({ flags: R | W, vaddr: va, iova: 0x10_0000, size: 0x1000 });
    c.mapDma({ flags: R | W, vaddr: va + 0x1000n, iova: 0x80_0000, size: 0x1000 });
    const gf1 = m.vfio.openGroup(proc, g1.id);
    const before = snapshot(m, c, proc);
    const ref1Tables = ref1.tableAllocator.pagesInUse;
    expect(errno(() => gf1.setContainer(c))).toBe("EINVAL");
    expect(snapshot(m, c, proc)).toEqual(before);
    expect(ref1.tableAllocator.pagesInUse).toBe(ref1Tables);
    expect(m.core.groupDmaOwnerClaimed(g1)).toBe(false);
    // Without the conflicting mapping it attaches and the reserved page leaves the valid list.
    c.unmapDma({ flags: 0, iova: 0x10_0000, size: 0x1000 });
    gf1.setContainer(c);
    expect(c.getInfo().iovaRanges).toEqual([
      { start: 0n, end: 0xf_ffffn },
      { start: 0x10_1000n, end: 2n ** 48n - 1n },
    ]);
    expect(errno(() => c.mapDma({ flags: R, vaddr: va, iova: 0x10_0000, size: 0x1000 }))).toBe("EINVAL");
    // Detaching the group drops its reserved region from the list again.
    gf1.unsetContainer();
    expect(c.getInfo().iovaRanges).toEqual([{ start: 0n, end: 2n ** 48n - 1n }]);
  });

  it("an aperture that leaves a mapping outside: EINVAL, state unchanged", () => {
    const m = machine();
    m.core.registerIommu(createReferenceBackend({ name: "ref1", memory: m.memory, iovaBits: 32 }));
    const d0 = m.addDevice(1);
    const d1 = m.core.addPciDevice({ bus: 1, slot: 0, kind: "rc-endpoint", iommu: "ref1" });
    const proc = m.vfio.createProcess();
    const c = m.vfio.openContainer(proc);
    m.vfio.openGroup(proc, d0.group.id).setContainer(c);
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    const va = proc.mmap({ length: P, prot: RW, flags: ANON });
    c.mapDma({ flags: R | W, vaddr: va, iova: 0x1_0000_0000, size: P });
    const before = snapshot(m, c, proc);
    const gf1 = m.vfio.openGroup(proc, m.core.groupGet(d1)!.id);
    expect(errno(() => gf1.setContainer(c))).toBe("EINVAL");
    expect(snapshot(m, c, proc)).toEqual(before);
    c.unmapDma({ flags: 0, iova: 0x1_0000_0000, size: P });
    gf1.setContainer(c);
    expect(c.getInfo().iovaRanges).toEqual([{ start: 0n, end: 0xffff_ffffn }]);
  });

  it("an attach failing in the middle of the replay leaves no trace in the new domain", () => {
    const m = machine();
    const ref1 = createReferenceBackend({ name: "ref1", memory: m.memory, pgsizeBitmap: 0x1000 });
    m.core.registerIommu(ref1);
    const d0 = m.addDevice(1);
    const d1 = m.core.addPciDevice({ bus: 1, slot: 0, kind: "rc-endpoint", iommu: "ref1" });
    const proc = m.vfio.createProcess({ rlimitMemlock: 64 * MiB });
    const c = m.vfio.openContainer(proc);
    m.vfio.openGroup(proc, d0.group.id).setContainer(c);
    c.setIommu(VfioExtension.TYPE1v2_IOMMU);
    const va = proc.mmap({ length: 8 * MiB, prot: RW, flags: ANON });
    c.mapDma({ flags: R | W, vaddr: va, iova: 0, size: 8 * MiB });
    const before = snapshot(m, c, proc);
    const gf1 = m.vfio.openGroup(proc, m.core.groupGet(d1)!.id);
    const base = ref1.tableAllocator.pagesInUse;
    // Root + one blocking domain page are allocated first; fail each later table allocation.
    for (let k = 1; k < 8; k++) {
      ref1.tableAllocator.failAfter(k);
      const code = errno(() => gf1.setContainer(c));
      ref1.tableAllocator.failAfter(0);
      if (code === undefined) break;
      expect(code).toBe("ENOMEM");
      expect(snapshot(m, c, proc)).toEqual(before);
      expect(ref1.tableAllocator.pagesInUse).toBe(base);
    }
    expect(c.iommu?.domains).toHaveLength(2);
  });
});
