/**
 * End-to-end VFIO scenarios that run on any backend: each takes a factory of a fresh backend (plus
 * the RAM process memory comes from), builds a machine, drives a process through containers,
 * groups and type1 mappings, lets the device DMA through the hardware datapath, and throws a
 * `VfioScenarioError` naming the first broken expectation. They return what they observed. This
 * module imports nothing but `@iommu-sim/iommu` and this package, so the cross-backend test package
 * runs it on every backend; this package's own tests run it on the reference backend.
 */

import {
  createIommuCore,
  type IommuBackend,
  type IommuCore,
  type IommuDevice,
  type PageProvider,
  type PhysBus,
} from "@iommu-sim/iommu";
import { createVfio, type Vfio, type VfioOptions } from "./container/vfio.js";
import { createIommufd } from "./iommufd/iommufd.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "./process/mman.js";
import { toCString } from "./uapi/bytes.js";
import {
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VfioExtension,
  VfioIoctl,
} from "./uapi/constants.js";
import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from "./uapi/iommufd-structs.js";
import {
  encodeVfioDirtyBitmap,
  encodeVfioDmaMap,
  encodeVfioDmaUnmap,
  encodeVfioGroupStatus,
  VFIO_DIRTY_BITMAP_GET_SIZE,
  VFIO_DIRTY_BITMAP_SIZE,
  VFIO_DMA_MAP_SIZE,
  VFIO_DMA_UNMAP_SIZE,
} from "./uapi/structs.js";
import { decodeType1Info } from "./uapi/type1-info.js";

/** What a scenario needs from a backend (the shape `@iommu-sim/dma`'s scenarios take too). */
export interface VfioScenarioBackend {
  /** A fresh backend; its `memory` is the machine's memory. */
  readonly backend: IommuBackend;
  /** Allocator of system RAM in `backend.memory`, disjoint from page-table pages. */
  readonly ram: PageProvider;
  /**
   * Adds the `index`-th bus master (0, 1, ...) behind the backend, alone in its group.
   * @default a PCIe root-complex integrated endpoint at 00:(index+1).0
   */
  addDevice?(core: IommuCore, index: number): IommuDevice;
}

/** Makes a fresh {@link VfioScenarioBackend} per call. */
export type VfioScenarioBackendFactory = () => VfioScenarioBackend;

/** A broken expectation of a scenario. */
export class VfioScenarioError extends Error {
  constructor(scenario: string, message: string) {
    super(`${scenario}: ${message}`);
    this.name = "VfioScenarioError";
  }
}

/** A machine built by {@link vfioScenarioMachine}. */
export interface VfioScenarioMachine {
  readonly core: IommuCore;
  readonly vfio: Vfio;
  readonly memory: PhysBus;
  readonly ram: PageProvider;
  readonly backend: IommuBackend;
  /** Adds the `index`-th bus master. */
  addDevice(index: number): IommuDevice;
}

/**
 * Builds a machine on a fresh backend: a strict core, the backend registered, VFIO over it with
 * `allow_unsafe_interrupts` on (no simulated backend reports interrupt remapping); override with `vfio`.
 */
export function vfioScenarioMachine(
  factory: VfioScenarioBackendFactory,
  options: { vfio?: Partial<VfioOptions> } = {},
): VfioScenarioMachine {
  const made = factory();
  const memory = made.backend.memory;
  const core = createIommuCore({ memory });
  core.registerIommu(made.backend);
  const vfio = createVfio(core, { ram: made.ram, memory, allowUnsafeInterrupts: true, ...options.vfio });
  const addDevice =
    made.addDevice ??
    ((c: IommuCore, index: number) => c.addPciDevice({ bus: 0, slot: index + 1, kind: "rc-endpoint" }));
  return { core, vfio, memory, ram: made.ram, backend: made.backend, addDevice: (i) => addDevice(core, i) };
}

