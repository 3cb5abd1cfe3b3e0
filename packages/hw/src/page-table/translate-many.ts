/**
 * What every walker's `translateMany` shares: the argument checks, and the plain loop over
 * `translate` for walkers without a specialised one.
 */
import { HwError } from "../errors.js";
import { createWalkOut, type WalkOut } from "./types.js";

/** `translateMany`'s argument checks: typed arrays, and outputs at least as long as the input. */
export function checkManyArrays(iovas: Float64Array, outputs: Float64Array, perms?: Uint8Array): void {
  if (!(iovas instanceof Float64Array) || !(outputs instanceof Float64Array)) {
    throw new HwError("EINVAL", "translateMany: iovas and outputs must be Float64Arrays");
  }
  if (outputs.length < iovas.length) {
    throw new HwError("EINVAL", `translateMany: ${outputs.length} outputs for ${iovas.length} addresses`);
  }
  if (perms !== undefined && (!(perms instanceof Uint8Array) || perms.length < iovas.length)) {
    throw new HwError(
      "EINVAL",
      `translateMany: perms must be a Uint8Array of at least ${iovas.length} entries`,
    );
  }
}

/**
 * `translateMany` as one `translate` per address: output address or -1, permissions or 0; returns
 * the number of faults.
 */
export function translateManyByCalls(
  translate: (root: number, iova: number, out: WalkOut) => void,
  root: number,
  iovas: Float64Array,
  outputs: Float64Array,
  perms?: Uint8Array,
): number {
  checkManyArrays(iovas, outputs, perms);
  const out = createWalkOut();
  let faults = 0;
  for (let i = 0; i < iovas.length; i++) {
    translate(root, iovas[i]!, out);
    const ok = out.fault === 0;
    outputs[i] = ok ? out.outputAddress : -1;
    if (perms !== undefined) perms[i] = ok ? out.perm : 0;
    if (!ok) faults++;
  }
  return faults;
}
