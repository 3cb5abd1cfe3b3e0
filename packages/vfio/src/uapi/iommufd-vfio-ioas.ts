/**
 * `struct iommu_vfio_ioas` (include/uapi/linux/iommufd.h, `IOMMU_VFIO_IOAS`): gets, sets or clears
 * the IOAS the VFIO container compatibility layer of an iommufd context works on.
 */
import { IommuError } from "@iommu-sim/iommu";
import { setU32, u32, view } from "./bytes.js";
import { readIommufd } from "./iommufd-structs.js";

/** `IOMMU_VFIO_IOAS_GET`: report the compat IOAS id (`ENODEV` without one). */
export const IOMMU_VFIO_IOAS_GET = 0;
/** `IOMMU_VFIO_IOAS_SET`: make `ioas_id` the compat IOAS. */
export const IOMMU_VFIO_IOAS_SET = 1;
/** `IOMMU_VFIO_IOAS_CLEAR`: forget the compat IOAS. */
export const IOMMU_VFIO_IOAS_CLEAR = 2;
/** `sizeof(struct iommu_vfio_ioas)`. */
export const IOMMU_VFIO_IOAS_SIZE = 12;

/** `struct iommu_vfio_ioas`. */
export interface IommuVfioIoas {
  size: number;
  /** SET: input; GET: output. */
  ioasId: number;
  /** `IOMMU_VFIO_IOAS_{GET,SET,CLEAR}`. */
  op: number;
}

/** Decodes `struct iommu_vfio_ioas` with the generic size rules; a non-zero `__reserved` is `EOPNOTSUPP`. */
export function decodeIommuVfioIoas(bytes: Uint8Array): IommuVfioIoas {
  const dv = readIommufd(bytes, IOMMU_VFIO_IOAS_SIZE, IOMMU_VFIO_IOAS_SIZE, "iommu_vfio_ioas");
  if (dv.getUint16(10, true) !== 0) throw new IommuError("EOPNOTSUPP", "iommu_vfio_ioas: reserved field set");
  return { size: u32(dv, 0), ioasId: u32(dv, 4), op: dv.getUint16(8, true) };
}

/** Encodes `struct iommu_vfio_ioas`. */
export function encodeIommuVfioIoas(s: IommuVfioIoas): Uint8Array {
  const out = new Uint8Array(IOMMU_VFIO_IOAS_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.ioasId);
  dv.setUint16(8, s.op, true);
  return out;
}
