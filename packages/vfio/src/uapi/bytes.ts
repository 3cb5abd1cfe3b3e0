/**
 * Little-endian field access for UAPI structs (the model's hosts are little-endian, as are x86-64
 * and arm64 Linux): a `DataView` over the caller's bytes, u64 fields as `bigint`.
 */
import { IommuError } from "@iommu-sim/iommu";

/** A little-endian view of `bytes` (no copy). */
export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Refuses a user buffer shorter than `need` bytes: `copy_from_user` would fault (`EFAULT`). */
export function needBytes(bytes: Uint8Array, need: number, what: string): void {
  if (bytes.byteLength < need) {
    throw new IommuError("EFAULT", `${what}: ${bytes.byteLength} readable bytes, ${need} needed`);
  }
}

/** Reads a u32. */
export function u32(dv: DataView, offset: number): number {
  return dv.getUint32(offset, true);
}

/** Reads a u64 as `bigint`. */
export function u64(dv: DataView, offset: number): bigint {
  return dv.getBigUint64(offset, true);
}

/** Writes a u32. */
export function setU32(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value >>> 0, true);
}

/** Writes a u64 (`bigint` or safe integer). */
export function setU64(dv: DataView, offset: number, value: bigint | number): void {
  dv.setBigUint64(offset, BigInt(value), true);
}

/**
 * A NUL-terminated C string (device names are ASCII) from `bytes`, up to the first NUL. Kept free
 * of TextDecoder, which is not part of the ECMAScript library this package targets.
 */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return String.fromCharCode(...bytes.subarray(0, end < 0 ? bytes.length : end));
}

/** `text` as a NUL-terminated C string (ASCII; other characters are refused by the kernel's users). */
export function toCString(text: string): Uint8Array {
  const out = new Uint8Array(text.length + 1);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}