const pattern = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};
const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** The lowest IOVA aligned to `align` with `size` bytes inside one valid range, at or above `floor`. */
function pickIova(
  ranges: readonly { start: bigint; end: bigint }[],
  size: bigint,
  align: bigint,
  floor: bigint,
) {
  for (const r of ranges) {
    let at = r.start > floor ? r.start : floor;
    at = ((at + align - 1n) / align) * align;
    if (at + size - 1n <= r.end) return at;
  }
  return undefined;
}

/** What {@link runVfioMapScenario} observed. */
export interface VfioMapScenarioResult {
  /** The IOVA the buffer was mapped at. */
  readonly iova: bigint;
  /** The valid IOVA ranges type1 reported. */
  readonly iovaRanges: readonly { start: bigint; end: bigint }[];
  /** Page sizes type1 reported (`iova_pgsizes`). */
  readonly pgsizes: bigint;
  /** Dirty bits GET_BITMAP reported for the first 8 pages (bit n = page n). */
  readonly dirtyBits: number;
  /** Fault reason of the DMA after unmap. */
  readonly faultReason: string;
  /** `lockedVm` before mapping, while mapped, and after unmapping. */
  readonly locked: readonly [number, number, number];
}

/**
 * The classic VFIO flow, end to end: a process opens a container and the device's group (viable),
 * attaches it, selects TYPE1v2, maps a 1 MiB buffer READ|WRITE at an IOVA of the valid list; the
 * device (opened by name) writes into it by DMA and the process reads the bytes at its virtual
 * address; the device reads what the CPU wrote; dirty tracking reports the written page; after
 * unmap the same DMA faults, the page is unpinned and locked memory is back where it started;
 * closing the files returns the group to its default domain, and process exit frees its memory.
 */
