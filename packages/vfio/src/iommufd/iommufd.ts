/**
 * An iommufd context (`/dev/iommu`, drivers/iommu/iommufd/main.c): objects addressed by u32 ids
 * (IOAS, auto-created HW_PAGETABLEs, bound devices), the IOAS ioctls over {@link createIoPagetable},
 * and the binary ioctl layer with the generic size rules. `createIommufd()` is the way in.
 */
import {
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuCore,
  type IommuDevice,
  type IommuDomain,
  IommuError,
} from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import { setU32, setU64, view } from "../uapi/bytes.js";
import { negErrno } from "../uapi/errno.js";
import { IommufdIoctl } from "../uapi/iommufd-constants.js";
import {
  decodeIommuDestroy,
  decodeIommuIoasAlloc,
  decodeIommuIoasAllowIovas,
  decodeIommuIoasCopy,
  decodeIommuIoasIovaRanges,
  decodeIommuIoasMap,
  decodeIommuIoasUnmap,
  decodeIommuIovaRanges,
  encodeIommuIovaRanges,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOVA_RANGE_SIZE,
} from "../uapi/iommufd-structs.js";
import { U64_MAX, type U64Like } from "../util/u64.js";
import { createIoPagetable, type IoPagetable, type IovaSpan } from "./io-pagetable.js";

/** Options of {@link createIommufd}. */
export interface IommufdOptions {
  /** The process that opened `/dev/iommu`: its memory is what IOAS_MAP pins. */
  process: SimProcess;
}

/** `IOMMU_IOAS_MAP` as values. */
export interface IoasMapRequest {
  /** `IOMMU_IOAS_MAP_*` (FIXED_IOVA, WRITEABLE, READABLE). */
  flags: number;
  userVa: U64Like;
  length: U64Like;
  /** Required with FIXED_IOVA. */
  iova?: U64Like;
}

/** `IOMMU_IOAS_COPY` as values. */
export interface IoasCopyRequest {
  /** `IOMMU_IOAS_MAP_*`. */
  flags: number;
  dstIoasId: number;
  srcIoasId: number;
  length: U64Like;
  srcIova: U64Like;
  /** Required with FIXED_IOVA. */
  dstIova?: U64Like;
}

/** An iommufd context, from {@link createIommufd}. */
export interface Iommufd {
  /** The owning process. */
  readonly process: SimProcess;
  /** `IOMMU_IOAS_ALLOC`: a new, empty IOAS; returns its id. */
  ioasAlloc(): number;
  /**
   * `IOMMU_DESTROY`: `ENOENT` for an unknown id; `EBUSY` for an IOAS with a page table or a page
   * table with devices. Destroying an IOAS unmaps everything; destroying a device id unbinds it.
   */
  destroy(id: number): void;
  /**
   * `IOMMU_IOAS_MAP`: `ENOENT` for a non-IOAS id; `EOPNOTSUPP` for unknown flags; `EINVAL` without
   * READABLE/WRITEABLE; `EOVERFLOW` for a length or iova of `U64_MAX`; then the IO page table's
   * rules. Returns the IOVA.
   */
  ioasMap(ioasId: number, request: IoasMapRequest): bigint;
  /** `IOMMU_IOAS_UNMAP`: `(0, U64_MAX)` unmaps everything; otherwise no splitting (`ENOENT`). Bytes unmapped. */
  ioasUnmap(ioasId: number, iova: U64Like, length: U64Like): bigint;
  /** `IOMMU_IOAS_COPY`: shares the source's pages in the destination (no new pins). Returns the IOVA. */
  ioasCopy(request: IoasCopyRequest): bigint;
  /** `IOMMU_IOAS_IOVA_RANGES`: the usable ranges and `out_iova_alignment`. */
  ioasIovaRanges(ioasId: number): { ranges: IovaSpan[]; alignment: bigint };
  /** `IOMMU_IOAS_ALLOW_IOVAS`: see the IO page table's `allowIovas`. */
  ioasAllowIovas(ioasId: number, ranges: readonly IovaSpan[]): void;
  /**
   * Binds a device (the VFIO cdev `BIND_IOMMUFD`): claims its DMA ownership for this context
   * (`EPERM` when a kernel driver uses its group). Returns the device id.
   */
  bindDevice(device: IommuDevice): number;
  /**
   * Attaches a bound device to an IOAS (through the IOAS's automatic page table for the device's
   * IOMMU, created on first use: a domain, its aperture and the device's reserved regions reserved,
   * every area pinned and mapped) or to an existing page table id. `ENOENT` for unknown ids;
   * `EINVAL` when already attached; reservation conflicts `EADDRINUSE`; pinning and mapping errors.
   * Returns the page table id.
   */
  attach(deviceId: number, ptId: number): number;
  /** Detaches a device; an automatic page table left without devices is destroyed. */
  detach(deviceId: number): void;
  /**
   * The selftest's `IOMMU_TEST_OP_ADD_RESERVED`: reserves `[start, last]` in an IOAS
   * (`EADDRINUSE` over an allowed range or an area).
   */
  testAddReserved(ioasId: number, start: bigint, last: bigint): void;
  /** The IO page table of an IOAS (tests and debugging). */
  ioas(ioasId: number): IoPagetable;
  /**
   * ioctl(2) on the context with the binary structs. Never throws: `ret` is 0 or `-errno`, `out`
   * the struct as written back. Pointers (`allowed_iovas`) are addresses in {@link process}.
   */
  ioctl(request: number, arg?: Uint8Array): { ret: number; out: Uint8Array };
  /** close(2): detaches and unbinds every device, destroys every object. */
  close(): void;
}

