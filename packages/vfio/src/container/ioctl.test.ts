import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { machine } from "../test-machine.js";
import {
  VFIO_DMA_MAP_FLAG_READ as R,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VfioExtension,
  VfioIoctl,
  VFIO_DMA_MAP_FLAG_WRITE as W,
} from "../uapi/constants.js";
import { ERRNO } from "../uapi/errno.js";
import {
  encodeVfioDirtyBitmap,
  encodeVfioDmaMap,
  encodeVfioDmaUnmap,
  encodeVfioGroupStatus,
} from "../uapi/structs.js";
import { decodeType1Info } from "../uapi/type1-info.js";
import { U64_MAX } from "../util/u64.js";

const P = 4096n;
const MiB = 1n << 20n;
const TOP = 2n ** 48n; // reference aperture end + 1

/** A TYPE1v2 (or v1) container over one reference device, driven through fds only. */
function setup(o: { type?: number; rlimit?: number; entries?: number } = {}) {
  const m = machine({ vfio: { ...(o.entries ? { dmaEntryLimit: o.entries } : {}), dirtyScope: "written" } });
  const { device, group } = m.addDevice(1);
  const proc = m.vfio.createProcess({ rlimitMemlock: o.rlimit ?? 64 * 2 ** 20 });
  const c = m.vfio.openContainer(proc);
  const g = m.vfio.openGroup(proc, group.id);
  const cfd = c.fd!;
  const io = (request: number, arg?: Uint8Array | number, fd = cfd) => m.vfio.ioctl(fd, request, arg);
  const fdArg = new Uint8Array(4);
  new DataView(fdArg.buffer).setInt32(0, cfd, true);
  expect(io(VfioIoctl.GROUP_SET_CONTAINER, fdArg, g.fd!).ret).toBe(0);
  const va = proc.mmap({
    length: 16n * MiB,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_ANONYMOUS | MAP_PRIVATE,
  });
  const roVa = proc.mmap({ length: MiB, prot: PROT_READ, flags: MAP_ANONYMOUS | MAP_PRIVATE });
  const map = (iova: bigint, size: bigint, vaddr = va, flags = R | W, argsz = 32) =>
    io(VfioIoctl.IOMMU_MAP_DMA, encodeVfioDmaMap({ argsz, flags, vaddr, iova, size })).ret;
  const unmap = (iova: bigint, size: bigint, flags = 0, argsz = 24) => {
    const r = io(VfioIoctl.IOMMU_UNMAP_DMA, encodeVfioDmaUnmap({ argsz, flags, iova, size }));
    return { ret: r.ret, size: r.ret === 0 ? new DataView(r.out.buffer).getBigUint64(16, true) : undefined };
  };
  const state = () => ({
    mappings: c.iommu?.list.mappings().map((d) => [d.iova, d.size, d.vaddr, d.prot, d.vaddrInvalid]) ?? [],
    dmaAvail: c.iommu?.list.dmaAvail,
    locked: proc.lockedVm,
    pinned: proc.pinnedPages,
    tables: m.ref.tableAllocator.pagesInUse,
    tracking: c.iommu?.dirty.tracking,
  });
  return {
    m,
    device,
    group,
    proc,
    c,
    g,
    io,
    map,
    unmap,
    va,
    roVa,
    state,
    type: o.type ?? VfioExtension.TYPE1v2_IOMMU,
  };
}

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

describe("binary UAPI before SET_IOMMU", () => {
  it("container ioctls other than version/extension/set are EINVAL; bad fds EBADF; groups ENOTTY", () => {
    const s = setup();
    expect(s.io(VfioIoctl.GET_API_VERSION).ret).toBe(0);
    expect(s.io(VfioIoctl.CHECK_EXTENSION, VfioExtension.TYPE1_IOMMU).ret).toBe(1);
    expect(s.map(0n, P)).toBe(E("EINVAL"));
    expect(s.io(VfioIoctl.IOMMU_GET_INFO, new Uint8Array(24)).ret).toBe(E("EINVAL"));
    expect(s.io(0x3b99).ret).toBe(E("EINVAL"));
    expect(s.m.vfio.ioctl(77, VfioIoctl.GET_API_VERSION).ret).toBe(E("EBADF"));
    expect(s.io(0x3b99, undefined, s.g.fd!).ret).toBe(E("ENOTTY"));
    // GROUP_GET_STATUS: argsz < 8 EINVAL; fewer than 8 readable bytes EFAULT.
    expect(s.io(VfioIoctl.GROUP_GET_STATUS, encodeVfioGroupStatus({ argsz: 7, flags: 0 }), s.g.fd!).ret).toBe(
      E("EINVAL"),
    );
    expect(s.io(VfioIoctl.GROUP_GET_STATUS, new Uint8Array(4), s.g.fd!).ret).toBe(E("EFAULT"));
    expect(s.io(VfioIoctl.SET_IOMMU, new Uint8Array([3, 0, 0, 0])).ret).toBe(0);
    expect(s.io(0x3b99).ret).toBe(E("ENOTTY"));
  });
});

