/**
 * The VFIO container ioctls on an iommufd context (drivers/iommu/iommufd/vfio_compat.c): a process
 * may use `/dev/iommu` where it would use `/dev/vfio/vfio`, and the type1 MAP/UNMAP/GET_INFO calls
 * then act on the context's compat IOAS (chosen with `IOMMU_VFIO_IOAS`).
 */
import { IOMMU_READ, IOMMU_WRITE, IommuError } from "@iommu-sim/iommu";
import type { SimProcess } from "../process/process.js";
import { view } from "../uapi/bytes.js";
import { applyCompatInfo } from "../uapi/compat-info.js";
import {
  VFIO_API_VERSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VfioExtension,
  VfioIoctl,
} from "../uapi/constants.js";
import { decodeVfioDmaMap, decodeVfioDmaUnmap } from "../uapi/structs.js";
import { VFIO_IOMMU_TYPE1_INFO_MINSZ } from "../uapi/type1-info.js";
import { U64_MAX } from "../util/u64.js";
import type { IoPagetable } from "./io-pagetable.js";

/** What the compat layer needs from its iommufd context. */
export interface VfioCompatHost {
  /** The process whose memory MAP_DMA maps. */
  readonly process: SimProcess;
  /** The compat IOAS's IO page table; `ENODEV` when none is set. */
  compatIoas(): IoPagetable;
}

/** The result of a compat ioctl: the return value and the argument as written back. */
export interface VfioCompatResult {
  ret: number;
  out: Uint8Array;
}

const PAGE = 4096n;
const EMPTY = new Uint8Array(0);

/** The VFIO container requests the compat layer answers. */
export const VFIO_COMPAT_IOCTLS: ReadonlySet<number> = new Set([
  VfioIoctl.GET_API_VERSION,
  VfioIoctl.CHECK_EXTENSION,
  VfioIoctl.SET_IOMMU,
  VfioIoctl.IOMMU_GET_INFO,
  VfioIoctl.IOMMU_MAP_DMA,
  VfioIoctl.IOMMU_UNMAP_DMA,
]);

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

