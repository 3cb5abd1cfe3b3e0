/**
 * A small table-driven codec for fixed-size little-endian hardware records (commands, descriptors,
 * event and fault records): a layout lists each field's bit positions; encoding checks every value
 * fits, decoding checks the length, the opcode and (optionally) that no undefined bit is set.
 *
 * `RecordFamily` compiles each layout once into per-32-bit-word pieces and encodes/decodes with
 * number arithmetic over a scratch word buffer: the VT-d and AMD backends encode and decode a
 * command and a wait per strict unmap, so a bigint per record dominated their unmap cost. Bigints
 * appear only where a value itself needs them (a decoded field wider than 32 bits, which the public
 * types promise as `bigint`, or an encoder input above 2^53). `encodeFields`/`decodeFields` keep the
 * whole-record bigint form for callers that want it (fault records, tooling).
 */
import { HwError } from "../errors.js";

/** A decoded field: booleans for 1-bit fields, numbers up to 32 bits, bigints beyond. */
export type FieldValue = number | bigint | boolean;

/** Field values of a record by name (encoders accept any of the three types for any field). */
export type RecordFields = Record<string, FieldValue>;

/** A contiguous piece of a field: `width` bits taken from value bit `from` go to record bit `at`. */
export interface FieldPart {
  readonly at: number;
  readonly width: number;
  readonly from: number;
}

/** A named field, possibly split across the record (AMD PASIDs, VT-d PFSID). */
export interface FieldSpec {
  readonly name: string;
  readonly parts: readonly FieldPart[];
  /** Lowest value bit the field holds: an address field holds bits [hi:lo] in place, so lo > 0. */
  readonly lowBit: number;
  /** One past the highest value bit the field holds. */
  readonly highBit: number;
  readonly kind: "boolean" | "number" | "bigint";
  /** Value used when the encoder is not given the field. @default 0 */
  readonly defaultValue?: bigint;
}

/** The layout of one record type (one opcode / event code). */
export interface RecordLayout {
  /** Architecture name of the record type, e.g. `TLBI_NH_VA`. */
  readonly name: string;
  /** Opcode / type / event code, and where it lives. */
  readonly code: number;
  readonly codeField: FieldPart;
  readonly fields: readonly FieldSpec[];
  /** Bits the layout defines (fields and code). */
  readonly definedMask: bigint;
}

/**
 * A field at bits [hi:lo] of 64-bit word `dword` (for 32-bit-word records use `dword = word / 2`
 * arithmetic via {@link w32}). The value is the field's own number: bit 0 of the value goes to `lo`.
 */
export function field(name: string, dword: number, hi: number, lo: number, defaultValue?: number): FieldSpec {
  const width = hi - lo + 1;
  return make(name, [{ at: dword * 64 + lo, width, from: 0 }], defaultValue);
}

/**
 * An address field: bits [hi:lo] of the address sit at the same bit positions of 64-bit word
 * `dword` (SMMUv3 `ADDR[63:12]`, VT-d `ADDR[63:12]`, `MSIADDR[51:2]`). The value is the address
 * itself, whose bits below `lo` must be zero.
 */
export function addressField(name: string, dword: number, hi: number, lo: number): FieldSpec {
  return make(name, [{ at: dword * 64 + lo, width: hi - lo + 1, from: lo }]);
}

/** A field split into pieces: each `[recordBit, width, valueBit]`. */
export function splitField(name: string, parts: readonly (readonly [number, number, number])[]): FieldSpec {
  return make(
    name,
    parts.map(([at, width, from]) => ({ at, width, from })),
  );
}

/** Record bit of bit `bit` of 32-bit word `word` (AMD's `data[n]` convention). */
export function w32(word: number, bit: number): number {
  return word * 32 + bit;
}

/** A field at bits [hi:lo] of 32-bit word `word`. */
export function field32(name: string, word: number, hi: number, lo: number): FieldSpec {
  return make(name, [{ at: w32(word, lo), width: hi - lo + 1, from: 0 }]);
}

function make(name: string, parts: FieldPart[], defaultValue?: number): FieldSpec {
  const lowBit = Math.min(...parts.map((p) => p.from));
  const highBit = Math.max(...parts.map((p) => p.from + p.width));
  const bits = highBit - lowBit;
  const kind = bits === 1 && lowBit === 0 ? "boolean" : highBit <= 32 ? "number" : "bigint";
  return defaultValue === undefined
    ? { name, parts, lowBit, highBit, kind }
    : { name, parts, lowBit, highBit, kind, defaultValue: BigInt(defaultValue) };
}

