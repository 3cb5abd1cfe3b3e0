/**
 * ARMv7 short descriptors decoded into the ARM ARM's field names (B3.5.1, "Short-descriptor
 * translation table format descriptors") and encoded back, bit for bit.
 *
 * @module
 */
import { hex } from "../../address.js";
import { HwError } from "../../errors.js";
import type { DecodedDescriptor, DescriptorContext, DescriptorType } from "../../page-table/types.js";
import { v7sIsCont, v7sLeafSize, v7sPteToPaddr, v7sPteToProt } from "./bits.js";

type Fields = Record<string, number | bigint | boolean | string>;

const bit = (d: number, n: number): boolean => ((d >>> n) & 1) === 1;
const bits = (d: number, hi: number, lo: number): number => (d >>> lo) & ((1 << (hi - lo + 1)) - 1);

function checkLevel(context: DescriptorContext): 1 | 2 {
  if (context.level !== 1 && context.level !== 2) {
    throw new HwError("EINVAL", `arm-v7s: descriptor level ${context.level} is not 1 or 2`);
  }
  return context.level;
}

function checkWord(descriptor: bigint): number {
  if (descriptor < 0n || descriptor > 0xffff_ffffn) {
    throw new HwError("EINVAL", `arm-v7s: descriptor ${hex(descriptor)} does not fit in 32 bits`);
  }
  return Number(descriptor);
}

/**
 * Decodes a 32-bit v7s descriptor at level 1 (fault, page table, section, supersection) or level 2
 * (fault, large page, small page). With `context.oas > 32` the MediaTek PA bits (9, 4, 5) count in
 * the output address. `prot` is what Linux's `arm_v7s_pte_to_prot` reads back.
 */
export function decodeV7s(descriptor: bigint, context: DescriptorContext): DecodedDescriptor {
  const level = checkLevel(context);
  const d = checkWord(descriptor);
  const mtk = (context.oas ?? 32) > 32;
  const type = d & 3;
  const fields: Fields = { typeBits: type };
  const common = () => {
    fields.C = bit(d, 3);
    fields.B = bit(d, 2);
  };
  if (type === 0) {
    fields.ignored = d >>> 2;
    return { format: "arm-v7s", type: "invalid", fields };
  }
  if (level === 1 && type === 1) {
    const next = v7sPteToPaddr(d, 1, mtk);
    Object.assign(fields, {
      baseAddress: BigInt((d & 0xffff_fc00) >>> 0),
      IMP: bit(d, 9),
      Domain: bits(d, 8, 5),
      SBZ: bit(d, 4),
      NS: bit(d, 3),
      PXN: bit(d, 2),
    });
    return { format: "arm-v7s", type: "table", nextTable: BigInt(next), fields };
  }
  let kind: DescriptorType;
  if (level === 1) {
    const superSection = v7sIsCont(d, 1);
    kind = superSection ? "supersection" : "section";
    fields.NS = bit(d, 19);
    fields.nG = bit(d, 17);
    fields.S = bit(d, 16);
    fields.AP2 = bit(d, 15);
    fields.TEX = bits(d, 14, 12);
    fields.AP = bits(d, 11, 10);
    fields.IMP = bit(d, 9);
    fields.XN = bit(d, 4);
    common();
    // Type 0b11 is a section with PXN on implementations that have it.
    fields.PXN = type === 3;
    if (superSection) {
      fields.baseAddress = BigInt((d & 0xff00_0000) >>> 0);
      fields.extBaseAddress39_36 = bits(d, 23, 20);
      fields.extBaseAddress35_32 = bits(d, 8, 5);
    } else {
      fields.baseAddress = BigInt((d & 0xfff0_0000) >>> 0);
      fields.Domain = bits(d, 8, 5);
    }
  } else if (type === 1) {
    kind = "large-page";
    fields.baseAddress = BigInt((d & 0xffff_0000) >>> 0);
    fields.XN = bit(d, 15);
    fields.TEX = bits(d, 14, 12);
    fields.nG = bit(d, 11);
    fields.S = bit(d, 10);
    fields.AP2 = bit(d, 9);
    fields.SBZ = bits(d, 8, 6);
    fields.AP = bits(d, 5, 4);
    common();
  } else {
    kind = "small-page";
    fields.baseAddress = BigInt((d & 0xffff_f000) >>> 0);
    fields.nG = bit(d, 11);
    fields.S = bit(d, 10);
    fields.AP2 = bit(d, 9);
    fields.TEX = bits(d, 8, 6);
    fields.AP = bits(d, 5, 4);
    common();
    fields.XN = bit(d, 0);
  }
  return {
    format: "arm-v7s",
    type: kind,
    outputAddress: BigInt(v7sPteToPaddr(d, level, mtk)),
    pageSize: BigInt(v7sLeafSize(d, level)),
    prot: v7sPteToProt(d, level),
    fields,
  };
}

