import { HwError } from "./errors.js";

/** An address or size: `bigint` (the kernel's u64) or a safe-integer `number`. */
export type AddressLike = bigint | number;

/** 2^53: internal addresses are numbers below this (52-bit physical, up to 52-bit input). */
export const MAX_NUMBER_ADDRESS = 2 ** 53;

/** Formats an address as lowercase `0x` hex, for messages. */
export function hex(value: AddressLike): string {
  if (typeof value === "bigint") return `0x${value.toString(16)}`;
  if (Number.isInteger(value) && value >= 0) return `0x${value.toString(16)}`;
  return String(value);
}

/**
 * Converts an address or size to a number, refusing negative, non-integer, unsafe or wrongly-typed
 * values with `EINVAL` (the kernel's answer to a nonsensical argument). Values at or above 2^53 are
 * refused with `ERANGE`: no simulated address space is that large.
 */
export function toNumber(value: unknown, what: string): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new HwError("EINVAL", `${what} ${String(value)} is not a non-negative safe integer`);
  }
  if (typeof value === "bigint") {
    if (value < 0n) throw new HwError("EINVAL", `${what} ${value} is negative`);
    if (value >= BigInt(MAX_NUMBER_ADDRESS))
      throw new HwError("ERANGE", `${what} ${hex(value)} is beyond 2^53`);
    return Number(value);
  }
  throw new HwError("EINVAL", `${what} must be a bigint or a number, got ${typeof value}`);
}

/** Low 32 bits of a non-negative number below 2^53, as an unsigned 32-bit value. */
export function lo32(value: number): number {
  return value >>> 0;
}

/** Bits 52:32 of a non-negative number below 2^53. */
export function hi32(value: number): number {
  return Math.floor(value / 0x1_0000_0000);
}

/** Joins two 32-bit halves into a bigint descriptor. */
export function joinU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** True when `value` is a power of two (and positive). Works for numbers up to 2^53. */
export function isPowerOfTwo(value: number): boolean {
  return value > 0 && Number.isInteger(Math.log2(value));
}

/** log2 of a power of two up to 2^53. */
export function log2(value: number): number {
  return Math.round(Math.log2(value));
}
