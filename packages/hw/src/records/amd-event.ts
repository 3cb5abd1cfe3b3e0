/**
 * AMD IOMMU event-log entries: 16 bytes, four u32, event code in data[1][31:28] (hw-facts 5.3;
 * Linux `EVENT_*` in `amd_iommu_types.h`, `iommu_print_event` / `amd_iommu_report_page_fault`).
 */
import {
  addressField,
  type DecodedRecord,
  field32,
  layout,
  RecordFamily,
  recordToU32s,
  w32,
} from "./record-codec.js";

/** Event names (Linux `EVENT_TYPE_*`). */
export type AmdEventName =
  | "ILLEGAL_DEV_TABLE_ENTRY"
  | "IO_PAGE_FAULT"
  | "DEV_TAB_HARDWARE_ERROR"
  | "PAGE_TAB_HARDWARE_ERROR"
  | "ILLEGAL_COMMAND_ERROR"
  | "COMMAND_HARDWARE_ERROR"
  | "IOTLB_INV_TIMEOUT"
  | "INVALID_DEVICE_REQUEST"
  | "INVALID_PPR_REQUEST"
  | "RMP_PAGE_FAULT"
  | "RMP_HW_ERROR";

/** Event codes. */
export const AMD_EVENT_CODES: Readonly<Record<AmdEventName, number>> = {
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  DEV_TAB_HARDWARE_ERROR: 0x3,
  PAGE_TAB_HARDWARE_ERROR: 0x4,
  ILLEGAL_COMMAND_ERROR: 0x5,
  COMMAND_HARDWARE_ERROR: 0x6,
  IOTLB_INV_TIMEOUT: 0x7,
  INVALID_DEVICE_REQUEST: 0x8,
  INVALID_PPR_REQUEST: 0x9,
  RMP_PAGE_FAULT: 0xd,
  RMP_HW_ERROR: 0xe,
};

/** IO_PAGE_FAULT flag bits (12-bit field at data[1][27:16]). */
export const AMD_FAULT_FLAGS = {
  GN: 0x001,
  NX: 0x002,
  US: 0x004,
  I: 0x008,
  PR: 0x010,
  RW: 0x020,
  PE: 0x040,
  RZ: 0x080,
  TR: 0x100,
} as const;

/** IO_PAGE_FAULT flags, one boolean each. */
export type AmdFaultFlags = Record<Lowercase<keyof typeof AMD_FAULT_FLAGS>, boolean>;

/** Splits the 12-bit flags field into named booleans (`rw` = write, `pr` = page was present, ...). */
export function decodeAmdFaultFlags(flags: number): AmdFaultFlags {
  const out = {} as AmdFaultFlags;
  for (const [k, bit] of Object.entries(AMD_FAULT_FLAGS))
    out[k.toLowerCase() as keyof AmdFaultFlags] = (flags & bit) !== 0;
  return out;
}

/** Joins named flags into the 12-bit field. */
export function encodeAmdFaultFlags(flags: Partial<AmdFaultFlags>): number {
  let v = 0;
  for (const [k, bit] of Object.entries(AMD_FAULT_FLAGS))
    if (flags[k.toLowerCase() as keyof AmdFaultFlags]) v |= bit;
  return v;
}

const OP = { at: w32(1, 28), width: 4, from: 0 } as const;
/**
 * Every event uses the same positions (the fields a given event does not use read as zero):
 * DeviceID data[0][15:0]; a 20-bit PASID-or-domain whose bits [19:16] sit at data[0][19:16]
 * (`EVENT_DOMID_MASK_HI`) and [15:0] at data[1][15:0] (the domain id when GN = 0); flags
 * data[1][27:16]; address data[2..3].
 */
const COMMON = [
  field32("deviceId", 0, 15, 0),
  {
    name: "pasid",
    parts: [
      { at: w32(1, 0), width: 16, from: 0 },
      { at: w32(0, 16), width: 4, from: 16 },
    ],
    lowBit: 0,
    highBit: 20,
    kind: "number" as const,
  },
  field32("flags", 1, 27, 16),
  addressField("address", 1, 63, 0),
];

/** Every event layout. */
export const AMD_EVENT_LAYOUTS = (Object.keys(AMD_EVENT_CODES) as AmdEventName[]).map((name) =>
  layout(name, AMD_EVENT_CODES[name], OP, COMMON),
);

const FAMILY = new RecordFamily<AmdEventName>("AMD IOMMU event", [16], AMD_EVENT_LAYOUTS);