describe("VFIO_IOMMU_MAP_DMA (5.4), each failure leaving the container unchanged", () => {
  const cases: [string, (s: ReturnType<typeof setup>) => number, keyof typeof ERRNO][] = [
    ["argsz below minsz", (s) => s.map(0n, P, s.va, R | W, 31), "EINVAL"],
    ["unknown flag", (s) => s.map(0n, P, s.va, R | W | 8), "EINVAL"],
    ["neither READ/WRITE nor VADDR", (s) => s.map(0n, P, s.va, 0), "EINVAL"],
    ["VADDR with READ", (s) => s.map(0n, P, s.va, R | VFIO_DMA_MAP_FLAG_VADDR), "EINVAL"],
    ["size 0", (s) => s.map(0n, 0n), "EINVAL"],
    ["unaligned iova", (s) => s.map(0x800n, P), "EINVAL"],
    ["unaligned size", (s) => s.map(0n, 0x1800n), "EINVAL"],
    ["unaligned vaddr", (s) => s.map(0n, P, s.va + 8n), "EINVAL"],
    ["iova wraps (5.11.5)", (s) => s.map(U64_MAX & ~(P - 1n), 2n * P), "EOVERFLOW"],
    ["vaddr wraps", (s) => s.map(0n, 2n * P, U64_MAX & ~(P - 1n)), "EOVERFLOW"],
    ["VADDR with nothing mapped", (s) => s.map(0x4000_0000n, P, s.va, VFIO_DMA_MAP_FLAG_VADDR), "ENOENT"],
    ["VADDR on a valid mapping", (s) => s.map(0n, MiB, s.va, VFIO_DMA_MAP_FLAG_VADDR), "EINVAL"],
    ["overlap, exact", (s) => s.map(0n, MiB, s.va + MiB), "EEXIST"],
    ["overlap, straddling the start", (s) => s.map(MiB - P, 2n * P, s.va + MiB), "EEXIST"],
    ["outside the aperture", (s) => s.map(TOP, P), "EINVAL"],
    ["unmapped vaddr", (s) => s.map(0x100_0000n, P, 0x1_0000n), "EFAULT"],
    ["write to read-only memory", (s) => s.map(0x100_0000n, P, s.roVa), "EPERM"],
    ["past RLIMIT_MEMLOCK", (s) => s.map(0x100_0000n, 16n * MiB, s.va), "ENOMEM"],
    ["short buffer", (s) => s.io(VfioIoctl.IOMMU_MAP_DMA, new Uint8Array(16)).ret, "EFAULT"],
  ];
  it.each(cases)("%s", (_name, run, code) => {
    const s = setup({ rlimit: 8 * 2 ** 20 });
    expect(s.io(VfioIoctl.SET_IOMMU, s.type).ret).toBe(0);
    expect(s.map(0n, MiB)).toBe(0);
    const before = s.state();
    expect(run(s)).toBe(E(code));
    expect(s.state()).toEqual(before);
  });

  it("dma_avail exhausted: ENOSPC", () => {
    const s = setup({ entries: 2 });
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(0n, P)).toBe(0);
    expect(s.map(P, P, s.va + P)).toBe(0);
    const before = s.state();
    expect(s.map(2n * P, P, s.va + 2n * P)).toBe(E("ENOSPC"));
    expect(s.state()).toEqual(before);
    expect(s.unmap(0n, P).size).toBe(P);
    expect(s.map(2n * P, P, s.va + 2n * P)).toBe(0);
  });

  it("the last page below the end of the valid range maps and unmaps, alone and by unmap-all (5.11.3-4)", () => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(TOP - P, P)).toBe(0);
    expect(s.unmap(TOP - P, P)).toEqual({ ret: 0, size: P });
    expect(s.map(TOP - P, P)).toBe(0);
    expect(s.unmap(0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toEqual({ ret: 0, size: P });
    expect(s.unmap(U64_MAX & ~(P - 1n), 2n * P)).toEqual({ ret: E("EOVERFLOW"), size: undefined });
  });
});