function mask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}

/** Builds a layout; `codeField` is where the opcode lives. */
export function layout(
  name: string,
  code: number,
  codeField: FieldPart,
  fields: readonly FieldSpec[],
): RecordLayout {
  let defined = mask(codeField.width) << BigInt(codeField.at);
  for (const f of fields) for (const p of f.parts) defined |= mask(p.width) << BigInt(p.at);
  return { name, code, codeField, fields, definedMask: defined };
}

function toBig(value: FieldValue, what: string): bigint {
  if (typeof value === "boolean") return value ? 1n : 0n;
  if (typeof value === "bigint") {
    if (value < 0n) throw new HwError("EINVAL", `${what} ${value} is negative`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0)
    throw new HwError("EINVAL", `${what} ${String(value)} is not a non-negative integer`);
  return BigInt(value);
}

/**
 * Encodes `values` with `layout` into a bigint of `bytes * 8` bits. `EINVAL` names a field that is
 * not in the layout, a value too wide for its field, or an address with bits below the field set.
 */
export function encodeFields(rec: RecordLayout, values: RecordFields, family: string): bigint {
  let v = BigInt(rec.code) << BigInt(rec.codeField.at);
  const known = new Set(rec.fields.map((f) => f.name));
  for (const name of Object.keys(values)) {
    if (!known.has(name)) throw new HwError("EINVAL", `${family} ${rec.name} has no field "${name}"`);
  }
  for (const f of rec.fields) {
    const given = values[f.name];
    const x = given === undefined ? (f.defaultValue ?? 0n) : toBig(given, `${rec.name}.${f.name}`);
    if (x >> BigInt(f.highBit) !== 0n || (x & mask(f.lowBit)) !== 0n) {
      const range = f.lowBit ? `bits [${f.highBit - 1}:${f.lowBit}] only` : `${f.highBit - f.lowBit} bits`;
      throw new HwError("EINVAL", `${rec.name}.${f.name} = 0x${x.toString(16)} does not fit ${range}`);
    }
    for (const p of f.parts) v |= ((x >> BigInt(p.from)) & mask(p.width)) << BigInt(p.at);
  }
  return v;
}

/** Decodes the fields of `layout` from the record value `v`. */
export function decodeFields(rec: RecordLayout, v: bigint): RecordFields {
  const out: RecordFields = {};
  for (const f of rec.fields) {
    let x = 0n;
    for (const p of f.parts) x |= ((v >> BigInt(p.at)) & mask(p.width)) << BigInt(p.from);
    out[f.name] = f.kind === "boolean" ? x !== 0n : f.kind === "number" ? Number(x) : x;
  }
  return out;
}

/** Reads the opcode field from a record value. */
export function readCode(codeField: FieldPart, v: bigint): number {
  return Number((v >> BigInt(codeField.at)) & mask(codeField.width));
}

/** `EINVAL` when bits outside the layout are set, naming them. */
export function checkReserved(rec: RecordLayout, v: bigint, bits: number, family: string): void {
  const stray = v & ~rec.definedMask & mask(bits);
  if (stray !== 0n) {
    throw new HwError("EINVAL", `${family} ${rec.name} has reserved bits set: 0x${stray.toString(16)}`);
  }
}

/** `EINVAL` unless `bytes` has one of the allowed lengths. */
export function checkLength(bytes: Uint8Array, allowed: readonly number[], family: string): void {
  if (!(bytes instanceof Uint8Array) || !allowed.includes(bytes.length)) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new HwError("EINVAL", `${family} must be ${allowed.join(" or ")} bytes, got ${got}`);
  }
}

/** Little-endian bytes of an unsigned bigint, `length` bytes long. */
export function bigintToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = v;
  for (let i = 0; i < length; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** The unsigned little-endian value of `bytes`. */
export function bytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** A record's 64-bit little-endian words (SMMUv3 `dw0..`, VT-d `qw0..`). */
export function recordToU64s(bytes: Uint8Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) out.push(bytesToBigint(bytes.subarray(i, i + 8)));
  return out;
}

/** A record's 32-bit little-endian words (AMD `data[0..3]`). */
export function recordToU32s(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    out.push((bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0);
  }
  return out;
}

