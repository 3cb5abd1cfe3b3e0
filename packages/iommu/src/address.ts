/**
 * Addresses and sizes at the public edge of the IOMMU API: `bigint` (the kernel's u64) or a
 * safe-integer `number` in, numbers inside, `bigint` out. The helpers here do 53-bit bit arithmetic
 * on numbers without allocating, which is what the map/unmap hot paths need.
 */
import { IommuError } from "./errors.js";

/** An address or size as callers may pass it: `bigint` or a non-negative safe-integer `number`. */
export type AddressLike = bigint | number;

const TWO32 = 0x1_0000_0000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Formats an address as lowercase `0x` hex for messages. */
export function hex(value: AddressLike): string {
  if (typeof value === "bigint") return `0x${value.toString(16)}`;
  return Number.isInteger(value) && value >= 0 ? `0x${value.toString(16)}` : String(value);
}

/**
 * Converts a public address or size to an internal number. Negative, fractional or wrongly typed
 * values fail with `EINVAL`; values beyond 2^53 - 1 with `ERANGE` (no simulated space is that large).
 */
export function toAddr(value: AddressLike, what: string): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new IommuError("EINVAL", `${what} ${String(value)} is not a non-negative safe integer`);
  }
  if (typeof value === "bigint") {
    if (value < 0n) throw new IommuError("EINVAL", `${what} ${value} is negative`);
    if (value > MAX_SAFE) throw new IommuError("ERANGE", `${what} ${hex(value)} is beyond 2^53`);
    return Number(value);
  }
  throw new IommuError("EINVAL", `${what} must be a bigint or a number, got ${typeof value}`);
}

/** Index of the lowest set bit of a positive safe integer (the kernel's `__ffs`); -1 for 0. */
export function lowBit(value: number): number {
  if (value === 0) return -1;
  const lo = value % TWO32;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(value / TWO32);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** Index of the highest set bit of a positive safe integer (the kernel's `__fls`); -1 for 0. */
export function highBit(value: number): number {
  if (value === 0) return -1;
  const hi = Math.floor(value / TWO32);
  if (hi !== 0) return 32 + 31 - Math.clz32(hi);
  return 31 - Math.clz32(value);
}

/** True when `value` is a power of two (and positive), for numbers up to 2^53. */
export function isPowerOfTwo(value: number): boolean {
  return value > 0 && lowBit(value) === highBit(value);
}

/** Bitwise OR of two non-negative safe integers (JavaScript's `|` truncates to 32 bits). */
export function or53(a: number, b: number): number {
  const hi = (Math.floor(a / TWO32) | Math.floor(b / TWO32)) >>> 0;
  const lo = ((a % TWO32) | (b % TWO32)) >>> 0;
  return hi * TWO32 + lo;
}
