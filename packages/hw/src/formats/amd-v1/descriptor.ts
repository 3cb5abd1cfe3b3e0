/**
 * AMD IOMMU v1 page-table entries decoded into the AMD IOMMU specification's field names and
 * encoded back bit for bit. Levels use generic_pt numbering (0 = 4 KiB leaf table).
 *
 * @module
 */
import { HwError } from "../../errors.js";
import type { DecodedDescriptor, DescriptorContext } from "../../page-table/types.js";
import { type BitField, decodeFields, encodeFields } from "../bit-fields.js";
import { AMDV1_NL_SIZED, AmdV1Codec, amdv1Address, amdv1EncodedSize, amdv1NextLevel } from "./codec.js";

/** Every bit of an AMD v1 PTE/PDE, by the spec's names (IGN = ignored by hardware). */
export const AMDV1_FIELDS: readonly BitField[] = [
  { name: "PR", lsb: 0, width: 1 },
  { name: "IGN4_1", lsb: 1, width: 4 },
  { name: "A", lsb: 5, width: 1 },
  { name: "D", lsb: 6, width: 1 },
  { name: "IGN8_7", lsb: 7, width: 2 },
  { name: "NextLevel", lsb: 9, width: 3 },
  { name: "Address", lsb: 12, width: 40, address: true },
  { name: "IGN58_52", lsb: 52, width: 7 },
  { name: "U", lsb: 59, width: 1 },
  { name: "FC", lsb: 60, width: 1 },
  { name: "IR", lsb: 61, width: 1 },
  { name: "IW", lsb: 62, width: 1 },
  { name: "IGN63", lsb: 63, width: 1 },
];

const codec = new AmdV1Codec({ forceCoherent: true, noLeafLevel: 5 });

function checkLevel(context: DescriptorContext): number {
  const level = context.level;
  if (!Number.isInteger(level) || level < 0 || level > 5)
    throw new HwError("EINVAL", `amd-v1: level ${level} is not 0..5`);
  return level;
}

/** Decodes the halves of an AMD v1 entry at generic_pt `level`. */
export function decodeAmdV1Halves(lo: number, hi: number, level: number): DecodedDescriptor {
  const d = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const fields = decodeFields(AMDV1_FIELDS, d);
  if (!codec.isPresent(lo)) return { format: "amd-v1", type: "invalid", fields };
  if (codec.walkFault(lo, hi, level) !== 0) return { format: "amd-v1", type: "reserved", fields };
  if (codec.isTable(lo, hi, level)) {
    return { format: "amd-v1", type: "table", nextTable: BigInt(amdv1Address(lo, hi)), fields };
  }
  const nl = amdv1NextLevel(lo);
  fields.pageSizeEncoded = nl === AMDV1_NL_SIZED;
  return {
    format: "amd-v1",
    type: level === 0 ? "page" : "block",
    outputAddress: BigInt(codec.leafAddress(lo, hi)),
    pageSize: BigInt(nl === AMDV1_NL_SIZED ? amdv1EncodedSize(lo, hi) : codec.leafSize(lo, hi, level)),
    prot: codec.leafPerm(lo, hi),
    fields,
  };
}

/** Decodes an AMD v1 descriptor; `context.level` is the generic_pt level (0 = 4 KiB table). */
export function decodeAmdV1(descriptor: bigint, context: DescriptorContext): DecodedDescriptor {
  const level = checkLevel(context);
  if (descriptor < 0n || descriptor >= 1n << 64n)
    throw new HwError("EINVAL", "amd-v1: descriptor is not a u64");
  return decodeAmdV1Halves(Number(descriptor & 0xffff_ffffn), Number(descriptor >> 32n), level);
}

/** Encodes an AMD v1 descriptor from its fields (derived fields such as `pageSizeEncoded` are ignored). */
export function encodeAmdV1(
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  checkLevel(context);
  return encodeFields("amd-v1", AMDV1_FIELDS, decoded.fields);
}
