/**
 * Linux errno numbers (include/uapi/asm-generic/errno-base.h and errno.h, the values x86-64 and
 * arm64 share), for the binary ioctl layers that return `-errno` as the kernel does.
 */
import { type Errno, isIommuSimError } from "@iommu-sim/iommu";

/** Errno names to numbers. */
export const ERRNO: Readonly<Record<Errno, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
};

/** The errno name of a number from {@link ERRNO}, `undefined` for an unknown one. */
export function errnoName(value: number): Errno | undefined {
  const n = Math.abs(value);
  for (const [name, num] of Object.entries(ERRNO)) if (num === n) return name as Errno;
  return undefined;
}

/**
 * The `-errno` an ioctl returns for a thrown error: an iommu-sim error's code, `EIO` for anything
 * else (a bug in the model rather than a user mistake, so it is not hidden as `EINVAL`).
 */
export function negErrno(error: unknown): number {
  if (isIommuSimError(error)) return -(ERRNO[error.code] ?? ERRNO.EIO);
  return -ERRNO.EIO;
}
