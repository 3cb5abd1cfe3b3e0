/**
 * VFIO's container and group model over the IOMMU core (drivers/vfio/container.c, group.c and the
 * type1 driver): open a container, open groups, claim their DMA ownership by attaching them to the
 * container, choose the IOMMU type, map user memory, open device files, and release everything
 * when files close or the process exits. `createVfio()` is the way in; {@link Vfio.ioctl} speaks
 * the binary UAPI on top of the same operations.
 */
import {
  type DeviceDmaRequest,
  type DeviceDmaResult,
  type IommuCore,
  type IommuDevice,
  IommuError,
  type IommuGroup,
  type PageProvider,
  type PhysBus,
  toAddr,
} from "@iommu-sim/iommu";
import { createProcess, type ProcessOptions, type SimProcess } from "../process/process.js";
import type { DirtyBitmapRequest } from "../type1/dirty.js";
import {
  createType1Iommu,
  type DirtyScope,
  type Type1Iommu,
  type1CheckExtension,
} from "../type1/type1-iommu.js";
import {
  VFIO_API_VERSION,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VfioExtension,
} from "../uapi/constants.js";
import { negErrno } from "../uapi/errno.js";
import type { Type1InfoState } from "../uapi/type1-info.js";
import type { U64Like } from "../util/u64.js";
import {
  type ContainerState,
  createFileTable,
  type DeviceState,
  type GroupState,
  type VfioFile,
} from "./files.js";
import { type IoctlResult, type IoctlTarget, vfioIoctl } from "./ioctl.js";

/** Options of {@link createVfio}: the machine's RAM and the type1 module parameters. */
export interface VfioOptions {
  /** Allocator of system RAM backing process memory (e.g. `@iommu-sim/hw`'s page allocator). */
  ram: PageProvider;
  /** The CPU's view of that RAM (the memory devices DMA into). */
  memory: PhysBus;
  /** type1 `allow_unsafe_interrupts`: attach groups without MSI isolation. @default false */
  allowUnsafeInterrupts?: boolean;
  /** type1 `dma_entry_limit`. @default 65535 */
  dmaEntryLimit?: number;
  /** Whether a group's MSIs are isolated. @default every device has the `intr-remap` capability */
  msiIsolated?: (group: IommuGroup) => boolean;
  /** What dirty tracking reports. @default "all" (see {@link DirtyScope}) */
  dirtyScope?: DirtyScope;
  /**
   * Zero each block of RAM a process receives (anonymous memory is zero on first touch). Turn off
   * only when `ram` already hands out zeroed memory of `memory`.
   * @default true
   */
  zeroPages?: boolean;
}

/** `VFIO_IOMMU_MAP_DMA` arguments (`struct vfio_iommu_type1_dma_map` without `argsz`). */
export interface VfioMapDma {
  /** `VFIO_DMA_MAP_FLAG_*`. */
  flags: number;
  vaddr: U64Like;
  iova: U64Like;
  size: U64Like;
}

/** `VFIO_IOMMU_UNMAP_DMA` arguments, with the dirty bitmap buffer for GET_DIRTY_BITMAP. */
export interface VfioUnmapDma {
  /** `VFIO_DMA_UNMAP_FLAG_*`. */
  flags: number;
  iova: U64Like;
  size: U64Like;
  /** Required with `VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP`: `vfio_bitmap` with its buffer (`size` bytes). */
  bitmap?: { pgsize: U64Like; size: U64Like; data: Uint8Array };
}

