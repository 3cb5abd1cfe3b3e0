const BRAND = Symbol.for("iommu-sim:scenario-error");

/**
 * A mistake in a scenario file, located: `FILE:LINE: FIELD: message`, for example
 * `examples/bad.yaml:12: steps[3].map.size: expected a size like 0x1000 or "4K", got "4Q"`.
 * `code` is `EINVAL` as for every invalid argument in iommu-sim.
 */
export class ScenarioError extends Error {
  /** Always `EINVAL`. */
  readonly code = "EINVAL" as const;
  /** File name as given to `loadScenario`. */
  readonly file: string;
  /** 1-based line of the offending value. */
  readonly line: number;
  /** Field path (`steps[3].map.size`); empty for the document itself. */
  readonly path: string;
  /** The message without the location. */
  readonly detail: string;
  readonly [BRAND] = true;

  constructor(file: string, line: number, path: string, detail: string) {
    super(`${file}:${line}: ${path ? `${path}: ` : ""}${detail}`);
    this.name = "ScenarioError";
    this.file = file;
    this.line = line;
    this.path = path;
    this.detail = detail;
  }
}

/** True for a {@link ScenarioError} (by brand, not `instanceof`). */
export function isScenarioError(error: unknown): error is ScenarioError {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}
