/**
 * The binary VFIO UAPI: ioctl(2) on container, group and device files with the kernel's
 * little-endian structs (include/uapi/linux/vfio.h), so a byte stream recorded from a real client
 * replays. Structs are decoded with the kernel's checks (`argsz`, unknown flags, short buffers),
 * the typed operations do the rest, and what the kernel copies back is returned in `out`. User
 * pointers inside structs (dirty bitmaps) are addresses in the calling process, read and written
 * through its memory as `copy_from_user` / `copy_to_user` would.
 */
import { IommuError } from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import { cString, view } from "../uapi/bytes.js";
import {
  VFIO_API_VERSION,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VfioIoctl,
} from "../uapi/constants.js";
import { negErrno } from "../uapi/errno.js";
import {
  decodeVfioDirtyBitmap,
  decodeVfioDmaMap,
  decodeVfioDmaUnmap,
  decodeVfioGroupStatus,
  type VfioBitmap,
} from "../uapi/structs.js";
import { applyType1Info, DIRTY_BITMAP_SIZE_MAX } from "../uapi/type1-info.js";
import type { VfioContainer, VfioDeviceFile, VfioGroupFile } from "./vfio.js";

/** What an ioctl returns: the kernel's return value (`-errno` on failure) and the bytes it wrote back. */
export interface IoctlResult {
  /** 0 or a positive value (extension answer, new descriptor) on success, `-errno` on failure. */
  readonly ret: number;
  /** The argument struct as the caller sees it afterwards (empty for value arguments). */
  readonly out: Uint8Array;
}

/** The file an ioctl is issued on, with its typed handle and the calling process. */
export type IoctlTarget =
  | { kind: "container"; handle: VfioContainer; process: SimProcess }
  | { kind: "group"; handle: VfioGroupFile; process: SimProcess }
  | { kind: "device"; handle: VfioDeviceFile; process: SimProcess };

const EMPTY = new Uint8Array(0);

/** A value argument: a number, or the low 32 bits of the argument's bytes. */
function intArg(arg: Uint8Array | number | bigint | undefined): number {
  if (arg === undefined) return 0;
  if (typeof arg === "number") return arg;
  if (typeof arg === "bigint") return Number(BigInt.asUintN(32, arg));
  if (arg.byteLength < 4) throw new IommuError("EFAULT", `argument of ${arg.byteLength} bytes`);
  return view(arg).getUint32(0, true);
}

function structArg(arg: Uint8Array | number | bigint | undefined, what: string): Uint8Array {
  if (!(arg instanceof Uint8Array))
    throw new IommuError("EFAULT", `${what}: the argument must point to a struct`);
  return arg.slice();
}

/** Reads a user buffer for a bitmap; `undefined` when unreadable or absurdly large (the checks refuse it). */
function readUserBitmap(process: SimProcess, bitmap: VfioBitmap): Uint8Array | undefined {
  if (bitmap.size === 0n || bitmap.size > BigInt(DIRTY_BITMAP_SIZE_MAX)) return undefined;
  try {
    return process.read(bitmap.data, Number(bitmap.size));
  } catch {
    return undefined;
  }
}

