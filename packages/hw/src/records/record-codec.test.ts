import { describe, expect, it } from "vitest";
import { AMD_COMMAND_LAYOUTS } from "./amd-command.js";
import { AMD_EVENT_LAYOUTS } from "./amd-event.js";
import {
  bigintToBytes,
  bytesToBigint,
  checkReserved,
  decodeFields,
  encodeFields,
  type FieldValue,
  RecordFamily,
  type RecordFields,
  type RecordLayout,
} from "./record-codec.js";
import { SMMU_COMMAND_LAYOUTS } from "./smmu-command.js";
import { SMMU_EVENT_LAYOUTS } from "./smmu-event.js";
import { VTD_DESCRIPTOR_LAYOUTS } from "./vtd-descriptor.js";

// RecordFamily encodes and decodes over 32-bit words; encodeFields/decodeFields keep the
// whole-record bigint form. The two must agree bit for bit, errors included.

/** xorshift32, so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function randomBig(next: () => number, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 32) v = (v << 32n) | BigInt(next());
  return BigInt.asUintN(bits, v);
}

const FAMILIES: [string, readonly number[], readonly RecordLayout[]][] = [
  ["VT-d", [16, 32], VTD_DESCRIPTOR_LAYOUTS],
  ["AMD command", [16], AMD_COMMAND_LAYOUTS],
  ["AMD event", [16], AMD_EVENT_LAYOUTS],
  ["SMMU command", [16], SMMU_COMMAND_LAYOUTS],
  ["SMMU event", [32], SMMU_EVENT_LAYOUTS],
];

/** The outcome of `f` as a value or the error message, for comparing both paths. */
function outcome<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    return String((e as Error).message);
  }
}

describe("RecordFamily word path", () => {
  for (const [family, sizes, layouts] of FAMILIES) {
    it(`${family}: encodes as the bigint path, valid and invalid values, number and bigint inputs`, () => {
      const fam = new RecordFamily(family, sizes, layouts);
      const next = rng(0x1234_5678);
      for (let round = 0; round < 200; round++) {
        for (const l of layouts) {
          const values: RecordFields = {};
          for (const f of l.fields) {
            if (next() % 4 === 0) continue;
            // Mostly in range; sometimes one bit too high or a low bit an address field forbids.
            let x = randomBig(next, f.highBit) & ~((1n << BigInt(f.lowBit)) - 1n);
            const spoil = next() % 16;
            if (spoil === 0) x |= 1n << BigInt(f.highBit);
            if (spoil === 1 && f.lowBit > 0) x |= 1n;
            let v: FieldValue = x;
            if (f.kind === "boolean" && next() % 2) v = x !== 0n;
            else if (x <= BigInt(Number.MAX_SAFE_INTEGER) && next() % 2) v = Number(x);
            values[f.name] = v;
          }
          for (const size of sizes) {
            const want = outcome(() => bigintToBytes(encodeFields(l, values, family), size));
            expect(outcome(() => fam.encode(l.name, values, size))).toEqual(want);
          }
        }
      }
    });

    it(`${family}: decodes random records as the bigint path, strict and lenient`, () => {
      const fam = new RecordFamily(family, sizes, layouts);
      const next = rng(0x9e37_79b9);
      for (let round = 0; round < 300; round++) {
        for (const l of layouts) {
          const size = sizes[next() % sizes.length]!;
          // Start from a valid record of this type, then maybe set a random bit.
          let v = bytesToBigint(fam.encode(l.name, {}, size));
          for (const f of l.fields) {
            for (const p of f.parts) v |= randomBig(next, p.width) << BigInt(p.at);
          }
          if (next() % 3 === 0) v |= 1n << BigInt(next() % (size * 8));
          const bytes = bigintToBytes(v, size);
          for (const strict of [true, false]) {
            const got = outcome(() => fam.decode(bytes, strict));
            const code = Number((v >> BigInt(l.codeField.at)) & ((1n << BigInt(l.codeField.width)) - 1n));
            const want = outcome(() => {
              if (strict) checkReserved(l, v, size * 8, family);
              return { name: l.name, code, fields: decodeFields(l, v) };
            });
            if (code === l.code) expect(got).toEqual(want);
          }
        }
      }
    });
  }

  it("rejects non-integers and negatives with the bigint path's messages", () => {
    const fam = new RecordFamily("VT-d", [16], VTD_DESCRIPTOR_LAYOUTS);
    const l = VTD_DESCRIPTOR_LAYOUTS[1];
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, -1n]) {
      const want = outcome(() => encodeFields(l, { did: bad }, "VT-d"));
      expect(want).toMatch(/negative|not a non-negative integer/);
      expect(outcome(() => fam.encode("iotlb", { did: bad }))).toBe(want);
    }
    expect(outcome(() => fam.encode("iotlb", { addr: 2n ** 64n }))).toMatch(/does not fit bits \[63:12\]/);
    expect(outcome(() => fam.encode("iotlb", { nope: 1 }))).toMatch(/has no field "nope"/);
  });
});
