/**
 * Hex helpers shared by the log parsers: every address and register value leaves the decoder
 * as a lowercase, minimal `0x` string (`0xdead000`, `0x0`), whatever padding the kernel printed.
 */

/** Formats a value as a lowercase `0x` hex string without leading zeros (`0` is `0x0`). */
export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/**
 * Parses hex digits as the kernel printed them, with or without `0x` and zero padding.
 * Returns `undefined` for anything that is not a hex number, so callers can report it.
 */
export function parseHex(text: string): bigint | undefined {
  const digits = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-f]+$/i.test(digits)) return undefined;
  return BigInt(`0x${digits}`);
}

/** Like {@link parseHex} but for values known to fit a JavaScript number (IDs, flags, registers). */
export function parseHexNumber(text: string): number | undefined {
  const value = parseHex(text);
  return value === undefined || value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
}

/**
 * Renders a PCI requester ID (bus in bits 15:8, device 7:3, function 2:0) the way the drivers
 * print it: `bb:dd.f`.
 */
export function formatRequester(rid: number): string {
  const bus = (rid >> 8) & 0xff;
  const dev = (rid >> 3) & 0x1f;
  const fn = rid & 0x7;
  return `${bus.toString(16).padStart(2, "0")}:${dev.toString(16).padStart(2, "0")}.${fn}`;
}

/**
 * Normalises a PCI device name as printed (`03:00.0`, `0x03:0x00.0`, `0000:03:00.0`) to the
 * `bb:dd.f` requester form; `undefined` when the text is not a PCI address.
 */
export function requesterOf(text: string): string | undefined {
  const m = /^(?:([0-9a-f]{4}):)?(?:0x)?([0-9a-f]{1,2}):(?:0x)?([0-9a-f]{1,2})\.([0-7])$/i.exec(text.trim());
  if (!m) return undefined;
  const bus = m[2]!.toLowerCase().padStart(2, "0");
  const dev = m[3]!.toLowerCase().padStart(2, "0");
  return `${bus}:${dev}.${m[4]}`;
}
