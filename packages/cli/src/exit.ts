const BRAND = Symbol.for("iommu-sim:cli-exit");

/**
 * Thrown by a command that has already written its output and diagnostics and only needs
 * `runCli` to return a particular exit status (for example 3 from `decode` when some blocks could
 * not be decoded). `runCli` prints nothing more for it.
 */
export class CliExit extends Error {
  /** The exit status `runCli` returns. */
  readonly status: number;
  readonly [BRAND] = true;

  constructor(status: number) {
    super(`exit status ${status}`);
    this.name = "CliExit";
    this.status = status;
  }
}

/** True for a {@link CliExit} (checked by brand, not `instanceof`). */
export function isCliExit(error: unknown): error is CliExit {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}
