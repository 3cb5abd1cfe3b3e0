/**
 * Addresses a run learns as it goes, by name: DMA buffers (`rx.dma`, `rx.cpu`) and VFIO mappings
 * (`region.iova`, `region.vaddr`). Steps that create them record them here; steps that take an
 * {@link AddressRef} resolve against them. Kept per run context, outside it, so the context stays
 * the same for scenarios that use none of this.
 */
import { type AddressRef, resolveAddress } from "./address-ref.js";
import type { RunContext } from "./context.js";

const perRun = new WeakMap<RunContext, Map<string, Map<string, bigint>>>();

function table(ctx: RunContext): Map<string, Map<string, bigint>> {
  let t = perRun.get(ctx);
  if (!t) {
    t = new Map();
    perRun.set(ctx, t);
  }
  return t;
}

/** Records the addresses of `name` (`{ dma, cpu }` of a buffer...). Throws when the name is taken. */
export function nameAddresses(ctx: RunContext, name: string, parts: Readonly<Record<string, bigint>>): void {
  const t = table(ctx);
  if (t.has(name)) throw new Error(`the name "${name}" is already used in this run`);
  t.set(name, new Map(Object.entries(parts)));
}

/** Whether `name` is taken. */
export function hasName(ctx: RunContext, name: string): boolean {
  return table(ctx).has(name);
}

/** Resolves an address reference of a step. */
export function resolve(ctx: RunContext, ref: AddressRef): bigint {
  return resolveAddress(ref, (name, part) => table(ctx).get(name)?.get(part));
}