type IommufdObject =
  | { kind: "ioas"; iopt: IoPagetable; hwpts: Set<number> }
  | { kind: "hwpt"; domain: IommuDomain; ioasId: number; devices: Set<number>; auto: boolean }
  | { kind: "device"; device: IommuDevice; hwptId: number | undefined };

const MAP_RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const KNOWN_MAP = MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA;

function u64(value: U64Like, what: string): bigint {
  const v = BigInt(value);
  if (v < 0n || v > U64_MAX) throw new IommuError("EINVAL", `${what} ${v} is not a u64`);
  return v;
}

/** Checks MAP/COPY flags and turns them into IOMMU prot. */
function mapProt(flags: number, what: string): number {
  if ((flags & ~KNOWN_MAP) !== 0)
    throw new IommuError("EOPNOTSUPP", `${what}: unknown flags 0x${flags.toString(16)}`);
  if ((flags & MAP_RW) === 0) throw new IommuError("EINVAL", `${what}: neither READABLE nor WRITEABLE`);
  return (
    ((flags & IOMMU_IOAS_MAP_READABLE) !== 0 ? IOMMU_READ : 0) |
    ((flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0 ? IOMMU_WRITE : 0)
  );
}

/** Creates an iommufd context for `options.process` on the machine's IOMMU core. */
export function createIommufd(core: IommuCore, options: IommufdOptions): Iommufd {
  const { process } = options;
  const objects = new Map<number, IommufdObject>();
  let nextId = 1;
  const alloc = (obj: IommufdObject): number => {
    const id = nextId++;
    objects.set(id, obj);
    return id;
  };
  const get = <K extends IommufdObject["kind"]>(id: number, kind: K): Extract<IommufdObject, { kind: K }> => {
    const obj = objects.get(id);
    if (!obj || obj.kind !== kind) throw new IommuError("ENOENT", `iommufd: no ${kind} with id ${id}`);
    return obj as Extract<IommufdObject, { kind: K }>;
  };
  const owner = {};

  const regionsOf = (device: IommuDevice): IovaSpan[] =>
    core
      .deviceResvRegions(device)
      .filter((r) => r.type !== "direct-relaxable")
      .map((r) => ({ start: r.start, last: r.start + r.length - 1n }));

  const detach = (deviceId: number): void => {
    const dev = get(deviceId, "device");
    if (dev.hwptId === undefined)
      throw new IommuError("EINVAL", `iommufd: device ${deviceId} is not attached`);
    const hwpt = get(dev.hwptId, "hwpt");
    const group = core.groupGet(dev.device)!;
    core.detachGroup(hwpt.domain, group);
    hwpt.devices.delete(deviceId);
    const hwptId = dev.hwptId;
    dev.hwptId = undefined;
    if (hwpt.auto && hwpt.devices.size === 0) {
      const ioas = get(hwpt.ioasId, "ioas");
      ioas.iopt.removeDomain(hwpt.domain);
      ioas.hwpts.delete(hwptId);
      core.domainFree(hwpt.domain);
      objects.delete(hwptId);
    }
  };

  const self: Iommufd = {
    process,
    ioasAlloc: () => alloc({ kind: "ioas", iopt: createIoPagetable(core), hwpts: new Set() }),

    destroy(id) {
      const obj = objects.get(id);
      if (!obj) throw new IommuError("ENOENT", `IOMMU_DESTROY: no object ${id}`);
      if (obj.kind === "ioas") {
        if (obj.hwpts.size > 0) throw new IommuError("EBUSY", `IOMMU_DESTROY: IOAS ${id} has page tables`);
        obj.iopt.unmapAll();
      } else if (obj.kind === "hwpt") {
        if (obj.devices.size > 0)
          throw new IommuError("EBUSY", `IOMMU_DESTROY: page table ${id} has devices`);
        get(obj.ioasId, "ioas").hwpts.delete(id);
        get(obj.ioasId, "ioas").iopt.removeDomain(obj.domain);
        core.domainFree(obj.domain);
      } else {
        if (obj.hwptId !== undefined) detach(id);
        core.deviceReleaseDmaOwner(obj.device);
      }
      objects.delete(id);
    },

    ioasMap(ioasId, request) {
      const { iopt } = get(ioasId, "ioas");
      const prot = mapProt(request.flags, "IOAS_MAP");
      const length = u64(request.length, "length");
      const userVa = u64(request.userVa, "user_va");
      const fixed = (request.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
      const iova = fixed ? u64(request.iova ?? 0, "iova") : undefined;
      if (length >= U64_MAX || (iova ?? 0n) >= U64_MAX)
        throw new IommuError("EOVERFLOW", "IOAS_MAP: length or iova");
      if (userVa >= 2n ** 53n)
        throw new IommuError("EFAULT", "IOAS_MAP: user_va is beyond the address space");
      return iopt.map({
        process,
        userVa: Number(userVa),
        length,
        prot,
        ...(iova !== undefined ? { iova } : {}),
      });
    },

    ioasUnmap(ioasId, iova, length) {
      const { iopt } = get(ioasId, "ioas");
      const start = u64(iova, "iova");
      const len = u64(length, "length");
      if (start === 0n && len === U64_MAX) return iopt.unmapAll();
      return iopt.unmap(start, len);
    },

    ioasCopy(request) {
      const dst = get(request.dstIoasId, "ioas");
      const src = get(request.srcIoasId, "ioas");
      const prot = mapProt(request.flags, "IOAS_COPY");
      const length = u64(request.length, "length");
      if (length >= U64_MAX) throw new IommuError("EOVERFLOW", "IOAS_COPY: length");
      const fixed = (request.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
      const dstIova = fixed ? u64(request.dstIova ?? 0, "dst_iova") : undefined;
      return src.iopt.copyTo(dst.iopt, u64(request.srcIova, "src_iova"), length, prot, dstIova);
    },

    ioasIovaRanges(ioasId) {
      const { iopt } = get(ioasId, "ioas");
      return { ranges: iopt.iovaRanges(), alignment: BigInt(iopt.iovaAlignment) };
    },

    ioasAllowIovas(ioasId, ranges) {
      get(ioasId, "ioas").iopt.allowIovas(ranges);
    },

    bindDevice(device) {
      core.deviceClaimDmaOwner(device, owner);
      return alloc({ kind: "device", device, hwptId: undefined });
    },

    attach(deviceId, ptId) {
      const dev = get(deviceId, "device");
      if (dev.hwptId !== undefined) throw new IommuError("EINVAL", `iommufd: device ${deviceId} is attached`);
      const target = objects.get(ptId);
      if (!target || target.kind === "device")
        throw new IommuError("ENOENT", `iommufd: no IOAS or page table ${ptId}`);
      const group = core.groupGet(dev.device);
      if (!group) throw new IommuError("ENODEV", `${dev.device.name} has no IOMMU group`);
      let hwptId: number;
      let created = false;
      if (target.kind === "hwpt") {
        hwptId = ptId;
      } else {
        const existing = [...target.hwpts].find((id) => get(id, "hwpt").domain.iommu === group.iommu);
        if (existing !== undefined) {
          hwptId = existing;
        } else {
          const domain = core.domainAlloc(dev.device, IOMMU_DOMAIN_UNMANAGED);
          try {
            target.iopt.addDomain(domain, regionsOf(dev.device));
          } catch (error) {
            core.domainFree(domain);
            throw error;
          }
          hwptId = alloc({ kind: "hwpt", domain, ioasId: ptId, devices: new Set(), auto: true });
          target.hwpts.add(hwptId);
          created = true;
        }
      }
      const hwpt = get(hwptId, "hwpt");
      try {
        core.attachGroup(hwpt.domain, group);
      } catch (error) {
        if (created) {
          const ioas = get(hwpt.ioasId, "ioas");
          ioas.iopt.removeDomain(hwpt.domain);
          ioas.hwpts.delete(hwptId);
          core.domainFree(hwpt.domain);
          objects.delete(hwptId);
        }
        throw error;
      }
      hwpt.devices.add(deviceId);
      dev.hwptId = hwptId;
      return hwptId;
    },

    detach,

    testAddReserved(ioasId, start, last) {
      get(ioasId, "ioas").iopt.reserve(start, last, owner);
    },

    ioas: (ioasId) => get(ioasId, "ioas").iopt,

    ioctl(request, arg) {
      const out = arg ? arg.slice() : new Uint8Array(0);
      try {
        if (!arg) throw new IommuError("EFAULT", "iommufd: no argument");
        const dv = view(out);
        switch (request) {
          case IommufdIoctl.DESTROY:
            self.destroy(decodeIommuDestroy(arg).id);
            break;
          case IommufdIoctl.IOAS_ALLOC: {
            decodeIommuIoasAlloc(arg);
            setU32(dv, 8, self.ioasAlloc());
            break;
          }
          case IommufdIoctl.IOAS_MAP: {
            const m = decodeIommuIoasMap(arg);
            const iova = self.ioasMap(m.ioasId, {
              flags: m.flags,
              userVa: m.userVa,
              length: m.length,
              iova: m.iova,
            });
            setU64(dv, 32, iova);
            break;
          }
          case IommufdIoctl.IOAS_UNMAP: {
            const u = decodeIommuIoasUnmap(arg);
            setU64(dv, 16, self.ioasUnmap(u.ioasId, u.iova, u.length));
            break;
          }
          case IommufdIoctl.IOAS_COPY: {
            const c = decodeIommuIoasCopy(arg);
            setU64(dv, 24, self.ioasCopy({ ...c, dstIova: c.dstIova }));
            break;
          }
          case IommufdIoctl.IOAS_IOVA_RANGES: {
            const r = decodeIommuIoasIovaRanges(arg);
            const { ranges, alignment } = self.ioasIovaRanges(r.ioasId);
            const fit = ranges.slice(0, r.numIovas);
            if (fit.length > 0) process.write(r.allowedIovas, encodeIommuIovaRanges(fit));
            setU32(dv, 8, ranges.length);
            setU64(dv, 24, alignment);
            if (ranges.length > r.numIovas) {
              return { ret: negErrno(new IommuError("EMSGSIZE", "IOVA_RANGES: more ranges than room")), out };
            }
            break;
          }
          case IommufdIoctl.IOAS_ALLOW_IOVAS: {
            const a = decodeIommuIoasAllowIovas(arg);
            const bytes =
              a.numIovas === 0
                ? new Uint8Array(0)
                : process.read(a.allowedIovas, a.numIovas * IOMMU_IOVA_RANGE_SIZE);
            self.ioasAllowIovas(a.ioasId, decodeIommuIovaRanges(bytes, a.numIovas));
            break;
          }
          default:
            throw new IommuError("ENOTTY", `iommufd: unknown ioctl 0x${request.toString(16)}`);
        }
        return { ret: 0, out };
      } catch (error) {
        return { ret: negErrno(error), out: arg ? arg.slice() : out };
      }
    },

    close() {
      for (const [id, obj] of [...objects]) if (obj.kind === "device") self.destroy(id);
      for (const [id, obj] of [...objects]) if (obj.kind === "ioas") self.destroy(id);
    },
  };
  return self;
}