/** An open container file (`/dev/vfio/vfio`). */
export interface VfioContainer {
  /** Its descriptor (`undefined` once closed). */
  readonly fd: number | undefined;
  /** The process that opened it: mappings pin this process's memory. */
  readonly process: SimProcess;
  /** The type1 driver state once `setIommu` succeeded; `undefined` before and after release. */
  readonly iommu: Type1Iommu | undefined;
  /** Groups attached. */
  readonly groups: readonly IommuGroup[];
  /** `VFIO_GET_API_VERSION`: {@link VFIO_API_VERSION} (0). */
  getApiVersion(): number;
  /** `VFIO_CHECK_EXTENSION`: 1/0 from type1 (see `type1CheckExtension`), the set driver once set. */
  checkExtension(extension: number): number;
  /**
   * `VFIO_SET_IOMMU(type)`: `EINVAL` with no group or a driver already set; `EINVAL` for an
   * extension type1 reports but cannot open; `ENODEV` for a type no driver offers; then every group
   * is attached (unwound on failure, the attach's errno returned).
   */
  setIommu(type: number): void;
  /** `VFIO_IOMMU_MAP_DMA` (`EINVAL` before `setIommu`). */
  mapDma(request: VfioMapDma): void;
  /** `VFIO_IOMMU_UNMAP_DMA`: bytes unmapped (`EINVAL` before `setIommu`). */
  unmapDma(request: VfioUnmapDma): bigint;
  /** `VFIO_IOMMU_GET_INFO` as values (`EINVAL` before `setIommu`). */
  getInfo(): Type1InfoState;
  /** `VFIO_IOMMU_DIRTY_PAGES` START (`EACCES` on TYPE1, `EINVAL` before `setIommu`). */
  dirtyStart(): void;
  /** `VFIO_IOMMU_DIRTY_PAGES` STOP. */
  dirtyStop(): void;
  /** `VFIO_IOMMU_DIRTY_PAGES` GET_BITMAP into `out` (the user's bitmap buffer). */
  dirtyGetBitmap(request: DirtyBitmapRequest, out: Uint8Array): void;
  /** Closes the file; the container lives on while groups hold it. */
  close(): void;
}

/** An open group file (`/dev/vfio/$GROUP`). */
export interface VfioGroupFile {
  /** Its descriptor (`undefined` once closed). */
  readonly fd: number | undefined;
  /** The IOMMU group. */
  readonly group: IommuGroup;
  /** `VFIO_GROUP_GET_STATUS` flags: VIABLE unless kernel DMA users hold it; CONTAINER_SET. */
  getStatus(): number;
  /**
   * `VFIO_GROUP_SET_CONTAINER`: `EINVAL` when already set; claims DMA ownership (`EPERM` with a
   * kernel driver bound, `EBUSY` off the default domain); attaches to the container's IOMMU when set
   * (failure releases ownership). `EBADF`/`EBADFD` for a descriptor that is not a container.
   */
  setContainer(container: VfioContainer | number): void;
  /**
   * `VFIO_GROUP_UNSET_CONTAINER`: `EINVAL` without a container, `EBUSY` while device files are
   * open. The last group leaving releases the container's IOMMU and every mapping; ownership returns
   * the group to its default domain.
   */
  unsetContainer(): void;
  /**
   * `VFIO_GROUP_GET_DEVICE_FD(name)`: `ENODEV` for a name not in the group, `EINVAL` unless the
   * group's container has an IOMMU set.
   */
  getDeviceFd(name: string): VfioDeviceFile;
  /** Closes the group (detaching it once its device files are closed too). */
  close(): void;
}

/** An open device file. */
export interface VfioDeviceFile {
  /** Its descriptor (`undefined` once closed). */
  readonly fd: number | undefined;
  /** The device. */
  readonly device: IommuDevice;
  /** Closes the device file. */
  close(): void;
}