/** Bytes of a record given as 64-bit words. */
export function u64sToRecord(words: readonly (bigint | number)[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  words.forEach((w, i) => {
    out.set(bigintToBytes(BigInt.asUintN(64, BigInt(w)), 8), i * 8);
  });
  return out;
}

/** Bytes of a record given as 32-bit words. */
export function u32sToRecord(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  words.forEach((w, i) => {
    out.set(bigintToBytes(BigInt(w >>> 0), 4), i * 4);
  });
  return out;
}

/**
 * A layout compiled for the word path. `chunks` holds, per piece of a field that stays inside one
 * 32-bit record word and one 32-bit half of the value, five numbers: record word, shift in that
 * word, value half (0 low, 1 high), shift in that half, and mask (width bits).
 */
interface CompiledField {
  readonly spec: FieldSpec;
  readonly chunks: readonly number[];
  /** Bits of the value's low / high 32-bit half the field may hold (int32 bit patterns). */
  readonly allowLo: number;
  readonly allowHi: number;
}

interface CompiledLayout {
  readonly layout: RecordLayout;
  /** Code chunks (value is the code, high half unused). */
  readonly codeChunks: readonly number[];
  readonly fields: readonly CompiledField[];
  readonly byName: ReadonlyMap<string, CompiledField>;
  /** Fields with a non-zero default, applied when the encoder is not given them. */
  readonly defaulted: readonly (readonly [CompiledField, number, number])[];
  /** `definedMask` as 32-bit words (int32 bit patterns), {@link MAX_WORDS} long. */
  readonly defined: Int32Array;
}

/** Records are at most 64 bytes; layouts or sizes beyond this take the bigint path. */
const MAX_WORDS = 16;
const TWO_32 = 4294967296;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
// Scratch shared by every family, so a call allocates only its result: encode/decode are
// synchronous and, while the words are live, only read the caller's field values (plain data; a
// getter that re-entered the codec there would clobber them).
const scratch = new Int32Array(MAX_WORDS);
const scratchView = new DataView(new ArrayBuffer(8));

function maskOf(width: number): number {
  return width >= 32 ? -1 : (1 << width) - 1;
}

/** Cuts a part into pieces that stay within one record word and one value half. */
function chunksOf(parts: readonly FieldPart[], out: number[]): boolean {
  for (const p of parts) {
    let at = p.at;
    let from = p.from;
    let left = p.width;
    while (left > 0) {
      const n = Math.min(left, 32 - (at & 31), 32 - (from & 31));
      const word = at >>> 5;
      const half = from >>> 5;
      if (word >= MAX_WORDS || half > 1) return false;
      out.push(word, at & 31, half, from & 31, maskOf(n));
      at += n;
      from += n;
      left -= n;
    }
  }
  return true;
}

/** The word-path form of a layout, or undefined when it does not fit (fields past 64 bits). */
function compile(rec: RecordLayout): CompiledLayout | undefined {
  const codeChunks: number[] = [];
  if (rec.codeField.width > 32 || !chunksOf([rec.codeField], codeChunks)) return undefined;
  const fields: CompiledField[] = [];
  const defaulted: [CompiledField, number, number][] = [];
  for (const spec of rec.fields) {
    const chunks: number[] = [];
    if (spec.highBit > 64 || !chunksOf(spec.parts, chunks)) return undefined;
    const allow = (lo: number, hi: number) => (hi <= lo ? 0 : maskOf(hi - lo) << lo);
    const f: CompiledField = {
      spec,
      chunks,
      allowLo: allow(Math.min(spec.lowBit, 32), Math.min(spec.highBit, 32)),
      allowHi: allow(Math.max(spec.lowBit, 32) - 32, Math.max(spec.highBit, 32) - 32),
    };
    fields.push(f);
    const d = spec.defaultValue ?? 0n;
    if (d) defaulted.push([f, Number(d & 0xffff_ffffn), Number((d >> 32n) & 0xffff_ffffn)]);
  }
  const defined = new Int32Array(MAX_WORDS);
  for (let i = 0; i < MAX_WORDS; i++) defined[i] = Number((rec.definedMask >> BigInt(i * 32)) & 0xffff_ffffn);
  return {
    layout: rec,
    codeChunks,
    fields,
    byName: new Map(fields.map((f) => [f.spec.name, f])),
    defaulted,
    defined,
  };
}

/** ORs the value halves `lo`/`hi` into the scratch words along `chunks`. */
function place(chunks: readonly number[], lo: number, hi: number): void {
  for (let i = 0; i < chunks.length; i += 5) {
    const v = chunks[i + 2] ? hi : lo;
    scratch[chunks[i]!]! |= ((v >>> chunks[i + 3]!) & chunks[i + 4]!) << chunks[i + 1]!;
  }
}

/** Encodes into `scratch` (cleared first); `EINVAL` as {@link encodeFields}. */
function encodeWords(c: CompiledLayout, values: RecordFields, family: string): void {
  scratch.fill(0);
  place(c.codeChunks, c.layout.code, 0);
  for (const name in values) {
    const f = c.byName.get(name);
    if (!f) throw new HwError("EINVAL", `${family} ${c.layout.name} has no field "${name}"`);
    const given = values[name];
    if (given === undefined) continue;
    let lo = 0;
    let hi = 0;
    let ok = true;
    if (typeof given === "boolean") lo = given ? 1 : 0;
    else {
      let n: number;
      if (typeof given === "bigint" && given >= 0n && given <= MAX_SAFE) n = Number(given);
      else if (typeof given === "number") n = given;
      else n = -1;
      if (n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
        if (n < TWO_32) lo = n;
        else {
          lo = n % TWO_32;
          hi = (n - lo) / TWO_32;
        }
      } else if (typeof given === "bigint" && given > MAX_SAFE && given <= MAX_U64) {
        // Only genuinely wide values (addresses above 2^53) reach this; the view splits them
        // without bigint arithmetic.
        scratchView.setBigUint64(0, given, true);
        lo = scratchView.getUint32(0, true);
        hi = scratchView.getUint32(4, true);
      } else {
        // Negative, non-integer, or wider than 64 bits: the bigint check reports it.
        ok = false;
      }
    }
    if (!ok || (lo & ~f.allowLo) !== 0 || (hi & ~f.allowHi) !== 0) {
      const x = toBig(given, `${c.layout.name}.${name}`);
      const { lowBit, highBit } = f.spec;
      const range = lowBit ? `bits [${highBit - 1}:${lowBit}] only` : `${highBit - lowBit} bits`;
      throw new HwError("EINVAL", `${c.layout.name}.${name} = 0x${x.toString(16)} does not fit ${range}`);
    }
    place(f.chunks, lo, hi);
  }
  for (const [f, lo, hi] of c.defaulted) if (values[f.spec.name] === undefined) place(f.chunks, lo, hi);
}

/** Reads a field's value halves out of `scratch`. */
function gather(chunks: readonly number[], half: number): number {
  let v = 0;
  for (let i = 0; i < chunks.length; i += 5) {
    if (chunks[i + 2] !== half) continue;
    v |= ((scratch[chunks[i]!]! >>> chunks[i + 1]!) & chunks[i + 4]!) << chunks[i + 3]!;
  }
  return v >>> 0;
}

/** Decodes the fields of `c` from `scratch`. */
function decodeWords(c: CompiledLayout): RecordFields {
  const out: RecordFields = {};
  for (const f of c.fields) {
    const lo = gather(f.chunks, 0);
    if (f.spec.kind === "boolean") out[f.spec.name] = lo !== 0;
    else if (f.spec.kind === "number") out[f.spec.name] = lo;
    else {
      const hi = f.spec.highBit > 32 ? gather(f.chunks, 1) : 0;
      // A value below 2^53 converts with one BigInt(); wider ones go through the 64-bit view.
      if (hi < 0x20_0000) out[f.spec.name] = BigInt(hi * TWO_32 + lo);
      else {
        scratchView.setUint32(0, lo, true);
        scratchView.setUint32(4, hi, true);
        out[f.spec.name] = scratchView.getBigUint64(0, true);
      }
    }
  }
  return out;
}

/** Little-endian words of `bytes` into `scratch` (length a multiple of 4, at most 64 bytes). */
function loadWords(bytes: Uint8Array): void {
  scratch.fill(0);
  for (let i = 0, w = 0; i < bytes.length; i += 4, w++) {
    scratch[w] = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
  }
}

/** `size` little-endian bytes of `scratch`. */
function storeWords(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0, w = 0; i < size; i += 4, w++) {
    const v = scratch[w]!;
    out[i] = v;
    out[i + 1] = v >>> 8;
    out[i + 2] = v >>> 16;
    out[i + 3] = v >>> 24;
  }
  return out;
}