/** `iova_pgsizes`: what every domain supports, sub-page sizes folded into `PAGE_SIZE`, at least the alignment. */
function compatPgsizes(iopt: IoPagetable): bigint {
  let bitmap = U64_MAX;
  for (const d of iopt.domains) bitmap &= BigInt(d.pgsizeBitmap);
  if ((bitmap & (PAGE - 1n)) !== 0n) bitmap = (bitmap & ~(PAGE - 1n) & U64_MAX) | PAGE;
  const align = BigInt(iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

/**
 * Runs one VFIO container ioctl on an iommufd context (throws; the caller turns errors into
 * `-errno`). `GET_API_VERSION` → `VFIO_API_VERSION`; `CHECK_EXTENSION` → 1 for TYPE1, TYPE1v2 and
 * UNMAP_ALL, else 0; `SET_IOMMU`: TYPE1/TYPE1v2 only (`EINVAL`), needs the compat IOAS (`ENODEV`),
 * and TYPE1 (v1) disables huge pages on it so v1 partial unmaps can cut areas. MAP_DMA: `argsz`
 * below 32 or a flag other than READ|WRITE `EINVAL`, then `ENODEV` without the compat IOAS, then
 * IOAS_MAP at the fixed IOVA. UNMAP_DMA: `argsz` below 24 or a flag other than ALL `EINVAL`,
 * `ENODEV`, ALL with a non-zero iova or size `EINVAL`; with huge pages disabled the range's ends are
 * cut first; the bytes unmapped are written back. GET_INFO: `argsz` below 16 `EINVAL`, `ENODEV`,
 * then {@link applyCompatInfo}. Returns `undefined` for any other request.
 */
export function vfioCompatIoctl(
  host: VfioCompatHost,
  request: number,
  arg: Uint8Array | number | bigint | undefined,
): VfioCompatResult | undefined {
  switch (request) {
    case VfioIoctl.GET_API_VERSION:
      return { ret: VFIO_API_VERSION, out: EMPTY };
    case VfioIoctl.CHECK_EXTENSION: {
      const ext = intArg(arg);
      const yes =
        ext === VfioExtension.TYPE1_IOMMU ||
        ext === VfioExtension.TYPE1v2_IOMMU ||
        ext === VfioExtension.UNMAP_ALL;
      return { ret: yes ? 1 : 0, out: EMPTY };
    }
    case VfioIoctl.SET_IOMMU: {
      const type = intArg(arg);
      if (type !== VfioExtension.TYPE1_IOMMU && type !== VfioExtension.TYPE1v2_IOMMU) {
        throw new IommuError("EINVAL", `SET_IOMMU: type ${type} is not offered by iommufd`);
      }
      const iopt = host.compatIoas();
      if (type === VfioExtension.TYPE1_IOMMU) iopt.setHugePages(false);
      return { ret: 0, out: EMPTY };
    }
    case VfioIoctl.IOMMU_MAP_DMA: {
      const buf = structArg(arg, "vfio_iommu_type1_dma_map");
      const map = decodeVfioDmaMap(buf);
      if ((map.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) !== 0) {
        throw new IommuError("EINVAL", `MAP_DMA: flags 0x${map.flags.toString(16)} not supported by iommufd`);
      }
      const iopt = host.compatIoas();
      if (map.size >= U64_MAX || map.iova >= U64_MAX)
        throw new IommuError("EOVERFLOW", "MAP_DMA: size or iova");
      if (map.vaddr >= 2n ** 53n)
        throw new IommuError("EFAULT", "MAP_DMA: vaddr is beyond the address space");
      const prot =
        ((map.flags & VFIO_DMA_MAP_FLAG_READ) !== 0 ? IOMMU_READ : 0) |
        ((map.flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0 ? IOMMU_WRITE : 0);
      iopt.map({ process: host.process, userVa: Number(map.vaddr), length: map.size, prot, iova: map.iova });
      return { ret: 0, out: buf };
    }
    case VfioIoctl.IOMMU_UNMAP_DMA: {
      const buf = structArg(arg, "vfio_iommu_type1_dma_unmap");
      const unmap = decodeVfioDmaUnmap(buf);
      if ((unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) !== 0) {
        throw new IommuError(
          "EINVAL",
          `UNMAP_DMA: flags 0x${unmap.flags.toString(16)} not supported by iommufd`,
        );
      }
      const iopt = host.compatIoas();
      let bytes: bigint;
      if ((unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) {
        if (unmap.iova !== 0n || unmap.size !== 0n) {
          throw new IommuError("EINVAL", "UNMAP_DMA: UNMAP_ALL with a non-zero iova or size");
        }
        bytes = iopt.unmapAll();
      } else {
        if (!iopt.hugePages && unmap.size !== 0n) {
          // type1 v1 lets a caller unmap part of a mapping: cut the areas at both ends first.
          iopt.cut(unmap.iova);
          if (unmap.iova + unmap.size <= U64_MAX) iopt.cut(unmap.iova + unmap.size);
        }
        bytes = iopt.unmap(unmap.iova, unmap.size);
      }
      view(buf).setBigUint64(16, bytes, true);
      return { ret: 0, out: buf };
    }
    case VfioIoctl.IOMMU_GET_INFO: {
      const buf = structArg(arg, "vfio_iommu_type1_info");
      if (buf.byteLength >= 4 && view(buf).getUint32(0, true) < VFIO_IOMMU_TYPE1_INFO_MINSZ) {
        throw new IommuError("EINVAL", "GET_INFO: argsz below the minimum");
      }
      const iopt = host.compatIoas();
      applyCompatInfo(buf, {
        pgsizes: compatPgsizes(iopt),
        dmaAvail: 0xffff_ffff,
        iovaRanges: iopt.iovaRanges().map((r) => ({ start: r.start, end: r.last })),
      });
      return { ret: 0, out: buf };
    }
    default:
      return undefined;
  }
}
