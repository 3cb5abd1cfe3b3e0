/**
 * AMD IOMMU command-buffer entries: 16 bytes, four little-endian u32 `data[0..3]`, opcode in
 * data[1][31:28] (hw-facts 4.3; Linux `amd_iommu_types.h` `CMD_*`, `build_inv_*` in `amd/iommu.c`).
 */
import { HwError } from "../errors.js";
import {
  addressField,
  type DecodedRecord,
  field32,
  layout,
  RecordFamily,
  type RecordFields,
  recordToU32s,
  w32,
} from "./record-codec.js";

/** Command names (Linux `CMD_*`). */
export type AmdCommandName =
  | "COMPLETION_WAIT"
  | "INVALIDATE_DEVTAB_ENTRY"
  | "INVALIDATE_IOMMU_PAGES"
  | "INVALIDATE_IOTLB_PAGES"
  | "INVALIDATE_INTERRUPT_TABLE"
  | "COMPLETE_PPR_REQUEST"
  | "INVALIDATE_IOMMU_ALL";

/** Opcodes. */
export const AMD_CMD_OPCODES: Readonly<Record<AmdCommandName, number>> = {
  COMPLETION_WAIT: 0x01,
  INVALIDATE_DEVTAB_ENTRY: 0x02,
  INVALIDATE_IOMMU_PAGES: 0x03,
  INVALIDATE_IOTLB_PAGES: 0x04,
  INVALIDATE_INTERRUPT_TABLE: 0x05,
  COMPLETE_PPR_REQUEST: 0x07,
  INVALIDATE_IOMMU_ALL: 0x08,
};

/** `CMD_INV_IOMMU_ALL_PAGES_ADDRESS`: with S=1, "every page". */
export const AMD_INV_ALL_PAGES_ADDRESS = 0x7fff_ffff_ffff_f000n;

const OP = { at: w32(1, 28), width: 4, from: 0 } as const;
/** S / PDE / GN in data[2] and the address in data[2..3] bits [63:12]. */
const s = field32("s", 2, 0, 0);
const gn = field32("gn", 2, 2, 2);
const addr = addressField("addr", 1, 63, 12);
const L = (name: AmdCommandName, ...fields: Parameters<typeof layout>[3]) =>
  layout(name, AMD_CMD_OPCODES[name], OP, fields);

/** Every command layout. */
export const AMD_COMMAND_LAYOUTS = [
  // S: store `data` at `address` when done; I: raise an interrupt; F: flush (wait for) the queue.
  L(
    "COMPLETION_WAIT",
    field32("s", 0, 0, 0),
    field32("i", 0, 1, 1),
    field32("f", 0, 2, 2),
    addressField("address", 0, 51, 3),
    addressField("data", 1, 63, 0),
  ),
  L("INVALIDATE_DEVTAB_ENTRY", field32("deviceId", 0, 15, 0)),
  L(
    "INVALIDATE_IOMMU_PAGES",
    field32("pasid", 0, 19, 0),
    field32("domainId", 1, 15, 0),
    s,
    field32("pde", 2, 1, 1),
    gn,
    addr,
  ),
  // PASID[15:8] at data[0][23:16] and PASID[7:0] at data[1][23:16]; data[1][15:0] the queue id.
  L(
    "INVALIDATE_IOTLB_PAGES",
    field32("deviceId", 0, 15, 0),
    field32("maxPend", 0, 31, 24),
    field32("queueId", 1, 15, 0),
    {
      name: "pasid",
      parts: [
        { at: w32(1, 16), width: 8, from: 0 },
        { at: w32(0, 16), width: 8, from: 8 },
      ],
      lowBit: 0,
      highBit: 16,
      kind: "number",
    },
    s,
    gn,
    addr,
  ),
  L("INVALIDATE_INTERRUPT_TABLE", field32("deviceId", 0, 15, 0)),
  // Tag [8:0] and status [15:12] of data[3] (Linux `build_complete_ppr`; PPR_STATUS_SHIFT 12).
  L(
    "COMPLETE_PPR_REQUEST",
    field32("deviceId", 0, 15, 0),
    field32("pasid", 1, 19, 0),
    gn,
    field32("tag", 3, 8, 0),
    field32("status", 3, 15, 12),
  ),
  L("INVALIDATE_IOMMU_ALL"),
] as const;

const FAMILY = new RecordFamily<AmdCommandName>("AMD IOMMU command", [16], AMD_COMMAND_LAYOUTS);

/** A decoded command. */
export type AmdCommand = DecodedRecord<AmdCommandName>;

/** Encodes a command to 16 bytes. Missing fields are 0. `EINVAL` for unknown fields or values too wide. */
export function encodeAmdCommand(name: AmdCommandName, fields: RecordFields = {}): Uint8Array {
  return FAMILY.encode(name, fields);
}

/**
 * Decodes 16 bytes. `EINVAL` for another length, an undefined opcode (the IOMMU logs
 * ILLEGAL_COMMAND_ERROR), or - when `strict` (the default) - reserved bits set.
 */
export function decodeAmdCommand(bytes: Uint8Array, options: { strict?: boolean } = {}): AmdCommand {
  return FAMILY.decode(bytes, options.strict ?? true);
}

/** The four u32 words `data[0..3]` of an encoded command. */
export function amdCommandWords(bytes: Uint8Array): [number, number, number, number] {
  const [a = 0, b = 0, c = 0, d = 0] = recordToU32s(bytes);
  return [a, b, c, d];
}

/**
 * The invalidation address of INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES for
 * `[address, address + size)`, with the S bit in bit 0 (Linux `build_inv_address`): one page ->
 * the page address, S=0; otherwise the naturally aligned block up to the highest bit where the
 * first and last byte differ, encoded as trailing ones from bit 12, S=1; a block above bit 51 ->
 * every page (`0x7FFFFFFFFFFFF000` | S).
 */
export function amdBuildInvAddress(address: bigint | number, size: bigint | number): bigint {
  let a = BigInt(address);
  const len = BigInt(size);
  if (a < 0n || len <= 0n) throw new HwError("EINVAL", `invalidation range ${a}+${len} is empty or negative`);
  const pages = ((a & 0xfffn) + len + 0xfffn) >> 12n;
  if (pages === 1n) return a & ~0xfffn;
  const end = a + len - 1n;
  const msb = (end ^ a).toString(2).length - 1;
  if (msb > 51) return AMD_INV_ALL_PAGES_ADDRESS | 1n;
  a |= (1n << BigInt(msb)) - 1n;
  return BigInt.asUintN(64, (a & ~0xfffn) | 1n);
}

/**
 * The fields of an INVALIDATE_IOMMU_PAGES command for a range, as Linux builds it
 * (`build_inv_iommu_pages`: PDE always set, GN and PASID for a PASID flush).
 */
export function amdInvalidatePagesFields(options: {
  address: bigint | number;
  size: bigint | number;
  domainId: number;
  pasid?: number;
}): RecordFields {
  const inv = amdBuildInvAddress(options.address, options.size);
  const fields: RecordFields = {
    domainId: options.domainId,
    pde: true,
    s: (inv & 1n) === 1n,
    addr: inv & ~0xfffn,
  };
  if (options.pasid !== undefined) {
    fields.pasid = options.pasid;
    fields.gn = true;
  }
  return fields;
}