/** A decoded record: its type name, numeric code and fields. */
export interface DecodedRecord<Name extends string = string> {
  readonly name: Name;
  readonly code: number;
  readonly fields: RecordFields;
}

/**
 * A family of records sharing a size and an opcode position: the encoder/decoder pair the
 * architecture-specific modules are built from.
 */
export class RecordFamily<Name extends string> {
  readonly #byName = new Map<string, RecordLayout>();
  readonly #byCode = new Map<number, RecordLayout>();
  /** Word-path forms by layout; a layout missing here (too wide) takes the bigint path. */
  readonly #compiled = new Map<RecordLayout, CompiledLayout>();
  /** Where the code sits, compiled from the first layout (every layout shares it). */
  readonly #codeChunks: readonly number[] | undefined;

  constructor(
    /** Family name for messages, e.g. "SMMUv3 command". */
    readonly family: string,
    /** Record sizes in bytes; the first is what the encoder produces by default. */
    readonly sizes: readonly number[],
    readonly layouts: readonly RecordLayout[],
    /** Codes the specification defines but the model does not encode (refused with EOPNOTSUPP). */
    readonly unsupported: ReadonlyMap<number, string> = new Map(),
  ) {
    for (const l of layouts) {
      this.#byName.set(l.name, l);
      this.#byCode.set(l.code, l);
      const c = compile(l);
      if (c) this.#compiled.set(l, c);
    }
    const codeChunks: number[] = [];
    const first = layouts[0];
    this.#codeChunks =
      first && first.codeField.width <= 32 && chunksOf([first.codeField], codeChunks)
        ? codeChunks
        : undefined;
  }

