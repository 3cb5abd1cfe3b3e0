import { HwError } from "../errors.js";
import type {
  DecodedDescriptor,
  DescriptorContext,
  FormatName,
  PageTable,
  PageTableConfig,
  PageTableFormatDefinition,
} from "./types.js";

/**
 * Every page-table format, by registry name. One module per format family under `formats/`;
 * adding a format means adding its definition here.
 */
const FORMATS: Partial<Record<FormatName, PageTableFormatDefinition>> = {};

/** Names of the registered formats. */
export function formatNames(): FormatName[] {
  return Object.keys(FORMATS) as FormatName[];
}

/** The definition of `name`; unknown names are refused with `EINVAL` listing the known ones. */
export function getFormat(name: string): PageTableFormatDefinition {
  const format = (FORMATS as Record<string, PageTableFormatDefinition | undefined>)[name];
  if (!format)
    throw new HwError("EINVAL", `unknown page-table format "${name}" (known: ${formatNames().join(", ")})`);
  return format;
}

/** Creates an empty page table of `format` (Linux's `alloc_io_pgtable_ops`). */
export function createPageTable(format: FormatName, config: PageTableConfig): PageTable {
  return getFormat(format).create(config);
}

/** Decodes a raw descriptor of `format` at `context.level` into named fields. */
export function decodeDescriptor(
  format: FormatName,
  descriptor: bigint | number,
  context: DescriptorContext,
): DecodedDescriptor {
  return getFormat(format).decode(BigInt(descriptor), context);
}

/** Encodes a descriptor of `format` from its decoded form. */
export function encodeDescriptor(
  format: FormatName,
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  return getFormat(format).encode(decoded, context);
}
