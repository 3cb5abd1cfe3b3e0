/**
 * Small helpers for the kernel's u64 values at the VFIO boundary. UAPI structs carry u64 fields
 * (decoded as `bigint`); the checks the kernel does on them (wrap, alignment) are done here once per
 * ioctl in `bigint`, and everything that survives is a safe-integer `number` inside.
 */
import { IommuError } from "@iommu-sim/iommu";

/** An address or size as callers may pass it: `bigint` (the kernel's u64) or a non-negative safe integer. */
export type U64Like = bigint | number;

/** 2^64 - 1, the kernel's `U64_MAX` (and `SIZE_MAX`/`ULONG_MAX` on a 64-bit host). */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Reads a caller's value as `bigint`, refusing what is not a u64 with `EINVAL`. */
export function toU64(value: U64Like, what: string): bigint {
  if (typeof value === "bigint") {
    if (value < 0n || value > U64_MAX) throw new IommuError("EINVAL", `${what} ${value} is not a u64`);
    return value;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new IommuError("EINVAL", `${what} ${String(value)} is not a non-negative safe integer`);
}

/**
 * Converts a u64 already checked by the caller to a `number`. Above 2^53 - 1 no simulated address
 * space exists, so that is `ERANGE` (the IOMMU core does the same).
 */
export function u64ToSafe(value: bigint, what: string): number {
  if (value > MAX_SAFE) throw new IommuError("ERANGE", `${what} ${hex(value)} is beyond 2^53`);
  return Number(value);
}

/** Formats a value as lowercase `0x` hex for messages. */
export function hex(value: U64Like): string {
  return typeof value === "bigint" || (Number.isInteger(value) && value >= 0)
    ? `0x${value.toString(16)}`
    : String(value);
}

/** Index of the lowest set bit of a positive u64 (the kernel's `__ffs`); -1 for 0. */
export function ffs64(value: bigint): number {
  if (value === 0n) return -1;
  let bit = 0;
  let v = value;
  while ((v & 0xffff_ffffn) === 0n) {
    v >>= 32n;
    bit += 32;
  }
  const lo = Number(v & 0xffff_ffffn);
  return bit + 31 - Math.clz32(lo & -lo);
}
