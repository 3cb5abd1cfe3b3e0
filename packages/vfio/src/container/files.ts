/**
 * The simulated kernel's open files for VFIO: the container (`/dev/vfio/vfio`), group
 * (`/dev/vfio/$GROUP`) and device files, and the file table that numbers them like `fd_install`
 * (lowest free descriptor from 3, as after stdin/stdout/stderr). Internal to the package.
 */
import { type IommuDevice, IommuError, type IommuGroup } from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import type { Type1Iommu } from "../type1/type1-iommu.js";

/** A container (`struct vfio_container`): alive while its file is open or a group holds it. */
export interface ContainerState {
  readonly kind: "container";
  fd: number | undefined;
  readonly process: SimProcess;
  readonly groups: GroupState[];
  iommu: Type1Iommu | undefined;
}

/** An opened group (`struct vfio_group` with its single opener). */
export interface GroupState {
  readonly kind: "group";
  fd: number | undefined;
  readonly process: SimProcess;
  readonly group: IommuGroup;
  container: ContainerState | undefined;
  readonly devices: Set<DeviceState>;
}

/** An opened device (`GROUP_GET_DEVICE_FD`). */
export interface DeviceState {
  readonly kind: "device";
  fd: number | undefined;
  readonly process: SimProcess;
  readonly device: IommuDevice;
  readonly group: GroupState;
}

/** Any VFIO file. */
export type VfioFile = ContainerState | GroupState | DeviceState;

/** The file table: descriptor numbers to files. */
export interface FileTable {
  /** Installs `file` at the lowest free descriptor and returns it. */
  install(file: VfioFile): number;
  /** The file at `fd`; `EBADF` when none. */
  get(fd: number): VfioFile;
  /** Removes `fd` (no-op when absent). */
  remove(fd: number): void;
  /** Open files of `process`. */
  of(process: SimProcess): VfioFile[];
}

/** Creates an empty {@link FileTable}. */
export function createFileTable(): FileTable {
  const files = new Map<number, VfioFile>();
  return {
    install(file) {
      let fd = 3;
      while (files.has(fd)) fd++;
      files.set(fd, file);
      file.fd = fd;
      return fd;
    },
    get(fd) {
      const file = files.get(fd);
      if (!file) throw new IommuError("EBADF", `fd ${fd} is not an open VFIO file`);
      return file;
    },
    remove(fd) {
      const file = files.get(fd);
      if (file) file.fd = undefined;
      files.delete(fd);
    },
    of(process) {
      return [...files.values()].filter((f) => f.process === process);
    },
  };
}