  /** The layout of a record type by name or code. `EINVAL` when unknown. */
  layoutOf(nameOrCode: Name | number): RecordLayout {
    const l = typeof nameOrCode === "number" ? this.#byCode.get(nameOrCode) : this.#byName.get(nameOrCode);
    if (!l)
      throw new HwError(
        "EINVAL",
        `unknown ${this.family} ${typeof nameOrCode === "number" ? `0x${nameOrCode.toString(16)}` : `"${nameOrCode}"`}`,
      );
    return l;
  }

  /** Encodes a record to bytes (`size` defaults to the family's first size; larger sizes zero-fill). */
  encode(name: Name | number, values: RecordFields = {}, size = this.sizes[0]!): Uint8Array {
    if (!this.sizes.includes(size))
      throw new HwError("EINVAL", `${this.family} size ${size} is not ${this.sizes.join(" or ")}`);
    const l = this.layoutOf(name);
    const c = this.#compiled.get(l);
    if (!c || size > MAX_WORDS * 4 || size % 4 !== 0)
      return bigintToBytes(encodeFields(l, values, this.family), size);
    encodeWords(c, values, this.family);
    return storeWords(size);
  }

  /**
   * Decodes bytes. `EINVAL` for a wrong length, a code the specification reserves, or (when
   * `strict`) reserved bits set; `EOPNOTSUPP` for a defined code the model does not decode.
   */
  decode(bytes: Uint8Array, strict: boolean): DecodedRecord<Name> {
    checkLength(bytes, this.sizes, this.family);
    const codeChunks = bytes.length <= MAX_WORDS * 4 && bytes.length % 4 === 0 ? this.#codeChunks : undefined;
    if (codeChunks) loadWords(bytes);
    // The bigint form of the record is built only off the word path or for an error message.
    const code = codeChunks
      ? gather(codeChunks, 0)
      : readCode(this.layouts[0]!.codeField, bytesToBigint(bytes));
    const l = this.#byCode.get(code);
    if (!l) {
      const known = this.unsupported.get(code);
      if (known)
        throw new HwError("EOPNOTSUPP", `${this.family} 0x${code.toString(16)} (${known}) is not modelled`);
      throw new HwError("EINVAL", `${this.family} code 0x${code.toString(16)} is reserved`);
    }
    const c = codeChunks ? this.#compiled.get(l) : undefined;
    if (!c) {
      const v = bytesToBigint(bytes);
      if (strict) checkReserved(l, v, bytes.length * 8, this.family);
      return { name: l.name as Name, code, fields: decodeFields(l, v) };
    }
    if (strict) {
      for (let w = 0; w < bytes.length >>> 2; w++) {
        if ((scratch[w]! & ~c.defined[w]!) !== 0)
          checkReserved(l, bytesToBigint(bytes), bytes.length * 8, this.family);
      }
    }
    return { name: l.name as Name, code, fields: decodeWords(c) };
  }
}
