/**
 * The 256-bit device table entry (DTE), as eight little-endian u32 words (`data[0..3]` u64 in
 * Linux's `struct dev_table_entry`; AMD IOMMU specification 48882, "Device Table Entry Format").
 * The driver encodes, the hardware decodes from memory; both use this one layout.
 *
 * Fields of `data[0]`: V 0, TV 1, HAD [8:7], Mode [11:9], Host Page Table Root Pointer [51:12],
 * PPR 52, GPRP 53, GIoV 54, GV 55, GLX [57:56], GCR3[14:12] [60:58], IR 61, IW 62.
 * `data[1]`: DomainID [15:0], GCR3[30:15] [31:16], I 32, SE 33, SA 34, IoCtl [36:35], Cache 37,
 * SD 38, EX 39, SysMgt [41:40], GCR3[51:31] [63:43].
 * `data[2]`: IV 0, IntTabLen [4:1], IG 5, IntTableRootPtr [51:6], InitPass 56, EIntPass 57,
 * NMIPass 58, IntCtl [61:60], Lint0Pass 62, Lint1Pass 63. `data[3]`: not used by this model.
 */

/** Bytes of one DTE (`DEV_TABLE_ENTRY_SIZE`). */
export const DTE_BYTES = 32;

/** DTE fields this model reads or writes; everything absent encodes as 0. */
export interface DteFields {
  /** V: the entry is valid. V=0 passes DMA through untranslated. */
  v: boolean;
  /** TV: the translation fields are valid. V=1, TV=0 blocks DMA (Linux's blocked domain). */
  tv: boolean;
  /** HAD: host access/dirty update enable, 2 bits. */
  had: number;
  /** Paging mode: 0 = no translation (IR/IW filter), 1..6 = levels, 7 reserved. */
  mode: number;
  /** Host Page Table Root Pointer, a 4 KiB-aligned physical address. */
  root: number;
  /** PPR: peripheral page requests enabled. */
  ppr: boolean;
  /** GV: guest (v2) translation valid. */
  gv: boolean;
  /** GLX: guest CR3 table levels. */
  glx: number;
  /** IR: DMA reads allowed. */
  ir: boolean;
  /** IW: DMA writes allowed. */
  iw: boolean;
  /** DomainID: tags IOTLB entries. */
  domainId: number;
  /** I: device IOTLB (ATS) enabled. */
  iotlb: boolean;
  /** SE: suppress repeated IO_PAGE_FAULT events for one page (stored; not modelled). */
  se: boolean;
  /** SA: suppress all IO_PAGE_FAULT events of this device (honoured). */
  sa: boolean;
  /** EX: allow exclusion range. */
  ex: boolean;
  /** SysMgt: system management message handling, 2 bits. */
  sysMgt: number;
  /** IV: interrupt map valid. */
  iv: boolean;
  /** IntCtl: interrupt control, 2 bits. */
  intCtl: number;
}

/** An all-zero (invalid) DTE's fields. */
export function emptyDteFields(): DteFields {
  return {
    v: false,
    tv: false,
    had: 0,
    mode: 0,
    root: 0,
    ppr: false,
    gv: false,
    glx: 0,
    ir: false,
    iw: false,
    domainId: 0,
    iotlb: false,
    se: false,
    sa: false,
    ex: false,
    sysMgt: 0,
    iv: false,
    intCtl: 0,
  };
}

const b = (x: boolean, bit: number) => (x ? 2 ** bit : 0);

/**
 * Encodes fields into eight u32 words. `root` must be 4 KiB aligned and below 2^52, `mode` 0..7,
 * `domainId` 16 bits (the caller validates: this is a bit layout, not a policy).
 */
export function encodeDte(f: Partial<DteFields>): Uint32Array {
  const d = { ...emptyDteFields(), ...f };
  const w = new Uint32Array(8);
  const rootLo = d.root % 2 ** 32;
  const rootHi = Math.floor(d.root / 2 ** 32);
  w[0] =
    (b(d.v, 0) + b(d.tv, 1) + (d.had & 3) * 2 ** 7 + (d.mode & 7) * 2 ** 9 + (rootLo - (rootLo % 4096))) >>>
    0;
  w[1] =
    ((rootHi & 0xfffff) +
      b(d.ppr, 52 - 32) +
      b(d.gv, 55 - 32) +
      (d.glx & 3) * 2 ** (56 - 32) +
      b(d.ir, 61 - 32) +
      b(d.iw, 62 - 32)) >>>
    0;
  w[2] = d.domainId & 0xffff;
  w[3] = (b(d.iotlb, 0) + b(d.se, 1) + b(d.sa, 2) + b(d.ex, 7) + (d.sysMgt & 3) * 2 ** 8) >>> 0;
  w[4] = b(d.iv, 0);
  w[5] = ((d.intCtl & 3) * 2 ** (60 - 32)) >>> 0;
  return w;
}

/** Decodes eight u32 words (starting at `at` in `words`) into fields. Allocates one object. */
export function decodeDte(words: ArrayLike<number>, at = 0): DteFields {
  const w0 = words[at]! >>> 0;
  const w1 = words[at + 1]! >>> 0;
  const w2 = words[at + 2]! >>> 0;
  const w3 = words[at + 3]! >>> 0;
  const w4 = words[at + 4]! >>> 0;
  const w5 = words[at + 5]! >>> 0;
  return {
    v: (w0 & 1) !== 0,
    tv: (w0 & 2) !== 0,
    had: (w0 >>> 7) & 3,
    mode: (w0 >>> 9) & 7,
    root: (w1 & 0xfffff) * 2 ** 32 + ((w0 & 0xfffff000) >>> 0),
    ppr: (w1 & (1 << 20)) !== 0,
    gv: (w1 & (1 << 23)) !== 0,
    glx: (w1 >>> 24) & 3,
    ir: (w1 & (1 << 29)) !== 0,
    iw: (w1 & (1 << 30)) !== 0,
    domainId: w2 & 0xffff,
    iotlb: (w3 & 1) !== 0,
    se: (w3 & 2) !== 0,
    sa: (w3 & 4) !== 0,
    ex: (w3 & 0x80) !== 0,
    sysMgt: (w3 >>> 8) & 3,
    iv: (w4 & 1) !== 0,
    intCtl: (w5 >>> 28) & 3,
  };
}

/** The four u64 `data[0..3]` of an encoded DTE, for dumps and tests. */
export function dteQwords(words: ArrayLike<number>, at = 0): [bigint, bigint, bigint, bigint] {
  const q = (i: number) => (BigInt(words[at + 2 * i + 1]! >>> 0) << 32n) | BigInt(words[at + 2 * i]! >>> 0);
  return [q(0), q(1), q(2), q(3)];
}
