/**
 * `VFIO_IOMMU_GET_INFO` as iommufd's VFIO compatibility layer answers it
 * (drivers/iommu/iommufd/vfio_compat.c): the same `struct vfio_iommu_type1_info`, but each
 * capability is written on its own as far as the caller's `argsz` reaches, so a short buffer still
 * receives a consistent prefix of the chain. Capabilities: DMA_AVAIL (exactly its 12 bytes) and
 * IOVA_RANGE, each starting 8-byte aligned.
 */
import { IommuError } from "@iommu-sim/iommu";
import { needBytes, setU32, setU64, u32, view } from "./bytes.js";
import {
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
} from "./constants.js";
import {
  VFIO_CAP_DMA_AVAIL_SIZE,
  VFIO_CAP_IOVA_RANGE_SIZE,
  VFIO_IOMMU_TYPE1_INFO_MINSZ,
  VFIO_IOMMU_TYPE1_INFO_SIZE,
  VFIO_IOVA_RANGE_SIZE,
  type VfioIovaRange,
} from "./type1-info.js";

/** What the compat GET_INFO reports. */
export interface CompatInfoState {
  /** `iova_pgsizes`. */
  pgsizes: bigint;
  /** Mappings still allowed; iommufd has no limit, so `U32_MAX` in practice. */
  dmaAvail: number;
  /** The usable IOVA ranges, ends inclusive. */
  iovaRanges: readonly VfioIovaRange[];
}

/** One capability as laid out by the compat layer. */
function compatCaps(state: CompatInfoState): Uint8Array[] {
  const avail = new Uint8Array(VFIO_CAP_DMA_AVAIL_SIZE);
  const a = view(avail);
  a.setUint16(0, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
  a.setUint16(2, 1, true);
  setU32(a, 8, state.dmaAvail);
  const iova = new Uint8Array(VFIO_CAP_IOVA_RANGE_SIZE + state.iovaRanges.length * VFIO_IOVA_RANGE_SIZE);
  const r = view(iova);
  r.setUint16(0, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
  r.setUint16(2, 1, true);
  setU32(r, 8, state.iovaRanges.length);
  state.iovaRanges.forEach((range, k) => {
    setU64(r, 16 + k * 16, range.start);
    setU64(r, 24 + k * 16, range.end);
  });
  return [avail, iova];
}

/**
 * Answers the compat `VFIO_IOMMU_GET_INFO` in the caller's buffer, in place: `argsz < 16` is
 * `EINVAL`. Each capability that fits entirely inside `argsz` is written, with the previous one's
 * `next` pointing at it; `argsz` is always set to the size of the whole chain, `cap_offset` only
 * when all of it fitted (else 0), and `flags` is PGSIZES|CAPS. Nothing is written at or past
 * `argsz` (the header only up to `min(argsz, 24)`). A buffer shorter than what must be written is
 * `EFAULT`.
 */
export function applyCompatInfo(buffer: Uint8Array, state: CompatInfoState): void {
  needBytes(buffer, VFIO_IOMMU_TYPE1_INFO_MINSZ, "vfio_iommu_type1_info");
  const argsz = u32(view(buffer), 0);
  if (argsz < VFIO_IOMMU_TYPE1_INFO_MINSZ) {
    throw new IommuError("EINVAL", `vfio_iommu_type1_info: argsz ${argsz} < ${VFIO_IOMMU_TYPE1_INFO_MINSZ}`);
  }
  const writes: { at: number; bytes: Uint8Array }[] = [];
  let total = VFIO_IOMMU_TYPE1_INFO_SIZE;
  let previous = -1;
  for (const cap of compatCaps(state)) {
    if (argsz >= total + cap.length) writes.push({ at: total, bytes: cap });
    if (previous >= 0 && argsz >= total) {
      const next = new Uint8Array(4);
      setU32(view(next), 0, total);
      writes.push({ at: previous + 4, bytes: next });
    }
    previous = total;
    total += Math.ceil(cap.length / 8) * 8;
  }
  const header = new Uint8Array(VFIO_IOMMU_TYPE1_INFO_SIZE);
  const h = view(header);
  setU32(h, 0, total);
  setU32(h, 4, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
  setU64(h, 8, state.pgsizes);
  setU32(h, 16, argsz >= total ? VFIO_IOMMU_TYPE1_INFO_SIZE : 0);
  writes.unshift({ at: 0, bytes: header.subarray(0, Math.min(argsz, VFIO_IOMMU_TYPE1_INFO_SIZE)) });
  const end = Math.max(...writes.map((w) => w.at + w.bytes.length));
  needBytes(buffer, end, "vfio_iommu_type1_info");
  // Capabilities first: a `next` update lands inside the capability written just before it.
  for (const w of writes.slice(1)) buffer.set(w.bytes, w.at);
  buffer.set(writes[0]!.bytes, 0);
}