export function runVfioMapScenario(factory: VfioScenarioBackendFactory): VfioMapScenarioResult {
  const name = "vfio map";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new VfioScenarioError(name, message);
  };
  const m = vfioScenarioMachine(factory, { vfio: { dirtyScope: "written" } });
  const dev = m.addDevice(0);
  const group = m.core.groupGet(dev);
  check(group !== undefined, "the device has no group");
  const defaultDomain = group!.defaultDomain;
  const ramBefore = m.ram.pagesInUse;

  const proc = m.vfio.createProcess({ rlimitMemlock: 64 << 20 });
  const container = m.vfio.openContainer(proc);
  check(container.getApiVersion() === 0, "VFIO_GET_API_VERSION is not 0");
  check(container.checkExtension(VfioExtension.TYPE1v2_IOMMU) === 1, "TYPE1v2 is not offered");
  const gfile = m.vfio.openGroup(proc, group!.id);
  check(gfile.getStatus() === VFIO_GROUP_FLAGS_VIABLE, `group status ${gfile.getStatus()} is not VIABLE`);
  gfile.setContainer(container);
  check(
    gfile.getStatus() === (VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET),
    "group status lacks CONTAINER_SET",
  );
  container.setIommu(VfioExtension.TYPE1v2_IOMMU);
  const info = container.getInfo();
  const pgsizes = BigInt(info.pgsizeBitmap);
  check((pgsizes & 0x1000n) !== 0n, `iova_pgsizes ${pgsizes.toString(16)} lacks 4 KiB`);
  const iovaRanges = info.iovaRanges.map((r) => ({ start: BigInt(r.start), end: BigInt(r.end) }));
  const size = 1n << 20n;
  const iova = pickIova(iovaRanges, size, size, size);
  check(iova !== undefined, "no valid IOVA range holds 1 MiB");

  const va = proc.mmap({ length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_ANONYMOUS | MAP_PRIVATE });
  const lockedStart = proc.lockedVm;
  container.mapDma({
    flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
    vaddr: va,
    iova: iova!,
    size,
  });
  const lockedMapped = proc.lockedVm;
  check(lockedMapped === lockedStart + Number(size), `locked ${lockedMapped} after mapping 1 MiB`);
  const devfile = gfile.getDeviceFd(dev.name);
  container.dirtyStart();

  // Device -> process memory.
  const data = pattern(6000, 5);
  const off = 0x1234n;
  const w = m.vfio.deviceDma(dev, { iova: iova! + off, length: data.length, write: true, data });
  check(w.ok, `device write faulted: ${w.ok ? "" : w.reason}`);
  check(same(proc.read(va + off, data.length), data), "the process does not see the device's bytes");
  // Process memory -> device.
  const cpu = pattern(500, 9);
  proc.write(va + 0x8000n, cpu);
  const r = m.vfio.deviceDma(dev, { iova: iova! + 0x8000n, length: cpu.length, write: false });
  check(r.ok && r.data !== undefined && same(r.data, cpu), "the device does not read what the process wrote");

  // Dirty pages: the device wrote pages 1 and 2 (0x1234 .. 0x1234 + 6000).
  const bitmap = new Uint8Array(Number(size / 4096n / 8n));
  container.dirtyGetBitmap({ iova: iova!, size, bitmap: { pgsize: 4096, size: bitmap.length } }, bitmap);
  const dirtyBits = bitmap[0]!;
  check(dirtyBits === 0b110, `dirty bits 0b${dirtyBits.toString(2)} are not pages 1 and 2`);

  const pa = proc.translate(va + off);
  check(pa !== undefined && proc.pinCount(pa - (pa % 4096)) === 1, "the mapped page is not pinned once");
  const unmapped = container.unmapDma({ flags: 0, iova: iova!, size });
  check(unmapped === size, `unmapped ${unmapped} bytes, not ${size}`);
  const after = m.vfio.deviceDma(dev, { iova: iova! + off, length: 4, write: true, data: new Uint8Array(4) });
  check(!after.ok, "DMA after unmap succeeded");
  const faultReason = after.ok ? "" : after.reason;
  check(proc.pinCount(pa! - (pa! % 4096)) === 0, "the page is still pinned after unmap");
  const lockedEnd = proc.lockedVm;
  check(lockedEnd === lockedStart, `locked memory ${lockedEnd} did not return to ${lockedStart}`);

  devfile.close();
  gfile.close();
  container.close();
  check(m.core.getDomainForDevice(dev) === defaultDomain, "the group is not back on its default domain");
  m.vfio.exitProcess(proc);
  check(m.ram.pagesInUse === ramBefore, `RAM pages leaked: ${m.ram.pagesInUse - ramBefore}`);
  return {
    iova: iova!,
    iovaRanges,
    pgsizes,
    dirtyBits,
    faultReason,
    locked: [lockedStart, lockedMapped, lockedEnd],
  };
}

/** What {@link runVfioIoctlScenario} observed. */
export interface VfioIoctlScenarioResult {
  /** `ret` of each ioctl, in order. */
  readonly rets: readonly number[];
  /** `size` UNMAP_DMA wrote back. */
  readonly unmappedSize: bigint;
}

/**
 * The same flow through the binary UAPI only, as a recorded client would issue it: GET_API_VERSION,
 * CHECK_EXTENSION, GROUP_GET_STATUS, GROUP_SET_CONTAINER, SET_IOMMU, GET_INFO twice (argsz
 * protocol), MAP_DMA, GET_DEVICE_FD, device DMA, DIRTY_PAGES START and GET_BITMAP (bitmap in
 * process memory), UNMAP_DMA; every process-visible effect checked.
 */