describe("VFIO_IOMMU_UNMAP_DMA (5.5)", () => {
  const cases: [string, (s: ReturnType<typeof setup>) => number, keyof typeof ERRNO][] = [
    ["argsz below minsz", (s) => s.unmap(0n, MiB, 0, 23).ret, "EINVAL"],
    ["unknown flag", (s) => s.unmap(0n, MiB, 8).ret, "EINVAL"],
    ["GET_DIRTY_BITMAP with ALL", (s) => s.unmap(0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL | 1).ret, "EINVAL"],
    ["GET_DIRTY_BITMAP without room for vfio_bitmap", (s) => s.unmap(0n, MiB, 1).ret, "EINVAL"],
    ["unaligned iova", (s) => s.unmap(0x800n, MiB).ret, "EINVAL"],
    ["ALL with a size", (s) => s.unmap(0n, MiB, VFIO_DMA_UNMAP_FLAG_ALL).ret, "EINVAL"],
    ["ALL with an iova", (s) => s.unmap(MiB, 0n, VFIO_DMA_UNMAP_FLAG_ALL).ret, "EINVAL"],
    ["size 0", (s) => s.unmap(0n, 0n).ret, "EINVAL"],
    ["unaligned size", (s) => s.unmap(0n, 0x1800n).ret, "EINVAL"],
    ["wrap", (s) => s.unmap(U64_MAX & ~(P - 1n), 2n * P).ret, "EOVERFLOW"],
    ["v2: bisecting the start", (s) => s.unmap(P, MiB).ret, "EINVAL"],
    ["v2: bisecting the end", (s) => s.unmap(0n, P).ret, "EINVAL"],
  ];
  it.each(cases)("%s", (_name, run, code) => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(0n, MiB)).toBe(0);
    const before = s.state();
    expect(run(s)).toBe(E(code));
    expect(s.state()).toEqual(before);
  });

  it("v2: a range over several whole mappings and holes unmaps them all; an empty range is size 0", () => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    for (let i = 0n; i < 4n; i++) expect(s.map(i * 2n * MiB, MiB, s.va + i * MiB)).toBe(0);
    expect(s.unmap(0x1_0000_0000n, MiB)).toEqual({ ret: 0, size: 0n });
    expect(s.unmap(0n, 8n * MiB)).toEqual({ ret: 0, size: 4n * MiB });
    expect(s.proc.lockedVm).toBe(0);
  });

  it("v1: an unmap starting inside a mapping unmaps nothing; one covering a start removes the whole mapping", () => {
    const s = setup({ type: VfioExtension.TYPE1_IOMMU });
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(0n, MiB)).toBe(0);
    expect(s.unmap(P, P)).toEqual({ ret: 0, size: 0n });
    expect(s.unmap(0n, P)).toEqual({ ret: 0, size: MiB });
    expect(s.proc.lockedVm).toBe(0);
  });

  it("VADDR: invalidates, DMA goes on, MAP with VADDR supplies the new address; invalid twice is EINVAL", () => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(0n, MiB)).toBe(0);
    expect(s.unmap(0n, MiB, VFIO_DMA_UNMAP_FLAG_VADDR)).toEqual({ ret: 0, size: MiB });
    expect(s.m.vfio.deviceDma(s.device, { iova: 0, length: 4, write: false }).ok).toBe(true);
    const before = s.state();
    expect(s.unmap(0n, MiB, VFIO_DMA_UNMAP_FLAG_VADDR).ret).toBe(E("EINVAL"));
    expect(s.state()).toEqual(before);
    expect(s.map(0n, MiB, s.va + MiB, VFIO_DMA_MAP_FLAG_VADDR)).toBe(0);
    expect(s.c.iommu?.list.vaddrInvalidCount).toBe(0);
  });

  it("GET_DIRTY_BITMAP reports each removed mapping into the process's bitmap, then removes it", () => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    expect(s.map(0n, MiB)).toBe(0);
    const start = encodeVfioDirtyBitmap({ argsz: 8, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START });
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, start).ret).toBe(0);
    const d = s.m.vfio.deviceDma(s.device, { iova: 3n * P, length: 8, write: true, data: new Uint8Array(8) });
    expect(d.ok).toBe(true);
    const bitmapVa = s.va + 15n * MiB;
    const arg = encodeVfioDmaUnmap({
      argsz: 48,
      flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
      iova: 0n,
      size: MiB,
      bitmap: { pgsize: P, size: 32n, data: bitmapVa },
    });
    // Wrong pgsize, too small a bitmap, an unreadable bitmap: EINVAL, nothing removed.
    const bad = (patch: (dv: DataView) => void) => {
      const b = arg.slice();
      patch(new DataView(b.buffer));
      return s.io(VfioIoctl.IOMMU_UNMAP_DMA, b).ret;
    };
    const before = s.state();
    expect(bad((dv) => dv.setBigUint64(24, 2n * P, true))).toBe(E("EINVAL"));
    expect(bad((dv) => dv.setBigUint64(32, 8n, true))).toBe(E("EINVAL"));
    expect(bad((dv) => dv.setBigUint64(40, 0x1_0000n, true))).toBe(E("EINVAL"));
    expect(s.state()).toEqual(before);
    expect(s.io(VfioIoctl.IOMMU_UNMAP_DMA, arg).ret).toBe(0);
    expect(s.proc.read(bitmapVa, 1)[0]).toBe(1 << 3);
    expect(s.c.iommu?.list.count).toBe(0);
  });
});

