import { createReferenceBackend } from "@iommu-sim/testkit";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { errno, machine } from "../test-machine.js";
import { ERRNO } from "../uapi/errno.js";
import { IommufdIoctl } from "../uapi/iommufd-constants.js";
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING as DIRTY,
  encodeIommuHwptAlloc,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
} from "../uapi/iommufd-hwpt.js";
import { IOMMU_IOAS_MAP_FIXED_IOVA } from "../uapi/iommufd-structs.js";
import { createIommufd } from "./iommufd.js";
import { iommufdSetup, outU32, P, RW } from "./test-iommufd.js";

describe("IOMMU_HWPT_ALLOC (5.10.28)", () => {
  it("allocates a page table the device attaches to by id; it survives detach; attached it cannot be destroyed (EBUSY)", () => {
    const { fd, ioas, device, map, m } = iommufdSetup({ domain: false });
    const dev = fd.bindDevice(device);
    const r = fd.ioctl(
      IommufdIoctl.HWPT_ALLOC,
      encodeIommuHwptAlloc({ size: 24, flags: 0, devId: dev, ptId: ioas, outHwptId: 0 }),
    );
    expect(r.ret).toBe(0);
    const hwpt = outU32(r.out, 16);
    expect(fd.ioas(ioas).domains).toHaveLength(1);
    map(16n * P, 2n * P);
    expect(fd.attach(dev, hwpt)).toBe(hwpt);
    expect(m.core.deviceDma(device, { iova: 16n * P, length: 1, write: false }).ok).toBe(true);
    expect(errno(() => fd.destroy(hwpt))).toBe("EBUSY");
    expect(errno(() => fd.destroy(ioas))).toBe("EBUSY");
    fd.detach(dev);
    expect(fd.ioas(ioas).domains).toHaveLength(1);
    fd.destroy(hwpt);
    expect(fd.ioas(ioas).domains).toHaveLength(0);
    fd.destroy(ioas);
  });

  it("unknown flags or reserved bits EOPNOTSUPP; NEST_PARENT EOPNOTSUPP (not modelled); unknown ids ENOENT; nothing allocated", () => {
    const { fd, ioas, device } = iommufdSetup({ domain: false });
    const dev = fd.bindDevice(device);
    const alloc = (flags: number, devId = dev, ptId = ioas) =>
      fd.ioctl(IommufdIoctl.HWPT_ALLOC, encodeIommuHwptAlloc({ size: 24, flags, devId, ptId, outHwptId: 0 }))
        .ret;
    expect(alloc(1 << 2)).toBe(-ERRNO.EOPNOTSUPP);
    expect(alloc(IOMMU_HWPT_ALLOC_NEST_PARENT)).toBe(-ERRNO.EOPNOTSUPP);
    const reserved = encodeIommuHwptAlloc({ size: 24, flags: 0, devId: dev, ptId: ioas, outHwptId: 0 });
    reserved[20] = 1;
    expect(fd.ioctl(IommufdIoctl.HWPT_ALLOC, reserved).ret).toBe(-ERRNO.EOPNOTSUPP);
    expect(alloc(0, 99)).toBe(-ERRNO.ENOENT);
    expect(alloc(0, dev, 99)).toBe(-ERRNO.ENOENT);
    expect(alloc(0, ioas, ioas)).toBe(-ERRNO.ENOENT);
    expect(fd.ioas(ioas).domains).toHaveLength(0);
  });

  it("replacing a device's IOAS frees its automatic page table: replacing back to the old id is ENOENT", () => {
    const { fd, ioas, devId, hwpt, map, m, device, buffer } = iommufdSetup();
    const other = fd.ioasAlloc();
    fd.ioasMap(other, { flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, userVa: buffer, length: P, iova: 32n * P });
    map(16n * P, P);
    const next = fd.replace(devId!, other);
    expect(next).not.toBe(hwpt);
    expect(fd.ioas(ioas).domains).toHaveLength(0);
    expect(m.core.deviceDma(device, { iova: 32n * P, length: 1, write: false }).ok).toBe(true);
    expect(m.core.deviceDma(device, { iova: 16n * P, length: 1, write: false }).ok).toBe(false);
    expect(errno(() => fd.replace(devId!, hwpt!))).toBe("ENOENT");
    expect(fd.replace(devId!, ioas)).toBeGreaterThan(next);
  });
});

describe("replace rollback (5.10.28)", () => {
  it("a replace whose new attach fails (EFAULT) puts the device back on its old IOAS", () => {
    const { fd, ioas, devId, map, m, device, proc } = iommufdSetup();
    map(16n * P, P);
    const other = fd.ioasAlloc();
    const gone = proc.mmap({ length: P, prot: PROT_READ | PROT_WRITE, flags: MAP_ANONYMOUS | MAP_PRIVATE });
    fd.ioasMap(other, { flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, userVa: gone, length: P, iova: 32n * P });
    proc.munmap(gone, P);
    expect(errno(() => fd.replace(devId!, other))).toBe("EFAULT");
    expect(fd.ioas(other).domains).toHaveLength(0);
    expect(fd.ioas(ioas).domains).toHaveLength(1);
    expect(m.core.deviceDma(device, { iova: 16n * P, length: 1, write: false }).ok).toBe(true);
    expect(errno(() => fd.replace(devId!, 99))).toBe("ENOENT");
    expect(m.core.deviceDma(device, { iova: 16n * P, length: 1, write: false }).ok).toBe(true);
  });
});

describe("dirty tracking page tables (5.10.29)", () => {
  /** Device 1 behind an IOMMU with dirty tracking, device 2 behind one without. */
  function dirtySetup() {
    const m = machine({ ref: { caps: ["cache-coherency", "noexec", "dirty-tracking"] } });
    m.core.registerIommu(createReferenceBackend({ name: "ref1", memory: m.memory }));
    const dirtyDev = m.addDevice(1).device;
    const plainDev = m.addDevice(2, "ref1").device;
    const fd = createIommufd(m.core, { process: m.vfio.createProcess() });
    return { fd, ioas: fd.ioasAlloc(), dirty: fd.bindDevice(dirtyDev), plain: fd.bindDevice(plainDev) };
  }

  it("DIRTY_TRACKING on a device without dirty support is EOPNOTSUPP; a no-dirty device cannot attach to a dirty one (EINVAL)", () => {
    const { fd, ioas, dirty, plain } = dirtySetup();
    expect(errno(() => fd.hwptAlloc(plain, ioas, DIRTY))).toBe("EOPNOTSUPP");
    expect(fd.ioas(ioas).domains).toHaveLength(0);
    const hwpt = fd.hwptAlloc(dirty, ioas, DIRTY);
    expect(errno(() => fd.attach(plain, hwpt))).toBe("EINVAL");
    expect(fd.attach(dirty, hwpt)).toBe(hwpt);
  });
});