function field(fields: Readonly<Fields>, name: string, width: number): number {
  const v = fields[name];
  if (v === undefined) return 0;
  const n =
    typeof v === "boolean"
      ? v
        ? 1
        : 0
      : typeof v === "bigint"
        ? Number(v)
        : typeof v === "number"
          ? v
          : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** width) {
    throw new HwError("EINVAL", `arm-v7s: field ${name}=${String(v)} does not fit in ${width} bits`);
  }
  return n;
}

function address(fields: Readonly<Fields>, mask: number): number {
  const v = fields.baseAddress;
  const n = typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff || (n & ~mask) !== 0) {
    throw new HwError(
      "EINVAL",
      `arm-v7s: baseAddress ${String(v)} is not a ${hex((~mask + 1) >>> 0)}-aligned 32-bit address`,
    );
  }
  return n;
}

/** Encodes a v7s descriptor from its decoded form; `encodeV7s(decodeV7s(d)) === d` for every `d`. */
export function encodeV7s(
  decoded: Pick<DecodedDescriptor, "type" | "fields">,
  context: DescriptorContext,
): bigint {
  const level = checkLevel(context);
  const f = decoded.fields;
  let d: number;
  switch (decoded.type) {
    case "invalid":
      d = field(f, "ignored", 30) * 4;
      break;
    case "table":
      if (level !== 1) throw new HwError("EINVAL", "arm-v7s: table descriptors exist only at level 1");
      d =
        address(f, 0xffff_fc00) |
        (field(f, "IMP", 1) << 9) |
        (field(f, "Domain", 4) << 5) |
        (field(f, "SBZ", 1) << 4) |
        (field(f, "NS", 1) << 3) |
        (field(f, "PXN", 1) << 2) |
        1;
      break;
    case "section":
    case "supersection": {
      if (level !== 1)
        throw new HwError("EINVAL", `arm-v7s: ${decoded.type} descriptors exist only at level 1`);
      const superSection = decoded.type === "supersection";
      d =
        (field(f, "NS", 1) << 19) |
        (field(f, "nG", 1) << 17) |
        (field(f, "S", 1) << 16) |
        (field(f, "AP2", 1) << 15) |
        (field(f, "TEX", 3) << 12) |
        (field(f, "AP", 2) << 10) |
        (field(f, "IMP", 1) << 9) |
        (field(f, "XN", 1) << 4) |
        (field(f, "C", 1) << 3) |
        (field(f, "B", 1) << 2) |
        (field(f, "PXN", 1) ? 3 : 2);
      if (superSection) {
        d |=
          address(f, 0xff00_0000) |
          (1 << 18) |
          (field(f, "extBaseAddress39_36", 4) << 20) |
          (field(f, "extBaseAddress35_32", 4) << 5);
      } else {
        d |= address(f, 0xfff0_0000) | (field(f, "Domain", 4) << 5);
      }
      break;
    }
    case "large-page":
    case "small-page": {
      if (level !== 2)
        throw new HwError("EINVAL", `arm-v7s: ${decoded.type} descriptors exist only at level 2`);
      d =
        (field(f, "nG", 1) << 11) |
        (field(f, "S", 1) << 10) |
        (field(f, "AP2", 1) << 9) |
        (field(f, "AP", 2) << 4) |
        (field(f, "C", 1) << 3) |
        (field(f, "B", 1) << 2);
      if (decoded.type === "large-page") {
        d |=
          address(f, 0xffff_0000) |
          (field(f, "XN", 1) << 15) |
          (field(f, "TEX", 3) << 12) |
          (field(f, "SBZ", 3) << 6) |
          1;
      } else {
        d |= address(f, 0xffff_f000) | (field(f, "TEX", 3) << 6) | 2 | field(f, "XN", 1);
      }
      break;
    }
    default:
      throw new HwError("EINVAL", `arm-v7s: cannot encode a "${decoded.type}" descriptor`);
  }
  return BigInt(d >>> 0);
}
