/**
 * Decoding and encoding of any ARM LPAE descriptor into the field names of the Arm ARM (VMSAv8-64
 * long-descriptor format, hw-facts 1.2 and 1.6). Bits no named field covers (RES0, IGNORED, address
 * bits below a block's alignment) are kept in `otherBits`, so `encode(decode(d)) === d` for every
 * 64-bit value. Not a hot path: bigint throughout.
 */
import { hex } from "../../address.js";
import { HwError } from "../../errors.js";
import type {
  DecodedDescriptor,
  DescriptorContext,
  DescriptorType,
  FormatName,
} from "../../page-table/types.js";
import { lpaeLeafPerm } from "./descriptor.js";
import type { LpaeStage } from "./geometry.js";

const ADDR_FIELD = 0x0000_ffff_ffff_f000n; // GENMASK(47, 12)

function bits(d: bigint, hi: number, lo: number): number {
  return Number((d >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
}

function bit(d: bigint, n: number): boolean {
  return ((d >> BigInt(n)) & 1n) === 1n;
}

function mask(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

interface Shape {
  granule: number;
  levelShift: number;
  pack52: boolean;
}

function contextShape(context: DescriptorContext): Shape {
  const granule = context.granule ?? 4096;
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) {
    throw new HwError("EINVAL", `granule ${hex(granule)} is not an LPAE granule`);
  }
  if (!Number.isInteger(context.level) || context.level < 0 || context.level > 3) {
    throw new HwError("EINVAL", `LPAE level ${context.level} is not 0..3`);
  }
  const bpl = Math.log2(granule) - 3;
  return { granule, levelShift: (4 - context.level) * bpl + 3, pack52: granule === 65536 };
}

/** Descriptor bits holding an address aligned to 2^`shift` (with PA[51:48] in bits 15:12 for 64K). */
function addressMask(shift: number, pack52: boolean): bigint {
  const m = ADDR_FIELD & ~((1n << BigInt(shift)) - 1n);
  return pack52 ? m | 0xf000n : m;
}

function unpackAddress(d: bigint, pack52: boolean): bigint {
  const p = d & ADDR_FIELD;
  return pack52 ? (p | (p << 36n)) & 0x000f_ffff_ffff_0000n : p;
}

function packAddress(pa: bigint, pack52: boolean): bigint {
  return pack52 ? (pa | (pa >> 36n)) & ADDR_FIELD : pa & ADDR_FIELD;
}

/** Decodes an LPAE descriptor of `stage` at `context.level` into named fields. */
export function decodeLpaeDescriptor(
  stage: LpaeStage,
  descriptor: bigint,
  context: DescriptorContext,
): DecodedDescriptor {
  const format: FormatName = stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2";
  const d = BigInt.asUintN(64, descriptor);
  const shape = contextShape(context);
  const type = Number(d & 3n);
  const last = context.level === 3;
  if ((type & 1) === 0 || (last && type === 1)) {
    return {
      format,
      type: (type & 1) === 0 ? "invalid" : "reserved",
      fields: { valid: (type & 1) === 1, otherBits: d },
    };
  }
  if (type === 3 && !last) {
    const am = addressMask(12, shape.pack52);
    const covered = 3n | am | mask(63, 59);
    const next = unpackAddress(d & am, shape.pack52);
    return {
      format,
      type: "table",
      nextTable: next,
      fields: {
        NextTableAddress: next,
        NSTable: bit(d, 63),
        APTable: bits(d, 62, 61),
        [stage === 1 ? "UXNTable" : "XNTable"]: bit(d, 60),
        PXNTable: bit(d, 59),
        otherBits: d & ~covered,
      },
    };
  }
  const am = addressMask(shape.levelShift, shape.pack52);
  const oa = unpackAddress(d & am, shape.pack52);
  const lo = Number(d & 0xffff_ffffn);
  const hi = Number(d >> 32n);
  const common = {
    OutputAddress: oa,
    SH: bits(d, 9, 8),
    AF: bit(d, 10),
    DBM: bit(d, 51),
    Contiguous: bit(d, 52),
    SW: bits(d, 58, 55),
  };
  let fields: Record<string, number | bigint | boolean>;
  let covered = 3n | am | mask(10, 8) | mask(58, 51);
  if (stage === 1) {
    fields = {
      ...common,
      AttrIndx: bits(d, 4, 2),
      NS: bit(d, 5),
      AP: bits(d, 7, 6),
      nG: bit(d, 11),
      PXN: bit(d, 53),
      UXN: bit(d, 54),
    };
    covered |= mask(7, 2) | mask(11, 11);
  } else {
    fields = { ...common, MemAttr: bits(d, 5, 2), S2AP: bits(d, 7, 6), XN: bits(d, 54, 53) };
    covered |= mask(7, 2);
  }
  fields.otherBits = d & ~covered;
  const leafType: DescriptorType = last ? "page" : "block";
  return {
    format,
    type: leafType,
    outputAddress: oa,
    pageSize: 1n << BigInt(shape.levelShift),
    prot: lpaeLeafPerm(stage, lo, hi, false),
    fields,
  };
}

function num(fields: Readonly<Record<string, unknown>>, name: string): bigint {
  const v = fields[name];
  if (v === undefined || v === false) return 0n;
  if (v === true) return 1n;
  if (typeof v === "number" || typeof v === "bigint") return BigInt(v);
  throw new HwError("EINVAL", `field ${name} has a ${typeof v} value`);
}

/** Encodes an LPAE descriptor from `decodeLpaeDescriptor`'s fields (missing fields read as 0). */
export function encodeLpaeDescriptor(
  stage: LpaeStage,
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  const shape = contextShape(context);
  const f = decoded.fields;
  const other = num(f, "otherBits");
  switch (decoded.type) {
    case "invalid":
    case "reserved":
      return BigInt.asUintN(64, other);
    case "table": {
      if (context.level === 3) throw new HwError("EINVAL", "LPAE level 3 has no table descriptors");
      let d = 3n | packAddress(num(f, "NextTableAddress"), shape.pack52) | other;
      d |= num(f, "NSTable") << 63n;
      d |= num(f, "APTable") << 61n;
      d |= num(f, stage === 1 ? "UXNTable" : "XNTable") << 60n;
      d |= num(f, "PXNTable") << 59n;
      return BigInt.asUintN(64, d);
    }
    case "block":
    case "page": {
      if ((decoded.type === "page") !== (context.level === 3)) {
        throw new HwError("EINVAL", `an LPAE ${decoded.type} cannot be at level ${context.level}`);
      }
      let d =
        (decoded.type === "page" ? 3n : 1n) | packAddress(num(f, "OutputAddress"), shape.pack52) | other;
      d |= num(f, "SH") << 8n;
      d |= num(f, "AF") << 10n;
      d |= num(f, "DBM") << 51n;
      d |= num(f, "Contiguous") << 52n;
      d |= num(f, "SW") << 55n;
      if (stage === 1) {
        d |= num(f, "AttrIndx") << 2n;
        d |= num(f, "NS") << 5n;
        d |= num(f, "AP") << 6n;
        d |= num(f, "nG") << 11n;
        d |= num(f, "PXN") << 53n;
        d |= num(f, "UXN") << 54n;
      } else {
        d |= num(f, "MemAttr") << 2n;
        d |= num(f, "S2AP") << 6n;
        d |= num(f, "XN") << 53n;
      }
      return BigInt.asUintN(64, d);
    }
    default:
      throw new HwError("EINVAL", `LPAE has no "${decoded.type}" descriptors`);
  }
}
