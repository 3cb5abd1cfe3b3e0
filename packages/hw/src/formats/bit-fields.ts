/**
 * Named bit fields of a 64-bit descriptor, for the verbose decode/encode of the x86 formats (not a
 * hot path: bigint is fine here). A layout lists every field so that encoding the decoded fields
 * gives back the same 64 bits.
 *
 * @module
 */
import { HwError } from "../errors.js";

/** One field: `name` occupies bits `[lsb + width - 1 : lsb]`; `flag` fields decode as booleans. */
export interface BitField {
  readonly name: string;
  readonly lsb: number;
  readonly width: number;
  /** Decoded as a boolean (one-bit flags). @default width === 1 */
  readonly flag?: boolean;
  /** Decoded as the address the bits form in place (bigint), e.g. bits 51:12 of a physical address. */
  readonly address?: boolean;
}

/** Splits a descriptor into its fields. */
export function decodeFields(
  layout: readonly BitField[],
  d: bigint,
): Record<string, number | bigint | boolean> {
  const out: Record<string, number | bigint | boolean> = {};
  for (const f of layout) {
    const mask = (1n << BigInt(f.width)) - 1n;
    const v = (d >> BigInt(f.lsb)) & mask;
    if (f.address) out[f.name] = v << BigInt(f.lsb);
    else if (f.flag ?? f.width === 1) out[f.name] = v === 1n;
    else out[f.name] = Number(v);
  }
  return out;
}

/** Joins fields back into a descriptor; missing fields are 0, values that do not fit are refused. */
export function encodeFields(
  format: string,
  layout: readonly BitField[],
  fields: Readonly<Record<string, number | bigint | boolean | string>>,
): bigint {
  let d = 0n;
  for (const f of layout) {
    const raw = fields[f.name];
    if (raw === undefined) continue;
    let v: bigint;
    if (typeof raw === "boolean") v = raw ? 1n : 0n;
    else if (typeof raw === "bigint" || (typeof raw === "number" && Number.isSafeInteger(raw)))
      v = BigInt(raw);
    else throw new HwError("EINVAL", `${format}: field ${f.name}=${String(raw)} is not an integer`);
    if (f.address) {
      const low = (1n << BigInt(f.lsb)) - 1n;
      if (v & low)
        throw new HwError("EINVAL", `${format}: ${f.name} 0x${v.toString(16)} has bits below bit ${f.lsb}`);
      v >>= BigInt(f.lsb);
    }
    if (v < 0n || v >= 1n << BigInt(f.width)) {
      throw new HwError(
        "EINVAL",
        `${format}: field ${f.name}=${String(raw)} does not fit in ${f.width} bits`,
      );
    }
    d |= v << BigInt(f.lsb);
  }
  return d;
}
