/**
 * JSON Schema fragments for the value types the decoders read, shared by the step modules so the
 * published schema and the decoders describe the same format.
 */
import type { JsonSchema } from "./steps/step.js";

/** An integer or a string the decoders accept as one. */
const intLike = (pattern: string): JsonSchema => ({
  anyOf: [
    { type: "integer", minimum: 0 },
    { type: "string", pattern },
  ],
});

/** A size: `4096`, `"0x1000"`, `"4K"`, `"2MiB"`. */
export const SIZE: JsonSchema = {
  description: 'Bytes: an integer, hex ("0x1000") or with a unit ("4K", "2M", "1G"; powers of 1024).',
  anyOf: [
    { type: "integer", exclusiveMinimum: 0 },
    { type: "string", pattern: "^\\s*(0[xX][0-9a-fA-F]+|[0-9]+|[0-9]+\\s*[KMGTkmgt](i?B)?)\\s*$" },
  ],
};

/** An address: an integer or a hex string. */
export const ADDRESS: JsonSchema = {
  description: "An address: an integer or a hex string (use a string for 64-bit values in JSON).",
  ...intLike("^\\s*(0[xX][0-9a-fA-F_]+|[0-9]+)\\s*$"),
};

/** An integer that may be written in hex. */
export const INTEGER: JsonSchema = intLike("^\\s*(0[xX][0-9a-fA-F]+|[0-9]+)\\s*$");

/** Bytes: a hex string or a list of byte values. */
export const BYTES: JsonSchema = {
  description: 'Bytes in memory order: hex ("de ad be ef", "0xdeadbeef") or a list of 0..255.',
  anyOf: [
    { type: "string", pattern: "^(0[xX])?([\\s:_-]*[0-9a-fA-F]{2})+[\\s:_-]*$" },
    { type: "array", items: { type: "integer", minimum: 0, maximum: 255 }, minItems: 1 },
  ],
};

/** A device name. */
export const DEVICE: JsonSchema = {
  type: "string",
  minLength: 1,
  description: "A device: its scenario name or PCI name.",
};

/** A domain reference. */
export const DOMAIN: JsonSchema = {
  type: "string",
  minLength: 1,
  description: "A domain: a name from domain.alloc, default:DEVICE or current:DEVICE.",
};

/** The names of the prot flags. */
export const PROT_NAMES = ["read", "write", "cache", "noexec", "mmio", "priv"] as const;

/** Protection flags. */
export const PROT: JsonSchema = {
  description: 'IOMMU_* flags: a list of names, "read|write", or a shorthand ("r", "w", "rw").',
  anyOf: [
    { type: "array", items: { enum: [...PROT_NAMES] }, minItems: 1 },
    {
      type: "string",
      pattern: "^(r|w|rw|(read|write|cache|noexec|mmio|priv)(\\|(read|write|cache|noexec|mmio|priv))*)$",
    },
  ],
};

/** A count or a comparison. */
export const COMPARISON: JsonSchema = {
  description: 'A count (3) or a comparison (">= 1", "< 4", "!= 0").',
  anyOf: [
    { type: "integer", minimum: 0 },
    { type: "string", pattern: "^(==|!=|>=|<=|>|<)\\s*[0-9]+$" },
  ],
};

/** A duration. */
export const DURATION: JsonSchema = {
  description: 'Virtual time: ns as an integer, or "10us", "1ms", "2s".',
  anyOf: [
    { type: "integer", minimum: 0 },
    { type: "string", pattern: "^\\s*[0-9]+\\s*(ns|us|ms|s)\\s*$" },
  ],
};

/** An object with exactly these properties, `required` among them. */
export function object(properties: Record<string, JsonSchema>, required: readonly string[] = []): JsonSchema {
  return { type: "object", properties, required: [...required], additionalProperties: false };
}