/** A decoded event: code, name, fields (`deviceId`, `pasid`, `flags`, `address`), plus helpers. */
export interface AmdEvent extends DecodedRecord<AmdEventName> {
  /** The domain id (low 16 bits of `pasid`) when the event is not a PASID (GN) event. */
  readonly domainId: number;
  /** IO_PAGE_FAULT flags decoded. */
  readonly faultFlags: AmdFaultFlags;
}

/** Fields accepted by {@link encodeAmdEvent}; `domainId` is an alias of `pasid` for GN = 0 events. */
export interface AmdEventFields {
  deviceId?: number;
  pasid?: number;
  domainId?: number;
  flags?: number | Partial<AmdFaultFlags>;
  address?: bigint | number;
}

/** Encodes an event-log entry (what the IOMMU writes). `EINVAL` for values too wide. */
export function encodeAmdEvent(name: AmdEventName, fields: AmdEventFields = {}): Uint8Array {
  const flags = typeof fields.flags === "object" ? encodeAmdFaultFlags(fields.flags) : (fields.flags ?? 0);
  return FAMILY.encode(name, {
    deviceId: fields.deviceId ?? 0,
    pasid: fields.pasid ?? fields.domainId ?? 0,
    flags,
    address: BigInt(fields.address ?? 0),
  });
}

/**
 * Decodes a 16-byte event-log entry. `EINVAL` for another length or an event code the
 * specification does not define (0x0, 0xa-0xc, 0xf). Reserved bits are ignored: the hardware writes
 * these entries. Pass `strict: true` to refuse them.
 */
export function decodeAmdEvent(bytes: Uint8Array, options: { strict?: boolean } = {}): AmdEvent {
  const rec = FAMILY.decode(bytes, options.strict ?? false);
  const pasid = rec.fields.pasid as number;
  return { ...rec, domainId: pasid & 0xffff, faultFlags: decodeAmdFaultFlags(rec.fields.flags as number) };
}

/** The four u32 words `data[0..3]` of an encoded event. */
export function amdEventWords(bytes: Uint8Array): [number, number, number, number] {
  const [a = 0, b = 0, c = 0, d = 0] = recordToU32s(bytes);
  return [a, b, c, d];
}

const hex = (n: number | bigint, width: number) => n.toString(16).padStart(width, "0");

function bdf(deviceId: number): string {
  return `${hex((deviceId >> 8) & 0xff, 2)}:${hex((deviceId >> 3) & 0x1f, 2)}.${(deviceId & 7).toString(16)}`;
}

/** Options of {@link formatAmdIoPageFault}. */
export interface AmdFaultLogOptions {
  /**
   * `"new"`: current kernels, printed against the device by its driver:
   * `<driver> <seg:bb:dd.f>: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xfffff000 flags=0x0020]`
   * (without `driver`, the kernel's no-device form with `device=seg:bb:dd.f`). `"old"`: older
   * kernels, `AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x000b address=0x00000000fffff000 flags=0x0020]`.
   * @default "new"
   */
  style?: "new" | "old";
  /** Name of the driver bound to the device (e.g. `"nvme"`), for the new style. */
  driver?: string;
  /** PCI segment. @default 0 */
  segment?: number;
}

/**
 * Linux's log line for an IO_PAGE_FAULT event (`amd_iommu_report_page_fault`). The `domain=` value
 * is the 20-bit PASID-or-domain field, as Linux prints it.
 */
export function formatAmdIoPageFault(event: AmdEvent, options: AmdFaultLogOptions = {}): string {
  const f = event.fields;
  const dom = hex(f.pasid as number, 4);
  const flags = hex(f.flags as number, 4);
  const address = f.address as bigint;
  const deviceId = f.deviceId as number;
  if (options.style === "old") {
    return `AMD-Vi: Event logged [IO_PAGE_FAULT device=${bdf(deviceId)} domain=0x${dom} address=0x${hex(address, 16)} flags=0x${flags}]`;
  }
  const seg = hex(options.segment ?? 0, 4);
  const body = `domain=0x${dom} address=0x${address.toString(16)} flags=0x${flags}]`;
  if (options.driver !== undefined)
    return `${options.driver} ${seg}:${bdf(deviceId)}: AMD-Vi: Event logged [IO_PAGE_FAULT ${body}`;
  return `AMD-Vi: Event logged [IO_PAGE_FAULT device=${seg}:${bdf(deviceId)} ${body}`;
}
