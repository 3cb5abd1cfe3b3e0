/** Formatting of addresses, sizes and bytes in reports, snapshots and messages. */

/** `0x1000`; lowercase, no padding. */
export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/** A size as `4K`, `2M`, `1G` when it is a whole number of those, else hex. */
export function sizeText(value: bigint | number): string {
  const v = BigInt(value);
  for (const [unit, shift] of [
    ["G", 30n],
    ["M", 20n],
    ["K", 10n],
  ] as const) {
    if (v >= 1n << shift && v % (1n << shift) === 0n) return `${v >> shift}${unit}`;
  }
  return hex(v);
}

/** Bytes as space-separated hex pairs, `de ad be ef`. */
export function bytesText(data: Uint8Array, limit = 64): string {
  const shown = [...data.subarray(0, limit)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return data.length > limit ? `${shown} ... (${data.length} bytes)` : shown;
}