export function runVfioIoctlScenario(factory: VfioScenarioBackendFactory): VfioIoctlScenarioResult {
  const name = "vfio ioctl";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new VfioScenarioError(name, message);
  };
  const m = vfioScenarioMachine(factory, { vfio: { dirtyScope: "written" } });
  const dev = m.addDevice(0);
  const proc = m.vfio.createProcess({ rlimitMemlock: 64 << 20 });
  const container = m.vfio.openContainer(proc).fd!;
  const groupFd = m.vfio.openGroup(proc, m.core.groupGet(dev)!.id).fd!;
  const rets: number[] = [];
  const io = (fd: number, request: number, arg?: Uint8Array | number) => {
    const r = m.vfio.ioctl(fd, request, arg);
    rets.push(r.ret);
    return r;
  };
  check(io(container, VfioIoctl.GET_API_VERSION).ret === 0, "GET_API_VERSION");
  check(io(container, VfioIoctl.CHECK_EXTENSION, VfioExtension.TYPE1v2_IOMMU).ret === 1, "CHECK_EXTENSION");
  const st = io(groupFd, VfioIoctl.GROUP_GET_STATUS, encodeVfioGroupStatus({ argsz: 8, flags: 0 }));
  check(st.ret === 0 && st.out[4] === VFIO_GROUP_FLAGS_VIABLE, "GROUP_GET_STATUS is not VIABLE");
  const fdArg = new Uint8Array(4);
  new DataView(fdArg.buffer).setInt32(0, container, true);
  check(io(groupFd, VfioIoctl.GROUP_SET_CONTAINER, fdArg).ret === 0, "GROUP_SET_CONTAINER");
  check(io(container, VfioIoctl.SET_IOMMU, VfioExtension.TYPE1v2_IOMMU).ret === 0, "SET_IOMMU");
  const probe = new Uint8Array(24);
  new DataView(probe.buffer).setUint32(0, 24, true);
  const first = io(container, VfioIoctl.IOMMU_GET_INFO, probe);
  const need = new DataView(first.out.buffer).getUint32(0, true);
  check(first.ret === 0 && need > 24, `GET_INFO asked for ${need} bytes`);
  const full = new Uint8Array(need);
  new DataView(full.buffer).setUint32(0, need, true);
  const info = decodeType1Info(io(container, VfioIoctl.IOMMU_GET_INFO, full).out);
  const rangeCap = info.caps.find((c) => c.id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
  check(rangeCap !== undefined && "ranges" in rangeCap, "GET_INFO has no IOVA range capability");
  const size = 1n << 20n;
  const iova = pickIova((rangeCap as { ranges: { start: bigint; end: bigint }[] }).ranges, size, size, size);
  check(iova !== undefined, "no valid IOVA for 1 MiB");
  const va = proc.mmap({
    length: size + 4096n,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_ANONYMOUS | MAP_PRIVATE,
  });
  const flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  const mapArg = encodeVfioDmaMap({ argsz: VFIO_DMA_MAP_SIZE, flags, vaddr: va, iova: iova!, size });
  check(io(container, VfioIoctl.IOMMU_MAP_DMA, mapArg).ret === 0, "MAP_DMA");
  const devFd = io(groupFd, VfioIoctl.GROUP_GET_DEVICE_FD, toCString(dev.name)).ret;
  check(devFd > 0, `GET_DEVICE_FD returned ${devFd}`);
  const start = encodeVfioDirtyBitmap({
    argsz: VFIO_DIRTY_BITMAP_SIZE,
    flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  });
  check(io(container, VfioIoctl.IOMMU_DIRTY_PAGES, start).ret === 0, "DIRTY_PAGES START");
  const data = pattern(64, 3);
  const w = m.vfio.deviceDma(dev, { iova: iova! + 0x5000n, length: 64, write: true, data });
  check(w.ok && same(proc.read(va + 0x5000n, 64), data), "device write not seen by the process");
  // The bitmap lives in the process, right after the buffer.
  const bitmapVa = va + size;
  const get = encodeVfioDirtyBitmap({
    argsz: VFIO_DIRTY_BITMAP_SIZE + VFIO_DIRTY_BITMAP_GET_SIZE,
    flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
    get: { iova: iova!, size, bitmap: { pgsize: 4096n, size: 32n, data: bitmapVa } },
  });
  check(io(container, VfioIoctl.IOMMU_DIRTY_PAGES, get).ret === 0, "DIRTY_PAGES GET_BITMAP");
  check(proc.read(bitmapVa, 1)[0] === 1 << 5, `dirty bitmap byte ${proc.read(bitmapVa, 1)[0]} is not page 5`);
  const unmapArg = encodeVfioDmaUnmap({ argsz: VFIO_DMA_UNMAP_SIZE, flags: 0, iova: iova!, size });
  const un = io(container, VfioIoctl.IOMMU_UNMAP_DMA, unmapArg);
  const unmappedSize = new DataView(un.out.buffer).getBigUint64(16, true);
  check(un.ret === 0 && unmappedSize === size, `UNMAP_DMA wrote back ${unmappedSize}`);
  check(proc.lockedVm === 0, `locked memory ${proc.lockedVm} after unmap`);
  m.vfio.exitProcess(proc);
  check(m.core.dmaApiUsable(dev), "the device is not back on its default domain after exit");
  return { rets, unmappedSize };
}

