/**
 * VT-d second-stage and x86-64 first-stage entries decoded into the specifications' field names and
 * encoded back bit for bit. Levels use generic_pt numbering (0 = 4 KiB leaf table).
 *
 * @module
 */
import { HwError } from "../../errors.js";
import type { RadixCodec } from "../../page-table/radix-table.js";
import type { DecodedDescriptor, DescriptorContext, FormatName } from "../../page-table/types.js";
import { type BitField, decodeFields, encodeFields } from "../bit-fields.js";
import { X86FsCodec } from "./fs-codec.js";
import { VtdSsCodec } from "./ss-codec.js";

/** Every bit of a VT-d second-stage entry (VT-d spec 9.8). */
export const VTDSS_FIELDS: readonly BitField[] = [
  { name: "R", lsb: 0, width: 1 },
  { name: "W", lsb: 1, width: 1 },
  { name: "X", lsb: 2, width: 1 },
  { name: "EMT", lsb: 3, width: 3 },
  { name: "IPAT", lsb: 6, width: 1 },
  { name: "PS", lsb: 7, width: 1 },
  { name: "A", lsb: 8, width: 1 },
  { name: "D", lsb: 9, width: 1 },
  { name: "IGN10", lsb: 10, width: 1 },
  { name: "SNP", lsb: 11, width: 1 },
  { name: "Address", lsb: 12, width: 40, address: true },
  { name: "IGN61_52", lsb: 52, width: 10 },
  { name: "TM", lsb: 62, width: 1 },
  { name: "IGN63", lsb: 63, width: 1 },
];

/** Every bit of an x86-64 paging-structure entry (SDM 4.5; PS is PAT in a 4 KiB PTE). */
export const X86_64_FIELDS: readonly BitField[] = [
  { name: "P", lsb: 0, width: 1 },
  { name: "RW", lsb: 1, width: 1 },
  { name: "US", lsb: 2, width: 1 },
  { name: "PWT", lsb: 3, width: 1 },
  { name: "PCD", lsb: 4, width: 1 },
  { name: "A", lsb: 5, width: 1 },
  { name: "D", lsb: 6, width: 1 },
  { name: "PS", lsb: 7, width: 1 },
  { name: "G", lsb: 8, width: 1 },
  { name: "IGN11_9", lsb: 9, width: 3 },
  { name: "Address", lsb: 12, width: 40, address: true },
  { name: "IGN58_52", lsb: 52, width: 7 },
  { name: "PK", lsb: 59, width: 4 },
  { name: "XD", lsb: 63, width: 1 },
];

// Decoding assumes hardware with every superpage size; the walker checks the configured ones.
const ssCodec = new VtdSsCodec({ forceSnoop: true, superpageLevels: 6 });
const fsCodec = new X86FsCodec({ superpageLevels: 6 });

function decodeWith(
  format: FormatName,
  layout: readonly BitField[],
  codec: RadixCodec,
  lo: number,
  hi: number,
  level: number,
): DecodedDescriptor {
  const fields = decodeFields(layout, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  if (!codec.isPresent(lo, hi, level)) return { format, type: "invalid", fields };
  if (codec.walkFault(lo, hi, level, level === 0) !== 0) return { format, type: "reserved", fields };
  if (codec.isTable(lo, hi, level))
    return { format, type: "table", nextTable: BigInt(codec.tableAddress(lo, hi, level)), fields };
  return {
    format,
    type: level === 0 ? "page" : "block",
    outputAddress: BigInt(codec.leafAddress(lo, hi, level)),
    pageSize: BigInt(codec.leafSize(lo, hi, level)),
    prot: codec.leafPerm(lo, hi, level),
    fields,
  };
}

function split(format: string, descriptor: bigint, context: DescriptorContext): [number, number, number] {
  const level = context.level;
  if (!Number.isInteger(level) || level < 0 || level > 4)
    throw new HwError("EINVAL", `${format}: level ${level} is not 0..4`);
  if (descriptor < 0n || descriptor >= 1n << 64n)
    throw new HwError("EINVAL", `${format}: descriptor is not a u64`);
  return [Number(descriptor & 0xffff_ffffn), Number(descriptor >> 32n), level];
}

/** Decodes the halves of a VT-d second-stage entry at generic_pt `level`. */
export function decodeVtdSsHalves(lo: number, hi: number, level: number): DecodedDescriptor {
  return decodeWith("intel-vtd-ss", VTDSS_FIELDS, ssCodec, lo, hi, level);
}

/** Decodes a VT-d second-stage descriptor (`context.level`: 0 = SL-PTE .. 4 = SL-PML5E). */
export function decodeVtdSs(descriptor: bigint, context: DescriptorContext): DecodedDescriptor {
  const [lo, hi, level] = split("intel-vtd-ss", descriptor, context);
  return decodeVtdSsHalves(lo, hi, level);
}

/** Encodes a VT-d second-stage descriptor from its fields. */
export function encodeVtdSs(
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  split("intel-vtd-ss", 0n, context);
  return encodeFields("intel-vtd-ss", VTDSS_FIELDS, decoded.fields);
}

/** Decodes the halves of an x86-64 first-stage entry at generic_pt `level`. */
export function decodeVtdFsHalves(lo: number, hi: number, level: number): DecodedDescriptor {
  return decodeWith("intel-vtd-fs", X86_64_FIELDS, fsCodec, lo, hi, level);
}

/** Decodes an x86-64 first-stage descriptor (`context.level`: 0 = PTE .. 4 = PML5E). */
export function decodeVtdFs(descriptor: bigint, context: DescriptorContext): DecodedDescriptor {
  const [lo, hi, level] = split("intel-vtd-fs", descriptor, context);
  return decodeVtdFsHalves(lo, hi, level);
}

/** Encodes an x86-64 first-stage descriptor from its fields. */
export function encodeVtdFs(
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  split("intel-vtd-fs", 0n, context);
  return encodeFields("intel-vtd-fs", X86_64_FIELDS, decoded.fields);
}
