/**
 * `struct iommu_hwpt_alloc` (include/uapi/linux/iommufd.h, `IOMMU_HWPT_ALLOC`): a user-managed
 * HW_PAGETABLE (an IOMMU domain) for a bound device, backed by an IOAS. The model knows the base
 * struct (24 bytes); the later driver-data fields must be zero (trailing bytes rule, `E2BIG`).
 */
import { IommuError } from "@iommu-sim/iommu";
import { setU32, u32, view } from "./bytes.js";
import { readIommufd } from "./iommufd-structs.js";

/** `IOMMU_HWPT_ALLOC_NEST_PARENT`: the domain may parent nested domains (not modelled: `EOPNOTSUPP`). */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
/** `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`: the domain tracks DMA writes; the device must support it. */
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
/** `offsetofend(struct iommu_hwpt_alloc, __reserved)`: the base struct and the minimum size. */
export const IOMMU_HWPT_ALLOC_SIZE = 24;

/** `struct iommu_hwpt_alloc` (base part). */
export interface IommuHwptAlloc {
  size: number;
  /** `IOMMU_HWPT_ALLOC_*`. */
  flags: number;
  devId: number;
  ptId: number;
  /** Output. */
  outHwptId: number;
}

const KNOWN = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING;

/** Decodes `struct iommu_hwpt_alloc`: unknown flags or a non-zero `__reserved` is `EOPNOTSUPP`. */
export function decodeIommuHwptAlloc(bytes: Uint8Array): IommuHwptAlloc {
  const dv = readIommufd(bytes, IOMMU_HWPT_ALLOC_SIZE, IOMMU_HWPT_ALLOC_SIZE, "iommu_hwpt_alloc");
  const flags = u32(dv, 4);
  if ((flags & ~KNOWN) !== 0 || u32(dv, 20) !== 0) {
    throw new IommuError("EOPNOTSUPP", `iommu_hwpt_alloc: flags 0x${flags.toString(16)} or reserved field`);
  }
  return { size: u32(dv, 0), flags, devId: u32(dv, 8), ptId: u32(dv, 12), outHwptId: u32(dv, 16) };
}

/** Encodes `struct iommu_hwpt_alloc`. */
export function encodeIommuHwptAlloc(s: IommuHwptAlloc): Uint8Array {
  const out = new Uint8Array(IOMMU_HWPT_ALLOC_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.flags);
  setU32(dv, 8, s.devId);
  setU32(dv, 12, s.ptId);
  setU32(dv, 16, s.outHwptId);
  return out;
}