function containerIoctl(
  c: VfioContainer,
  process: SimProcess,
  request: number,
  arg: Uint8Array | number | bigint | undefined,
): IoctlResult {
  switch (request) {
    case VfioIoctl.GET_API_VERSION:
      return { ret: VFIO_API_VERSION, out: EMPTY };
    case VfioIoctl.CHECK_EXTENSION:
      return { ret: c.checkExtension(intArg(arg)), out: EMPTY };
    case VfioIoctl.SET_IOMMU:
      c.setIommu(intArg(arg));
      return { ret: 0, out: EMPTY };
  }
  // Everything else goes to the IOMMU driver, which must be set.
  if (!c.iommu) throw new IommuError("EINVAL", `ioctl 0x${request.toString(16)}: no IOMMU set`);
  switch (request) {
    case VfioIoctl.IOMMU_GET_INFO: {
      const buf = structArg(arg, "vfio_iommu_type1_info");
      applyType1Info(buf, c.getInfo());
      return { ret: 0, out: buf };
    }
    case VfioIoctl.IOMMU_MAP_DMA: {
      const buf = structArg(arg, "vfio_iommu_type1_dma_map");
      const map = decodeVfioDmaMap(buf);
      c.mapDma({ flags: map.flags, vaddr: map.vaddr, iova: map.iova, size: map.size });
      return { ret: 0, out: buf };
    }
    case VfioIoctl.IOMMU_UNMAP_DMA: {
      const buf = structArg(arg, "vfio_iommu_type1_dma_unmap");
      const unmap = decodeVfioDmaUnmap(buf);
      let data: Uint8Array | undefined;
      if (unmap.bitmap) {
        data = readUserBitmap(process, unmap.bitmap);
        // access_ok() on the user's bitmap comes before the size checks.
        if (!data && unmap.bitmap.size !== 0n && unmap.bitmap.size <= BigInt(DIRTY_BITMAP_SIZE_MAX)) {
          throw new IommuError("EINVAL", "UNMAP_DMA: the dirty bitmap is not accessible");
        }
      }
      const size = c.unmapDma({
        flags: unmap.flags,
        iova: unmap.iova,
        size: unmap.size,
        ...(unmap.bitmap
          ? { bitmap: { pgsize: unmap.bitmap.pgsize, size: unmap.bitmap.size, data: data ?? EMPTY } }
          : {}),
      });
      if (unmap.bitmap && data) process.write(unmap.bitmap.data, data);
      view(buf).setBigUint64(16, size, true);
      return { ret: 0, out: buf };
    }
    case VfioIoctl.IOMMU_DIRTY_PAGES: {
      const buf = structArg(arg, "vfio_iommu_type1_dirty_bitmap");
      if (!c.iommu.v2)
        throw new IommuError("EACCES", "DIRTY_PAGES: dirty tracking needs a TYPE1v2 container");
      const dirty = decodeVfioDirtyBitmap(buf);
      if (dirty.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_START) c.dirtyStart();
      else if (dirty.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) c.dirtyStop();
      else if (dirty.flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP && dirty.get) {
        const data = readUserBitmap(process, dirty.get.bitmap);
        c.iommu.dirty.getBitmap(dirty.get, data);
        if (data) process.write(dirty.get.bitmap.data, data);
      }
      return { ret: 0, out: buf };
    }
    default:
      throw new IommuError("ENOTTY", `type1: unknown ioctl 0x${request.toString(16)}`);
  }
}

function groupIoctl(
  g: VfioGroupFile,
  request: number,
  arg: Uint8Array | number | bigint | undefined,
): IoctlResult {
  switch (request) {
    case VfioIoctl.GROUP_GET_STATUS: {
      const buf = structArg(arg, "vfio_group_status");
      decodeVfioGroupStatus(buf);
      view(buf).setUint32(4, g.getStatus(), true);
      return { ret: 0, out: buf };
    }
    case VfioIoctl.GROUP_SET_CONTAINER: {
      // The argument points to an int holding the container's descriptor.
      g.setContainer(view(structArg(arg, "int *")).getInt32(0, true));
      return { ret: 0, out: EMPTY };
    }
    case VfioIoctl.GROUP_UNSET_CONTAINER:
      g.unsetContainer();
      return { ret: 0, out: EMPTY };
    case VfioIoctl.GROUP_GET_DEVICE_FD: {
      // The argument is a NUL-terminated device name.
      const bytes = structArg(arg, "device name");
      const name = cString(bytes);
      const file = g.getDeviceFd(name);
      return { ret: file.fd ?? -1, out: EMPTY };
    }
    default:
      throw new IommuError("ENOTTY", `group: unknown ioctl 0x${request.toString(16)}`);
  }
}

/**
 * Runs one VFIO ioctl on `target`. Container: `GET_API_VERSION`, `CHECK_EXTENSION(arg)`,
 * `SET_IOMMU(arg)`, then (with an IOMMU set, else `EINVAL`) `IOMMU_GET_INFO` (argsz protocol and
 * capability chain), `IOMMU_MAP_DMA`, `IOMMU_UNMAP_DMA` (size written back at offset 16; with
 * GET_DIRTY_BITMAP the bitmap is written to the process at `bitmap.data`), `IOMMU_DIRTY_PAGES`;
 * other requests `ENOTTY`. Group: `GROUP_GET_STATUS`, `GROUP_SET_CONTAINER` (arg: the 4 bytes of
 * the container's int fd), `GROUP_UNSET_CONTAINER`, `GROUP_GET_DEVICE_FD` (arg: the NUL-terminated
 * name; returns the fd). Device files implement no ioctl here (`ENOTTY`). Never throws.
 */
export function vfioIoctl(
  target: IoctlTarget,
  request: number,
  arg: Uint8Array | number | bigint | undefined,
): IoctlResult {
  try {
    switch (target.kind) {
      case "container":
        return containerIoctl(target.handle, target.process, request, arg);
      case "group":
        return groupIoctl(target.handle, request, arg);
      case "device":
        throw new IommuError("ENOTTY", `device: ioctl 0x${request.toString(16)} is not modelled`);
    }
  } catch (error) {
    return { ret: negErrno(error), out: arg instanceof Uint8Array ? arg.slice() : EMPTY };
  }
}
