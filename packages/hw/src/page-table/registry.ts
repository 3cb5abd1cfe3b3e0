import { HwError } from "../errors.js";
import { amdV1Format } from "../formats/amd-v1/index.js";
import { armLpaeS1Format, armLpaeS2Format } from "../formats/arm-lpae/format.js";
import { armV7sFormat } from "../formats/arm-v7s/index.js";
import { intelVtdFsFormat } from "../formats/intel-vtd/first-stage.js";
import { intelVtdSsFormat } from "../formats/intel-vtd/second-stage.js";
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
const FORMATS: Partial<Record<FormatName, PageTableFormatDefinition>> = {
  "arm-lpae-s1": armLpaeS1Format,
  "arm-lpae-s2": armLpaeS2Format,
  "arm-v7s": armV7sFormat,
  "amd-v1": amdV1Format,
  "intel-vtd-ss": intelVtdSsFormat,
  "intel-vtd-fs": intelVtdFsFormat,
};

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