/** What {@link runIommufdScenario} observed. */
export interface IommufdScenarioResult {
  /** The IOVA the kernel chose for the 64 KiB buffer. */
  readonly iova: bigint;
  /** The IOAS's usable ranges with the device attached. */
  readonly ranges: readonly { start: bigint; last: bigint }[];
  /** Fault reason of the DMA after unmap. */
  readonly faultReason: string;
}

/**
 * iommufd, end to end: a process allocates an IOAS, binds and attaches the device (an automatic
 * domain, ownership claimed), maps a 64 KiB buffer at an IOVA the kernel chooses (never 0, 64 KiB
 * aligned), the device writes it, the process reads the bytes; unmap faults the DMA and unpins;
 * destroying the device and the IOAS returns the group to its default domain.
 */
export function runIommufdScenario(factory: VfioScenarioBackendFactory): IommufdScenarioResult {
  const name = "iommufd";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new VfioScenarioError(name, message);
  };
  const m = vfioScenarioMachine(factory);
  const dev = m.addDevice(0);
  const proc = m.vfio.createProcess({ rlimitMemlock: 64 << 20 });
  const fd = createIommufd(m.core, { process: proc });
  const ioas = fd.ioasAlloc();
  const devId = fd.bindDevice(dev);
  fd.attach(devId, ioas);
  const ranges = fd.ioasIovaRanges(ioas).ranges;
  const size = 0x1_0000n;
  const va = proc.mmap({ length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_ANONYMOUS | MAP_PRIVATE });
  const iova = fd.ioasMap(ioas, {
    flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
    userVa: va,
    length: size,
  });
  check(iova !== 0n && iova % size === 0n, `automatic IOVA ${iova} is 0 or not 64 KiB aligned`);
  check(proc.lockedVm === Number(size), `locked ${proc.lockedVm} after mapping 64 KiB`);
  const data = pattern(300, 1);
  const w = m.core.deviceDma(dev, { iova: iova + 0x2000n, length: data.length, write: true, data });
  check(
    w.ok && same(proc.read(va + 0x2000n, data.length), data),
    "the process does not see the device's bytes",
  );
  check(fd.ioasUnmap(ioas, iova, size) === size, "IOAS_UNMAP did not unmap 64 KiB");
  const after = m.core.deviceDma(dev, { iova: iova + 0x2000n, length: 1, write: false });
  check(!after.ok && proc.lockedVm === 0, "DMA after unmap succeeded or pages stayed pinned");
  fd.destroy(devId);
  fd.destroy(ioas);
  check(m.core.dmaApiUsable(dev), "the device is not back on its default domain");
  m.vfio.exitProcess(proc);
  return { iova, ranges, faultReason: after.ok ? "" : after.reason };
}
