// Shared setup of the iommufd tests: a machine, one device, a process with a buffer, one IOAS.
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { machine } from "../test-machine.js";
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
} from "../uapi/iommufd-structs.js";
import { createIommufd } from "./iommufd.js";

export const P = 4096n;
export const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

/** One iommufd context on a reference machine; `domain` attaches the device to the IOAS (default). */
export function iommufdSetup(
  o: { domain?: boolean; ioas?: boolean; capSysResource?: boolean; huge?: boolean; pages?: bigint } = {},
) {
  const m = machine({ ref: { iovaBits: 40 } });
  const { device, group } = m.addDevice(1);
  const proc = m.vfio.createProcess({ rlimitMemlock: 64 << 20 });
  const fd = createIommufd(m.core, { process: proc, capSysResource: o.capSysResource ?? true });
  const buffer = proc.mmap({
    length: (o.pages ?? 512n) * P,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_ANONYMOUS | MAP_PRIVATE | (o.huge ? MAP_HUGETLB : 0),
  });
  const ioas = o.ioas === false ? 0 : fd.ioasAlloc();
  let devId: number | undefined;
  let hwpt: number | undefined;
  if (o.ioas !== false && (o.domain ?? true)) {
    devId = fd.bindDevice(device);
    hwpt = fd.attach(devId, ioas);
  }
  const map = (iova: bigint | undefined, length: bigint, uva = buffer, flags = RW) =>
    fd.ioasMap(ioas, {
      flags: flags | (iova === undefined ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA),
      userVa: uva,
      length,
      ...(iova !== undefined ? { iova } : {}),
    });
  return { m, device, group, proc, fd, ioas, buffer, devId, hwpt, map };
}

/** The u64 at `offset` of an ioctl's written-back struct. */
export const outU64 = (out: Uint8Array, offset: number): bigint =>
  new DataView(out.buffer, out.byteOffset).getBigUint64(offset, true);

/** The u32 at `offset` of an ioctl's written-back struct. */
export const outU32 = (out: Uint8Array, offset: number): number =>
  new DataView(out.buffer, out.byteOffset).getUint32(offset, true);