describe("VFIO_IOMMU_GET_INFO (5.6) and DIRTY_PAGES (5.7)", () => {
  it("argsz protocol: below 16 EINVAL; 24 asks for more; enough gets the chain with dma_avail and ranges", () => {
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    s.map(0n, MiB);
    const ask = (argsz: number) => {
      const b = new Uint8Array(Math.max(argsz, 16));
      new DataView(b.buffer).setUint32(0, argsz, true);
      return s.io(VfioIoctl.IOMMU_GET_INFO, b);
    };
    expect(ask(15).ret).toBe(E("EINVAL"));
    const small = decodeType1Info(ask(24).out);
    expect(small.capOffset).toBe(0);
    const full = decodeType1Info(ask(small.argsz).out);
    expect(full.iovaPgsizes).toBe(0x4020_1000n);
    expect(full.caps.map((c) => c.id)).toEqual([2, 3, 1]);
    expect(full.caps[1]).toMatchObject({ avail: 65534 });
    expect(full.caps[2]).toMatchObject({ ranges: [{ start: 0n, end: TOP - 1n }] });
  });

  it("DIRTY_PAGES: EACCES on TYPE1; several operations EINVAL; GET_BITMAP before START EINVAL; START/STOP idempotent", () => {
    const v1 = setup({ type: VfioExtension.TYPE1_IOMMU });
    v1.io(VfioIoctl.SET_IOMMU, v1.type);
    const start = encodeVfioDirtyBitmap({ argsz: 8, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START });
    expect(v1.io(VfioIoctl.IOMMU_DIRTY_PAGES, start).ret).toBe(E("EACCES"));
    const s = setup();
    s.io(VfioIoctl.SET_IOMMU, s.type);
    s.map(0n, MiB);
    const both = encodeVfioDirtyBitmap({
      argsz: 8,
      flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
    });
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, both).ret).toBe(E("EINVAL"));
    const get = encodeVfioDirtyBitmap({
      argsz: 48,
      flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
      get: { iova: 0n, size: MiB, bitmap: { pgsize: P, size: 32n, data: s.va + 15n * MiB } },
    });
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, get).ret).toBe(E("EINVAL"));
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, start).ret).toBe(0);
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, start).ret).toBe(0);
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, get).ret).toBe(0);
    const stop = encodeVfioDirtyBitmap({ argsz: 8, flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP });
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, stop).ret).toBe(0);
    expect(s.io(VfioIoctl.IOMMU_DIRTY_PAGES, stop).ret).toBe(0);
  });

  it('dirty scope "all" (the kernel default) reports every mapped page; "written" only DMA-written ones', () => {
    for (const [scope, expected] of [
      ["all", 0xff],
      ["written", 0b100],
    ] as const) {
      const m = machine({ vfio: { dirtyScope: scope } });
      const { device, group } = m.addDevice(1);
      const proc = m.vfio.createProcess();
      const c = m.vfio.openContainer(proc);
      m.vfio.openGroup(proc, group.id).setContainer(c);
      c.setIommu(VfioExtension.TYPE1v2_IOMMU);
      const va = proc.mmap({
        length: 8n * P,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_ANONYMOUS | MAP_PRIVATE,
      });
      c.mapDma({ flags: R | W, vaddr: va, iova: 0, size: 8n * P });
      c.dirtyStart();
      m.vfio.deviceDma(device, { iova: 2n * P + 5n, length: 1, write: true, data: new Uint8Array(1) });
      // DMA straight on the core bypasses the hook.
      m.core.deviceDma(device, { iova: 5n * P, length: 1, write: true, data: new Uint8Array(1) });
      const out = new Uint8Array(8);
      c.dirtyGetBitmap({ iova: 0, size: 8n * P, bitmap: { pgsize: P, size: 8 } }, out);
      expect(out[0]).toBe(expected);
    }
  });
});
