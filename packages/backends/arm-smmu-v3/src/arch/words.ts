/**
 * 64-bit architecture structures (STEs, CDs, commands, events) held as little-endian 32-bit word
 * pairs in a `Uint32Array`: dword `d` is words `2d` (bits 31:0) and `2d + 1` (bits 63:32). Numbers
 * only, so building and decoding them allocates nothing and uses no bigint.
 */

/** Bits [hi:lo] of dword `d` (a field inside one 32-bit half, width <= 32). */
export function getField(words: Uint32Array, d: number, hi: number, lo: number): number {
  const word = words[2 * d + (lo >= 32 ? 1 : 0)]!;
  const shift = lo % 32;
  const width = hi - lo + 1;
  return width === 32 ? word >>> 0 : (word >>> shift) & (2 ** width - 1);
}

/** Sets bits [hi:lo] of dword `d` to `value` (a field inside one 32-bit half). */
export function setField(words: Uint32Array, d: number, hi: number, lo: number, value: number): void {
  const i = 2 * d + (lo >= 32 ? 1 : 0);
  const shift = lo % 32;
  const width = hi - lo + 1;
  const mask = width === 32 ? 0xffff_ffff : (2 ** width - 1) * 2 ** shift;
  words[i] = ((words[i]! & ~mask) | ((value * 2 ** shift) & mask)) >>> 0;
}

/** An address field occupying bits [hi:lo] of dword `d` in place (bits below `lo` of the address are dropped). */
export function getAddress(words: Uint32Array, d: number, hi: number, lo: number): number {
  const lowMask = lo >= 32 ? 0 : (0xffff_ffff - (2 ** lo - 1)) >>> 0;
  const low = (words[2 * d]! & lowMask) >>> 0;
  const high = words[2 * d + 1]! & (2 ** (hi - 31) - 1);
  return high * 0x1_0000_0000 + low;
}

/** Writes address `addr` into bits [hi:lo] of dword `d` in place, leaving the other bits alone. */
export function setAddress(words: Uint32Array, d: number, hi: number, lo: number, addr: number): void {
  const lowMask = (0xffff_ffff - (2 ** lo - 1)) >>> 0;
  const highMask = 2 ** (hi - 31) - 1;
  const low = addr >>> 0;
  const high = Math.floor(addr / 0x1_0000_0000);
  words[2 * d] = ((words[2 * d]! & ~lowMask) | (low & lowMask)) >>> 0;
  words[2 * d + 1] = ((words[2 * d + 1]! & ~highMask) | (high & highMask)) >>> 0;
}

/** Dword `d` as a bigint, for tests, dumps and messages (never on a hot path). */
export function dwordOf(words: Uint32Array, d: number): bigint {
  return (BigInt(words[2 * d + 1]!) << 32n) | BigInt(words[2 * d]!);
}

/** All dwords as bigints. */
export function dwordsOf(words: Uint32Array): bigint[] {
  const out: bigint[] = [];
  for (let d = 0; d < words.length / 2; d++) out.push(dwordOf(words, d));
  return out;
}

/** Reads `count` 32-bit words at physical address `pa` into `out`. */
export function readWords(
  memory: { readU32(pa: number): number },
  pa: number,
  out: Uint32Array,
  count = out.length,
): void {
  for (let i = 0; i < count; i++) out[i] = memory.readU32(pa + 4 * i);
}

/** Writes `count` words of `words` (from `start`) at physical address `pa + 4 * start`. */
export function writeWords(
  memory: { writeU32(pa: number, value: number): void },
  pa: number,
  words: Uint32Array,
  start = 0,
  count = words.length - start,
): void {
  for (let i = start; i < start + count; i++) memory.writeU32(pa + 4 * i, words[i]!);
}
