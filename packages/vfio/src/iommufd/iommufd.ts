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
  decodeIommuHwptAlloc,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
} from "../uapi/iommufd-hwpt.js";
import {
  decodeIommuOption,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_RLIMIT_MODE,
} from "../uapi/iommufd-option.js";
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
import {
  decodeIommuVfioIoas,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
} from "../uapi/iommufd-vfio-ioas.js";
import { U64_MAX, type U64Like } from "../util/u64.js";
import { createIoPagetable, type IoPagetable, type IovaSpan } from "./io-pagetable.js";
import { type VfioCompatHost, vfioCompatIoctl } from "./vfio-compat.js";

/** Options of {@link createIommufd}. */
export interface IommufdOptions {
  /** The process that opened `/dev/iommu`: its memory is what IOAS_MAP pins. */
  process: SimProcess;
  /** Whether the caller has `CAP_SYS_RESOURCE` (needed to set RLIMIT_MODE). @default false */
  capSysResource?: boolean;
}

/** The operations an in-kernel user supplies with its ACCESS object (`struct iommufd_access_ops`). */
export interface IommufdAccessOps {
  /**
   * `unmap`: `[iova, iova + length)` of the IOAS is being unmapped; the user must unpin everything
   * it pinned there (with {@link Iommufd.accessUnpin}) before returning, or the unmap fails `EBUSY`.
   */
  unmap(iova: bigint, length: bigint): void;
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
   * Moves an attached device to another IOAS or page table (`VFIO_DEVICE_ATTACH_IOMMUFD_PT` on an
   * attached device): `ENOENT` for an unknown target (nothing changed); the old automatic page
   * table is destroyed when left without devices; on failure the device goes back where it was.
   * Returns the new page table id.
   */
  replace(deviceId: number, ptId: number): number;
  /**
   * `IOMMU_HWPT_ALLOC`: a page table (domain) for `deviceId`'s IOMMU backed by `ioasId`, not
   * attached to anything and not destroyed on detach. `ENOENT` for unknown ids; unknown flags and
   * NEST_PARENT (not modelled) `EOPNOTSUPP`; DIRTY_TRACKING on a device without dirty tracking
   * `EOPNOTSUPP`. Devices without dirty tracking cannot attach to a DIRTY_TRACKING page table
   * (`EINVAL`). Returns the page table id.
   */
  hwptAlloc(deviceId: number, ioasId: number, flags?: number): number;
  /**
   * The selftest's `IOMMU_TEST_OP_ADD_RESERVED`: reserves `[start, last]` in an IOAS
   * (`EADDRINUSE` over an allowed range or an area).
   */
  testAddReserved(ioasId: number, start: bigint, last: bigint): void;
  /** The IO page table of an IOAS (tests and debugging). */
  ioas(ioasId: number): IoPagetable;
  /**
   * `IOMMU_OPTION` GET. RLIMIT_MODE (`objectId` 0, else `EOPNOTSUPP`): 0 accounting per user
   * (the default), 1 per mm. HUGE_PAGES (`objectId` an IOAS, else `ENOENT`): 1 (the default) or 0.
   * Unknown options `EOPNOTSUPP`.
   */
  getOption(optionId: number, objectId: number): bigint;
  /**
   * `IOMMU_OPTION` SET. RLIMIT_MODE: `EPERM` without `CAP_SYS_RESOURCE`, `EBUSY` while any object
   * exists, values other than 0/1 `EINVAL`. HUGE_PAGES: 0 disables large pages in the IOAS
   * (`EADDRINUSE` when an area is not page aligned, `EINVAL` when domains already hold mappings),
   * 1 enables them, other values `EINVAL`. State is unchanged on failure.
   */
  setOption(optionId: number, objectId: number, value: bigint): void;
  /** The RLIMIT_MODE in force: 0 (per user) or 1 (per mm). The model's accounting is the same for both. */
  readonly rlimitMode: number;
  /**
   * `IOMMU_VFIO_IOAS`: GET returns the compat IOAS id (`ENODEV` without one); SET makes `ioasId`
   * the compat IOAS (`ENOENT` for a non-IOAS id) and returns it; CLEAR forgets it. Other ops
   * `EOPNOTSUPP`.
   */
  vfioIoas(op: number, ioasId?: number): number;
  /**
   * Creates an ACCESS object on an IOAS for an in-kernel user (`iommufd_access_create`, e.g. an
   * emulated mdev): `ENOENT` for a non-IOAS id. The IOAS cannot be destroyed while the access
   * exists (`EBUSY`). Destroying the access drops whatever it still pins. Returns the access id.
   */
  accessCreate(ioasId: number, ops: IommufdAccessOps): number;
  /**
   * `iommufd_access_pin_pages`: pins the pages behind `[iova, iova + length)` of the access's IOAS
   * (`ENOENT` where nothing is mapped, `EPERM` for a write pin of a read-only area). Returns the
   * physical address of each page.
   */
  accessPin(accessId: number, iova: bigint, length: bigint, options: { write: boolean }): number[];
  /** `iommufd_access_unpin_pages`: drops a pin taken by {@link accessPin} for the same range. */
  accessUnpin(accessId: number, iova: bigint, length: bigint): void;
  /**
   * ioctl(2) on the context with the binary structs. Never throws: `ret` is 0 (or a value) or
   * `-errno`, `out` the struct as written back. Pointers (`allowed_iovas`) are addresses in
   * {@link process}. Besides the iommufd commands, the VFIO container ioctls are answered on the
   * compat IOAS (see `vfioCompatIoctl`); value arguments (CHECK_EXTENSION, SET_IOMMU) are numbers.
   */
  ioctl(request: number, arg?: Uint8Array | number | bigint): { ret: number; out: Uint8Array };
  /** close(2): detaches and unbinds every device, destroys every object. */
  close(): void;
}