/** The VFIO subsystem of a machine, from {@link createVfio}. */
export interface Vfio {
  /** The IOMMU core underneath. */
  readonly core: IommuCore;
  /**
   * A new process whose anonymous memory comes from the machine's RAM (`createProcess` with
   * `memory`/`phys` filled in).
   */
  createProcess(options?: Partial<Omit<ProcessOptions, "memory" | "phys">>): SimProcess;
  /** Opens `/dev/vfio/vfio` for `process`: a new container without groups or IOMMU. */
  openContainer(process: SimProcess): VfioContainer;
  /**
   * Opens `/dev/vfio/$groupId` for `process`: `ENODEV` for no such group, `EBUSY` when already open,
   * `EINVAL` when a device lacks `cache-coherency` (`vfio_group_find_or_alloc`).
   */
  openGroup(process: SimProcess, groupId: number): VfioGroupFile;
  /** close(2) on any VFIO descriptor; `EBADF` for an unknown one. */
  close(fd: number): void;
  /**
   * ioctl(2) with the kernel's binary structs: `arg` is the struct's bytes for pointer arguments
   * (updated in `out` as the kernel writes them back), a number for value arguments. Never throws:
   * `ret` is the kernel's return value or `-errno` (`-EBADF` for an unknown descriptor). See
   * {@link vfioIoctl}.
   */
  ioctl(fd: number, request: number, arg?: Uint8Array | number | bigint): IoctlResult;
  /**
   * Process exit: closes its device, group and container files (unmapping and unpinning everything
   * they held, groups back to their default domains), then tears the process down.
   */
  exitProcess(process: SimProcess): void;
  /**
   * A device's DMA through the IOMMU (`core.deviceDma`); a successful write also marks the pages
   * dirty in the container the device's group is attached to. DMA issued directly on the core
   * bypasses this hook, so only the `"all"` dirty scope reports it.
   */
  deviceDma(device: IommuDevice, request: DeviceDmaRequest): DeviceDmaResult;
  /** The file behind a descriptor, as the typed handle (`EBADF` for none). */
  file(fd: number): VfioContainer | VfioGroupFile | VfioDeviceFile;
}

/**
 * Creates the VFIO subsystem of a machine over its IOMMU core. Nothing is open; groups are the
 * core's groups, addressed by id.
 */
