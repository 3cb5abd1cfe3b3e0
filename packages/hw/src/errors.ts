/**
 * Errors of the hardware model. Every failure carries the errno name Linux returns in the same
 * situation, so callers (and tests) check `error.code`, never `instanceof` across packages.
 */

/** Errno names used across iommu-sim (the kernel's names, as strings). */
export type Errno =
  | "EINVAL"
  | "EEXIST"
  | "EBUSY"
  | "ENOSPC"
  | "ENOMEM"
  | "ENODEV"
  | "EPERM"
  | "EFAULT"
  | "ENOENT"
  | "ERANGE"
  | "EOVERFLOW"
  | "EADDRINUSE"
  | "EOPNOTSUPP"
  | "E2BIG"
  | "EMSGSIZE"
  | "EIO"
  | "ENOSYS"
  | "EACCES"
  | "ENOTTY"
  | "EBADF"
  | "EBADFD";

/** Brand shared by every iommu-sim error class, in every package, across duplicate installs. */
export const IOMMU_SIM_ERROR: unique symbol = Symbol.for("iommu-sim:error") as never;

/** An error raised by the hardware model: a bad argument, an exhausted allocator, a malformed record. */
export class HwError extends Error {
  /** The errno Linux would return for the same mistake. */
  readonly code: Errno;
  readonly [IOMMU_SIM_ERROR] = true;

  constructor(code: Errno, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HwError";
    this.code = code;
  }
}

/** True for an error thrown by any iommu-sim package (checked by brand, not `instanceof`). */
export function isIommuSimError(error: unknown): error is Error & { code: Errno } {
  return (
    typeof error === "object" &&
    error !== null &&
    (error as Record<symbol, unknown>)[IOMMU_SIM_ERROR] === true
  );
}