type IommufdObject =
  | { kind: "ioas"; iopt: IoPagetable; hwpts: Set<number> }
  | {
      kind: "hwpt";
      domain: IommuDomain;
      ioasId: number;
      devices: Set<number>;
      auto: boolean;
      /** Allocated with `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`. */
      dirty: boolean;
    }
  | { kind: "device"; device: IommuDevice; hwptId: number | undefined }
  | { kind: "access"; ioasId: number; pins: { iova: bigint; length: bigint }[]; remove: () => void };

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
  const capSysResource = options.capSysResource ?? false;
  const objects = new Map<number, IommufdObject>();
  let rlimitMode = 0;
  let compatIoasId: number | undefined;
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
        const users = [...objects.values()].some((o) => o.kind === "access" && o.ioasId === id);
        if (users) throw new IommuError("EBUSY", `IOMMU_DESTROY: IOAS ${id} has access users`);
        obj.iopt.unmapAll();
        if (compatIoasId === id) compatIoasId = undefined;
      } else if (obj.kind === "access") {
        const { iopt } = get(obj.ioasId, "ioas");
        for (const pin of obj.pins) iopt.accessUnpin(pin.iova, pin.length);
        obj.remove();
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
      if (!target || target.kind === "device" || target.kind === "access")
        throw new IommuError("ENOENT", `iommufd: no IOAS or page table ${ptId}`);
      const group = core.groupGet(dev.device);
      if (!group) throw new IommuError("ENODEV", `${dev.device.name} has no IOMMU group`);
      let hwptId: number;
      let created = false;
      if (target.kind === "hwpt") {
        if (target.dirty && !core.capable(dev.device, "dirty-tracking")) {
          throw new IommuError(
            "EINVAL",
            `iommufd: ${dev.device.name} cannot track dirty pages for page table ${ptId}`,
          );
        }
        hwptId = ptId;
      } else {
        // Only automatic page tables are shared; user-allocated ones are attached by their id.
        const existing = [...target.hwpts].find((id) => {
          const h = get(id, "hwpt");
          return h.auto && h.domain.iommu === group.iommu;
        });
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
          hwptId = alloc({
            kind: "hwpt",
            domain,
            ioasId: ptId,
            devices: new Set(),
            auto: true,
            dirty: false,
          });
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

    replace(deviceId, ptId) {
      const dev = get(deviceId, "device");
      if (dev.hwptId === undefined) return self.attach(deviceId, ptId);
      const target = objects.get(ptId);
      if (!target || (target.kind !== "ioas" && target.kind !== "hwpt")) {
        throw new IommuError("ENOENT", `iommufd: no IOAS or page table ${ptId}`);
      }
      const old = get(dev.hwptId, "hwpt");
      const back = old.auto ? old.ioasId : dev.hwptId;
      detach(deviceId);
      try {
        return self.attach(deviceId, ptId);
      } catch (error) {
        self.attach(deviceId, back);
        throw error;
      }
    },

    hwptAlloc(deviceId, ioasId, flags = 0) {
      if ((flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)) !== 0) {
        throw new IommuError("EOPNOTSUPP", `HWPT_ALLOC: unknown flags 0x${flags.toString(16)}`);
      }
      const dev = get(deviceId, "device");
      const ioas = get(ioasId, "ioas");
      if ((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0) {
        throw new IommuError("EOPNOTSUPP", "HWPT_ALLOC: nesting parents are not modelled");
      }
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      if (dirty && !core.capable(dev.device, "dirty-tracking")) {
        throw new IommuError("EOPNOTSUPP", `HWPT_ALLOC: ${dev.device.name} has no dirty tracking`);
      }
      const domain = core.domainAlloc(dev.device, IOMMU_DOMAIN_UNMANAGED);
      try {
        ioas.iopt.addDomain(domain, regionsOf(dev.device));
      } catch (error) {
        core.domainFree(domain);
        throw error;
      }
      const id = alloc({ kind: "hwpt", domain, ioasId, devices: new Set(), auto: false, dirty });
      ioas.hwpts.add(id);
      return id;
    },

    testAddReserved(ioasId, start, last) {
      get(ioasId, "ioas").iopt.reserve(start, last, owner);
    },

    ioas: (ioasId) => get(ioasId, "ioas").iopt,

    get rlimitMode() {
      return rlimitMode;
    },

    getOption(optionId, objectId) {
      if (optionId === IOMMU_OPTION_RLIMIT_MODE) {
        if (objectId !== 0)
          throw new IommuError("EOPNOTSUPP", `RLIMIT_MODE is global, not of object ${objectId}`);
        return BigInt(rlimitMode);
      }
      if (optionId === IOMMU_OPTION_HUGE_PAGES) return get(objectId, "ioas").iopt.hugePages ? 1n : 0n;
      throw new IommuError("EOPNOTSUPP", `IOMMU_OPTION: unknown option ${optionId}`);
    },

    setOption(optionId, objectId, value) {
      if (optionId === IOMMU_OPTION_RLIMIT_MODE) {
        if (objectId !== 0)
          throw new IommuError("EOPNOTSUPP", `RLIMIT_MODE is global, not of object ${objectId}`);
        if (!capSysResource) throw new IommuError("EPERM", "RLIMIT_MODE: CAP_SYS_RESOURCE is needed");
        if (objects.size > 0) throw new IommuError("EBUSY", "RLIMIT_MODE: the context already has objects");
        if (value !== 0n && value !== 1n) throw new IommuError("EINVAL", `RLIMIT_MODE: value ${value}`);
        rlimitMode = Number(value);
        return;
      }
      if (optionId === IOMMU_OPTION_HUGE_PAGES) {
        const { iopt } = get(objectId, "ioas");
        if (value !== 0n && value !== 1n) throw new IommuError("EINVAL", `HUGE_PAGES: value ${value}`);
        iopt.setHugePages(value === 1n);
        return;
      }
      throw new IommuError("EOPNOTSUPP", `IOMMU_OPTION: unknown option ${optionId}`);
    },

    vfioIoas(op, ioasId = 0) {
      switch (op) {
        case IOMMU_VFIO_IOAS_GET:
          if (compatIoasId === undefined) throw new IommuError("ENODEV", "IOMMU_VFIO_IOAS: no compat IOAS");
          return compatIoasId;
        case IOMMU_VFIO_IOAS_SET:
          get(ioasId, "ioas");
          compatIoasId = ioasId;
          return ioasId;
        case IOMMU_VFIO_IOAS_CLEAR:
          compatIoasId = undefined;
          return 0;
        default:
          throw new IommuError("EOPNOTSUPP", `IOMMU_VFIO_IOAS: unknown op ${op}`);
      }
    },

    accessCreate(ioasId, ops) {
      const { iopt } = get(ioasId, "ioas");
      const remove = iopt.addAccessUser({ unmap: (iova, length) => ops.unmap(iova, length) });
      return alloc({ kind: "access", ioasId, pins: [], remove });
    },

    accessPin(accessId, iova, length, { write }) {
      const access = get(accessId, "access");
      const pas = get(access.ioasId, "ioas").iopt.accessPin(iova, length, write);
      access.pins.push({ iova, length });
      return pas;
    },

    accessUnpin(accessId, iova, length) {
      const access = get(accessId, "access");
      const at = access.pins.findIndex((p) => p.iova === iova && p.length === length);
      if (at < 0) throw new IommuError("EINVAL", `access ${accessId}: no pin of ${iova}+${length}`);
      get(access.ioasId, "ioas").iopt.accessUnpin(iova, length);
      access.pins.splice(at, 1);
    },

    ioctl(request, rawArg) {
      const arg = rawArg instanceof Uint8Array ? rawArg : undefined;
      const out = arg ? arg.slice() : new Uint8Array(0);
      try {
        const compat = vfioCompatIoctl(compatHost, request, rawArg);
        if (compat) return compat;
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
          case IommufdIoctl.OPTION: {
            const o = decodeIommuOption(arg);
            if (o.op === IOMMU_OPTION_OP_GET) setU64(dv, 16, self.getOption(o.optionId, o.objectId));
            else self.setOption(o.optionId, o.objectId, o.val64);
            break;
          }
          case IommufdIoctl.HWPT_ALLOC: {
            const h = decodeIommuHwptAlloc(arg);
            setU32(dv, 16, self.hwptAlloc(h.devId, h.ptId, h.flags));
            break;
          }
          case IommufdIoctl.VFIO_IOAS: {
            const v = decodeIommuVfioIoas(arg);
            const id = self.vfioIoas(v.op, v.ioasId);
            if (v.op === IOMMU_VFIO_IOAS_GET) setU32(dv, 4, id);
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
      for (const [id, obj] of [...objects]) if (obj.kind === "access") self.destroy(id);
      for (const [id, obj] of [...objects]) if (obj.kind === "device") self.destroy(id);
      for (const [id, obj] of [...objects]) if (obj.kind === "ioas") self.destroy(id);
    },
  };
  const compatHost: VfioCompatHost = {
    process,
    compatIoas() {
      if (compatIoasId === undefined) throw new IommuError("ENODEV", "VFIO compat: no compat IOAS");
      return get(compatIoasId, "ioas").iopt;
    },
  };
  return self;
}