export function createVfio(core: IommuCore, options: VfioOptions): Vfio {
  const { ram, memory } = options;
  const zero = options.zeroPages ?? true;
  const files = createFileTable();
  const openGroups = new Map<IommuGroup, GroupState>();
  const handles = new WeakMap<VfioFile, VfioContainer | VfioGroupFile | VfioDeviceFile>();

  const processMemory = {
    alloc(bytes: number): number {
      const pa = ram.alloc(bytes);
      if (zero) memory.fill(pa, bytes, 0);
      return pa;
    },
    free: (pa: number, bytes: number) => ram.free(pa, bytes),
  };

  const requireIommu = (c: ContainerState, what: string): Type1Iommu => {
    if (!c.iommu) throw new IommuError("EINVAL", `${what}: the container has no IOMMU set`);
    return c.iommu;
  };

  const containerHandle = (c: ContainerState): VfioContainer => {
    const handle: VfioContainer = {
      get fd() {
        return c.fd;
      },
      process: c.process,
      get iommu() {
        return c.iommu;
      },
      get groups() {
        return c.groups.map((g) => g.group);
      },
      getApiVersion: () => VFIO_API_VERSION,
      checkExtension: (extension) => type1CheckExtension(extension, c.iommu),
      setIommu(type) {
        if (c.groups.length === 0 || c.iommu) {
          throw new IommuError(
            "EINVAL",
            c.iommu ? "SET_IOMMU: an IOMMU is already set" : "SET_IOMMU: the container has no group",
          );
        }
        // vfio_ioctl_set_iommu: only drivers reporting the extension are tried; type1's open
        // refuses extensions that are not IOMMU types.
        if (type1CheckExtension(type, undefined) === 0) {
          throw new IommuError("ENODEV", `SET_IOMMU: no IOMMU driver offers type ${type}`);
        }
        if (type !== VfioExtension.TYPE1_IOMMU && type !== VfioExtension.TYPE1v2_IOMMU) {
          throw new IommuError("EINVAL", `SET_IOMMU: type1 cannot open type ${type}`);
        }
        const iommu = createType1Iommu({
          core,
          v2: type === VfioExtension.TYPE1v2_IOMMU,
          ...(options.dmaEntryLimit !== undefined ? { dmaEntryLimit: options.dmaEntryLimit } : {}),
          ...(options.allowUnsafeInterrupts !== undefined
            ? { allowUnsafeInterrupts: options.allowUnsafeInterrupts }
            : {}),
          ...(options.msiIsolated ? { msiIsolated: options.msiIsolated } : {}),
          ...(options.dirtyScope ? { dirtyScope: options.dirtyScope } : {}),
        });
        try {
          for (const g of c.groups) iommu.attachGroup(g.group);
        } catch (error) {
          iommu.release();
          throw error;
        }
        c.iommu = iommu;
      },
      mapDma(request) {
        requireIommu(c, "MAP_DMA").map(request, c.process);
      },
      unmapDma(request) {
        const iommu = requireIommu(c, "UNMAP_DMA");
        const { bitmap } = request;
        const getDirty = (request.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
        return iommu.unmap(
          {
            flags: request.flags,
            iova: request.iova,
            size: request.size,
            ...(getDirty && bitmap ? { dirty: iommu.dirty.forUnmap(bitmap, request.iova, bitmap.data) } : {}),
          },
          c.process,
        );
      },
      getInfo: () => requireIommu(c, "GET_INFO").infoState(),
      dirtyStart: () => requireIommu(c, "DIRTY_PAGES").dirty.start(),
      dirtyStop: () => requireIommu(c, "DIRTY_PAGES").dirty.stop(),
      dirtyGetBitmap: (request, out) => requireIommu(c, "DIRTY_PAGES").dirty.getBitmap(request, out),
      close: () => closeFile(c),
    };
    return handle;
  };

  /** `__vfio_group_unset_container` without the checks. */
  const detachFromContainer = (g: GroupState): void => {
    const c = g.container;
    if (!c) return;
    if (c.iommu) {
      c.iommu.detachGroup(g.group);
      if (c.iommu.groups.length === 0) c.iommu = undefined;
    }
    c.groups.splice(c.groups.indexOf(g), 1);
    if (c.groups.length === 0 && c.iommu) {
      c.iommu.release();
      c.iommu = undefined;
    }
    g.container = undefined;
    core.groupReleaseDmaOwner(g.group);
  };

  const releaseGroup = (g: GroupState): void => {
    detachFromContainer(g);
    openGroups.delete(g.group);
  };

  const closeFile = (file: VfioFile): void => {
    if (file.fd !== undefined) files.remove(file.fd);
    if (file.kind === "device") {
      file.group.devices.delete(file);
      if (file.group.fd === undefined && file.group.devices.size === 0) releaseGroup(file.group);
    } else if (file.kind === "group") {
      // Device files keep the group alive (they hold a reference to its file).
      if (file.devices.size === 0) releaseGroup(file);
    }
  };

  const deviceHandle = (d: DeviceState): VfioDeviceFile => ({
    get fd() {
      return d.fd;
    },
    device: d.device,
    close: () => closeFile(d),
  });

  const containerOf = (target: VfioContainer | number): ContainerState => {
    const fd = typeof target === "number" ? target : target.fd;
    if (fd === undefined) throw new IommuError("EBADF", "SET_CONTAINER: the container file is closed");
    const file = files.get(fd);
    if (file.kind !== "container")
      throw new IommuError("EBADFD", `SET_CONTAINER: fd ${fd} is not a container`);
    return file;
  };

  const groupHandle = (g: GroupState): VfioGroupFile => ({
    get fd() {
      return g.fd;
    },
    group: g.group,
    getStatus() {
      if (g.container) return VFIO_GROUP_FLAGS_CONTAINER_SET | VFIO_GROUP_FLAGS_VIABLE;
      return core.groupDmaOwnerClaimed(g.group) ? 0 : VFIO_GROUP_FLAGS_VIABLE;
    },
    setContainer(target) {
      if (g.container) throw new IommuError("EINVAL", `SET_CONTAINER: group ${g.group.id} already has one`);
      const c = containerOf(target);
      core.groupClaimDmaOwner(g.group, g);
      if (c.iommu) {
        try {
          c.iommu.attachGroup(g.group);
        } catch (error) {
          core.groupReleaseDmaOwner(g.group);
          throw error;
        }
      }
      c.groups.push(g);
      g.container = c;
    },
    unsetContainer() {
      if (!g.container)
        throw new IommuError("EINVAL", `UNSET_CONTAINER: group ${g.group.id} has no container`);
      if (g.devices.size > 0) {
        throw new IommuError(
          "EBUSY",
          `UNSET_CONTAINER: group ${g.group.id} has ${g.devices.size} open device(s)`,
        );
      }
      detachFromContainer(g);
    },
    getDeviceFd(name) {
      const device = g.group.devices.find((d) => d.name === name);
      if (!device) throw new IommuError("ENODEV", `GET_DEVICE_FD: no device ${name} in group ${g.group.id}`);
      if (!g.container?.iommu) {
        throw new IommuError("EINVAL", `GET_DEVICE_FD: group ${g.group.id} has no container with an IOMMU`);
      }
      const d: DeviceState = { kind: "device", fd: undefined, process: g.process, device, group: g };
      files.install(d);
      g.devices.add(d);
      const handle = deviceHandle(d);
      handles.set(d, handle);
      return handle;
    },
    close: () => closeFile(g),
  });

  const vfio: Vfio = {
    core,
    createProcess: (o = {}) => createProcess({ ...o, memory: processMemory, phys: memory }),

    openContainer(process) {
      const c: ContainerState = { kind: "container", fd: undefined, process, groups: [], iommu: undefined };
      files.install(c);
      const handle = containerHandle(c);
      handles.set(c, handle);
      return handle;
    },

    openGroup(process, groupId) {
      const group = core.groupById(groupId);
      if (!group || group.devices.length === 0) throw new IommuError("ENODEV", `no VFIO group ${groupId}`);
      if (openGroups.has(group)) throw new IommuError("EBUSY", `group ${groupId} is already open`);
      const incoherent = group.devices.find((d) => !core.capable(d, "cache-coherency"));
      if (incoherent) {
        throw new IommuError("EINVAL", `${incoherent.name}: the IOMMU does not enforce cache coherency`);
      }
      const g: GroupState = {
        kind: "group",
        fd: undefined,
        process,
        group,
        container: undefined,
        devices: new Set(),
      };
      files.install(g);
      openGroups.set(group, g);
      const handle = groupHandle(g);
      handles.set(g, handle);
      return handle;
    },

    close(fd) {
      closeFile(files.get(fd));
    },

    ioctl(fd, request, arg) {
      let target: IoctlTarget;
      try {
        const file = files.get(fd);
        const handle = handles.get(file)!;
        target = { kind: file.kind, handle, process: file.process } as IoctlTarget;
      } catch (error) {
        return { ret: negErrno(error), out: new Uint8Array(0) };
      }
      return vfioIoctl(target, request, arg);
    },

    exitProcess(process) {
      const mine = files.of(process);
      for (const kind of ["device", "group", "container"] as const) {
        for (const file of mine) if (file.kind === kind && file.fd !== undefined) closeFile(file);
      }
      process.exit();
    },

    deviceDma(device, request) {
      const result = core.deviceDma(device, request);
      if (result.ok && request.write) {
        const group = core.groupGet(device);
        const iommu = group ? openGroups.get(group)?.container?.iommu : undefined;
        iommu?.markDirty(toAddr(request.iova, "iova"), request.length);
      }
      return result;
    },

    file(fd) {
      const handle = handles.get(files.get(fd));
      if (!handle) throw new IommuError("EBADF", `fd ${fd} has no handle`);
      return handle;
    },
  };
  return vfio;
}
