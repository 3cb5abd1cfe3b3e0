// Shared setup for the core's tests: a core with one reference IOMMU.
import { createIommuCore, type IommuCore, type IommuCoreOptions, isIommuSimError } from "@iommu-sim/iommu";
import {
  createReferenceBackend,
  type ReferenceBackend,
  type ReferenceBackendOptions,
} from "../reference/reference-backend.js";

export interface Machine {
  core: IommuCore;
  ref: ReferenceBackend;
}

export function machine(ref: ReferenceBackendOptions = {}, core: IommuCoreOptions = {}): Machine {
  const c = createIommuCore(core);
  const r = createReferenceBackend(ref);
  c.registerIommu(r);
  return { core: c, ref: r };
}

/** The errno `fn` throws, or undefined. */
export function errno(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isIommuSimError(error)) return error.code;
    throw error;
  }
  return undefined;
}
