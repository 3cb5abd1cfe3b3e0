/**
 * The iommufd ioctl numbers (include/uapi/linux/iommufd.h): `_IO(IOMMUFD_TYPE, IOMMUFD_CMD_*)` with
 * `IOMMUFD_TYPE` = `';'` and the commands numbered from `IOMMUFD_CMD_BASE` = 0x80.
 */

/** `IOMMUFD_TYPE`. */
export const IOMMUFD_TYPE = 0x3b;

/** `_IO(IOMMUFD_TYPE, nr)`. */
export function iommufdIo(nr: number): number {
  return ((IOMMUFD_TYPE << 8) | nr) >>> 0;
}

/** The iommufd ioctls by name. */
export const IommufdIoctl = {
  DESTROY: iommufdIo(0x80),
  IOAS_ALLOC: iommufdIo(0x81),
  IOAS_ALLOW_IOVAS: iommufdIo(0x82),
  IOAS_COPY: iommufdIo(0x83),
  IOAS_IOVA_RANGES: iommufdIo(0x84),
  IOAS_MAP: iommufdIo(0x85),
  IOAS_UNMAP: iommufdIo(0x86),
  OPTION: iommufdIo(0x87),
  VFIO_IOAS: iommufdIo(0x88),
  HWPT_ALLOC: iommufdIo(0x89),
} as const;
