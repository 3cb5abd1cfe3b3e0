/**
 * Intel VT-d queued-invalidation descriptors: 128-bit (legacy) or 256-bit (scalable mode, upper
 * 128 bits zero for these types), type in qw0[3:0] with qw0[11:9] the type's high bits (zero for
 * every type modelled). hw-facts 4.2; Linux `QI_*` macros in `intel/iommu.h`, `qi_flush_*`.
 */
import {
  addressField,
  type DecodedRecord,
  field,
  layout,
  RecordFamily,
  type RecordFields,
  recordToU64s,
  splitField,
} from "./record-codec.js";

/** Descriptor types, by the names this model uses (Linux `QI_*_TYPE`). */
export type VtdDescriptorName =
  | "context-cache"
  | "iotlb"
  | "device-tlb"
  | "iec"
  | "invalidation-wait"
  | "pasid-iotlb"
  | "pasid-cache"
  | "pasid-device-tlb";

/** Type codes. */
export const VTD_DESCRIPTOR_TYPES: Readonly<Record<VtdDescriptorName, number>> = {
  "context-cache": 0x1,
  iotlb: 0x2,
  "device-tlb": 0x3,
  iec: 0x4,
  "invalidation-wait": 0x5,
  "pasid-iotlb": 0x6,
  "pasid-cache": 0x7,
  "pasid-device-tlb": 0x8,
};

/** Granularities (the `g` field) of the IOTLB descriptor: 1 global, 2 domain (DSI), 3 page (PSI). */
export const VTD_IOTLB_GRANULARITY = { GLOBAL: 1, DOMAIN: 2, PAGE: 3 } as const;
/** Granularities of the PASID-IOTLB descriptor: 2 all non-global of a PASID, 3 page-selective. */
export const VTD_PASID_IOTLB_GRANULARITY = { NON_GLOBAL: 2, PAGE: 3 } as const;

// The type spans qw0[3:0]; qw0[11:9] (the type's high bits) stay undefined, hence reserved.
const TYPE = { at: 0, width: 4, from: 0 } as const;
const did = field("did", 0, 31, 16);
const g = field("g", 0, 5, 4);
const am = field("am", 1, 5, 0);
const ih = field("ih", 1, 6, 6);
const addr = addressField("addr", 1, 63, 12);
// PFSID is split: bits [3:0] at qw0[15:12], bits [15:4] at qw0[63:52].
const pfsid = splitField("pfsid", [
  [12, 4, 0],
  [52, 12, 4],
]);

const L = (name: VtdDescriptorName, ...fields: Parameters<typeof layout>[3]) =>
  layout(name, VTD_DESCRIPTOR_TYPES[name], TYPE, fields);

/** Every descriptor layout (field names follow the specification / Linux macros). */
export const VTD_DESCRIPTOR_LAYOUTS = [
  // G: 1 global, 2 domain, 3 device; FM: function mask for device-selective.
  L("context-cache", g, did, field("sid", 0, 47, 32), field("fm", 0, 49, 48)),
  L("iotlb", g, field("dw", 0, 6, 6), field("dr", 0, 7, 7), did, am, ih, addr),
  // S = size bit: the range is encoded in ADDR's low bits as for PCIe ATS invalidations.
  L("device-tlb", pfsid, field("qdep", 0, 20, 16), field("sid", 0, 47, 32), field("s", 1, 0, 0), addr),
  // G: 0 global, 1 index-selective; IM: index mask; IIDX: interrupt index.
  L("iec", field("g", 0, 4, 4), field("im", 0, 31, 27), field("iidx", 0, 47, 32)),
  // IF interrupt, SW status write, FN fence, PD drain page requests; status data and address.
  L(
    "invalidation-wait",
    field("if", 0, 4, 4),
    field("sw", 0, 5, 5),
    field("fn", 0, 6, 6),
    field("pd", 0, 7, 7),
    field("statusData", 0, 63, 32),
    addressField("statusAddr", 1, 63, 2),
  ),
  L("pasid-iotlb", g, did, field("pasid", 0, 51, 32), am, ih, addr),
  // G: 0 all PASIDs of a domain, 1 PASID-selective, 3 global.
  L("pasid-cache", g, did, field("pasid", 0, 51, 32)),
  L(
    "pasid-device-tlb",
    field("qdep", 0, 8, 4),
    pfsid,
    field("sid", 0, 31, 16),
    field("pasid", 0, 51, 32),
    field("g", 1, 0, 0),
    field("s", 1, 11, 11),
    addr,
  ),
] as const;

const FAMILY = new RecordFamily<VtdDescriptorName>(
  "VT-d invalidation descriptor",
  [16, 32],
  VTD_DESCRIPTOR_LAYOUTS,
  new Map([
    [0x9, "page group response"],
    [0xa, "page stream response"],
  ]),
);

/** A decoded descriptor. */
export type VtdDescriptor = DecodedRecord<VtdDescriptorName>;

/**
 * Encodes a descriptor: 16 bytes (legacy queue) or 32 bytes (`width: 256`, scalable mode, where
 * `qi_shift` is 5). Missing fields are 0. `EINVAL` for unknown fields or values too wide.
 */
export function encodeVtdDescriptor(
  name: VtdDescriptorName,
  fields: RecordFields = {},
  options: { width?: 128 | 256 } = {},
): Uint8Array {
  return FAMILY.encode(name, fields, (options.width ?? 128) / 8);
}

/**
 * Decodes a 16- or 32-byte descriptor. `EINVAL` for another length, a reserved type, or - when
 * `strict` (the default; the hardware reports an invalidation queue error, IQE) - reserved bits set,
 * including any bit of the upper 128 bits of a 256-bit descriptor. `EOPNOTSUPP` for the page
 * request response types (0x9, 0xa), which the model does not decode.
 */
export function decodeVtdDescriptor(bytes: Uint8Array, options: { strict?: boolean } = {}): VtdDescriptor {
  return FAMILY.decode(bytes, options.strict ?? true);
}

/** The quadwords of an encoded descriptor (2 or 4). */
export function vtdDescriptorQwords(bytes: Uint8Array): bigint[] {
  return recordToU64s(bytes);
}
