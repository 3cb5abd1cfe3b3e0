/**
 * Errors of the IOMMU API and the layers above it (DMA, VFIO) and of backends: every failure carries
 * the errno Linux returns in the same case. Check `error.code`, never `instanceof` across packages.
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

/**
 * Brand on every iommu-sim error, in every package. `Symbol.for` makes it the same symbol in two
 * copies of a package, where `instanceof` would fail.
 */
export const IOMMU_SIM_ERROR: unique symbol = Symbol.for("iommu-sim:error") as never;

/** An error from the IOMMU API or a layer above it. */
export class IommuError extends Error {
  /** The errno Linux would return for the same mistake. */
  readonly code: Errno;
  readonly [IOMMU_SIM_ERROR] = true;

  constructor(code: Errno, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IommuError";
    this.code = code;
  }
}

/** True for an error thrown by any iommu-sim package, `@iommu-sim/hw`'s included. */
export function isIommuSimError(error: unknown): error is Error & { code: Errno } {
  return (
    typeof error === "object" &&
    error !== null &&
    (error as Record<symbol, unknown>)[IOMMU_SIM_ERROR] === true
  );
}

/**
 * Re-raises an error from a lower layer (a backend's hardware model) as an `IommuError` with the same
 * code, keeping it as `cause`; anything that is not an iommu-sim error becomes `EIO`.
 */
export function asIommuError(error: unknown, context: string): IommuError {
  if (isIommuSimError(error)) {
    return error instanceof IommuError
      ? error
      : new IommuError(error.code, `${context}: ${error.message}`, { cause: error });
  }
  return new IommuError("EIO", `${context}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}
