/**
 * Addresses a step may give by name: `rx.dma` (the DMA address the DMA API returned for buffer
 * `rx`), `rx.cpu` (the buffer's CPU, that is physical, address) or `region.iova` (the IOVA a VFIO
 * mapping was made at), with an optional `+ OFFSET`. The DMA API picks addresses at run time, so a
 * scenario that lets the device use them cannot write them down in advance; the reference is
 * resolved when the step runs.
 */
import { type At, addr } from "./decoders.js";
import type { JsonSchema } from "./steps/step.js";

/** An address, or a named one resolved at run time. */
export type AddressRef =
  | { readonly kind: "literal"; readonly value: bigint }
  | { readonly kind: "named"; readonly name: string; readonly part: string; readonly offset: bigint };

const NAMED = /^\s*([A-Za-z_][\w-]*)\.(dma|cpu|iova|vaddr)\s*(?:\+\s*(0x[0-9a-fA-F_]+|[0-9]+))?\s*$/;

/** Schema of {@link AddressRef}. */
export const ADDRESS_REF: JsonSchema = {
  description:
    'An address (an integer or a hex string), or a named one resolved when the step runs: "rx.dma", "rx.cpu", "region.iova", "region.vaddr", each optionally "+ 0x10".',
  anyOf: [
    { type: "integer", minimum: 0 },
    {
      type: "string",
      pattern:
        "^\\s*((0[xX][0-9a-fA-F_]+|[0-9]+)|[A-Za-z_][\\w-]*\\.(dma|cpu|iova|vaddr)\\s*(\\+\\s*(0[xX][0-9a-fA-F_]+|[0-9]+))?)\\s*$",
    },
  ],
};

/** Decodes an {@link AddressRef}. */
export function addressRef(at: At): AddressRef {
  const v = at.node.kind === "scalar" ? at.node.value : undefined;
  const m = typeof v === "string" ? NAMED.exec(v) : null;
  if (m) {
    return {
      kind: "named",
      name: m[1]!,
      part: m[2]!,
      offset: m[3] === undefined ? 0n : BigInt(m[3].replaceAll("_", "")),
    };
  }
  return { kind: "literal", value: addr(at) };
}

/** A named address's value; throws naming the reference when nothing by that name has one. */
export type AddressResolver = (name: string, part: string) => bigint | undefined;

/** Resolves `ref` with `lookup`. */
export function resolveAddress(ref: AddressRef, lookup: AddressResolver): bigint {
  if (ref.kind === "literal") return ref.value;
  const base = lookup(ref.name, ref.part);
  if (base === undefined)
    throw new Error(`"${ref.name}.${ref.part}" names no DMA buffer or VFIO mapping of this run`);
  return base + ref.offset;
}

/** The reference as the scenario wrote it (for summaries). */
export function addressRefText(ref: AddressRef): string {
  if (ref.kind === "literal") return `0x${ref.value.toString(16)}`;
  return `${ref.name}.${ref.part}${ref.offset ? `+0x${ref.offset.toString(16)}` : ""}`;
}
