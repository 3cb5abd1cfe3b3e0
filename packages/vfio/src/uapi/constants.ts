/**
 * Constants of the VFIO user API (include/uapi/linux/vfio.h): versions, ioctl numbers, extensions
 * and flags, with the kernel's values so recorded byte streams replay unchanged.
 */

/** `VFIO_API_VERSION`. */
export const VFIO_API_VERSION = 0;
/** `VFIO_TYPE` (`';'`) and `VFIO_BASE`: ioctls are `_IO(VFIO_TYPE, VFIO_BASE + n)`. */
export const VFIO_TYPE = 0x3b;
export const VFIO_BASE = 100;

/** `_IO(type, nr)` of the kernel's ioctl encoding: direction none, size 0. */
export function vfioIo(nr: number): number {
  return ((VFIO_TYPE << 8) | (VFIO_BASE + nr)) >>> 0;
}

/** The VFIO ioctls by name, as `_IO(';', 100 + n)`. */
export const VfioIoctl = {
  GET_API_VERSION: vfioIo(0),
  CHECK_EXTENSION: vfioIo(1),
  SET_IOMMU: vfioIo(2),
  GROUP_GET_STATUS: vfioIo(3),
  GROUP_SET_CONTAINER: vfioIo(4),
  GROUP_UNSET_CONTAINER: vfioIo(5),
  GROUP_GET_DEVICE_FD: vfioIo(6),
  DEVICE_GET_INFO: vfioIo(7),
  IOMMU_GET_INFO: vfioIo(12),
  IOMMU_MAP_DMA: vfioIo(13),
  IOMMU_UNMAP_DMA: vfioIo(14),
  IOMMU_ENABLE: vfioIo(15),
  IOMMU_DISABLE: vfioIo(16),
  IOMMU_DIRTY_PAGES: vfioIo(17),
} as const;

/** IOMMU types and extensions for `VFIO_CHECK_EXTENSION` / `VFIO_SET_IOMMU`. */
export const VfioExtension = {
  TYPE1_IOMMU: 1,
  SPAPR_TCE_IOMMU: 2,
  TYPE1v2_IOMMU: 3,
  DMA_CC_IOMMU: 4,
  EEH: 5,
  TYPE1_NESTING_IOMMU: 6,
  SPAPR_TCE_v2_IOMMU: 7,
  NOIOMMU_IOMMU: 8,
  UNMAP_ALL: 9,
  UPDATE_VADDR: 10,
} as const;

/** `VFIO_GROUP_FLAGS_*` of `vfio_group_status.flags`. */
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

/** `vfio_iommu_type1_dma_map.flags`: READ/WRITE as the device sees them, VADDR to update a vaddr. */
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;

/** `vfio_iommu_type1_dma_unmap.flags`. */
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

/** `vfio_iommu_type1_info.flags` and its capability ids. */
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;

/** `vfio_iommu_type1_dirty_bitmap.flags`. */
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_START = 1 << 0;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP = 1 << 1;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP = 1 << 2;

/** Default `dma_entry_limit` of vfio_iommu_type1 (`U16_MAX`). */
export const VFIO_DEFAULT_DMA_ENTRY_LIMIT = 65535;
