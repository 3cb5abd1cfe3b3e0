/**
 * `struct iommu_option` (include/uapi/linux/iommufd.h, `IOMMU_OPTION`): reads or writes one
 * option, global (object id 0) or of one object.
 */
import { IommuError } from "@iommu-sim/iommu";
import { setU32, setU64, u32, u64, view } from "./bytes.js";
import { readIommufd } from "./iommufd-structs.js";

/** `IOMMU_OPTION_RLIMIT_MODE`: pinned-page accounting per user (0) or per mm (1); global. */
export const IOMMU_OPTION_RLIMIT_MODE = 0;
/** `IOMMU_OPTION_HUGE_PAGES`: whether an IOAS may use large pages (1, the default) or not (0). */
export const IOMMU_OPTION_HUGE_PAGES = 1;
/** `IOMMU_OPTION_OP_SET`. */
export const IOMMU_OPTION_OP_SET = 0;
/** `IOMMU_OPTION_OP_GET`. */
export const IOMMU_OPTION_OP_GET = 1;
/** `sizeof(struct iommu_option)`. */
export const IOMMU_OPTION_SIZE = 24;

/** `struct iommu_option`. */
export interface IommuOption {
  size: number;
  optionId: number;
  /** `IOMMU_OPTION_OP_SET` or `IOMMU_OPTION_OP_GET`. */
  op: number;
  /** 0 for global options, else the object's id. */
  objectId: number;
  /** SET: the value; GET: the answer. */
  val64: bigint;
}

/**
 * Decodes `struct iommu_option` with the generic size rules; a non-zero `__reserved` or an op that
 * is neither SET nor GET is `EOPNOTSUPP`.
 */
export function decodeIommuOption(bytes: Uint8Array): IommuOption {
  const dv = readIommufd(bytes, IOMMU_OPTION_SIZE, IOMMU_OPTION_SIZE, "iommu_option");
  const op = dv.getUint16(8, true);
  if (dv.getUint16(10, true) !== 0) throw new IommuError("EOPNOTSUPP", "iommu_option: reserved field set");
  if (op !== IOMMU_OPTION_OP_SET && op !== IOMMU_OPTION_OP_GET) {
    throw new IommuError("EOPNOTSUPP", `iommu_option: unknown op ${op}`);
  }
  return { size: u32(dv, 0), optionId: u32(dv, 4), op, objectId: u32(dv, 12), val64: u64(dv, 16) };
}

/** Encodes `struct iommu_option`. */
export function encodeIommuOption(s: IommuOption): Uint8Array {
  const out = new Uint8Array(IOMMU_OPTION_SIZE);
  const dv = view(out);
  setU32(dv, 0, s.size);
  setU32(dv, 4, s.optionId);
  dv.setUint16(8, s.op, true);
  setU32(dv, 12, s.objectId);
  setU64(dv, 16, s.val64);
  return out;
}
