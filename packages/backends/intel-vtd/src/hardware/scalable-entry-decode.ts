/**
 * The hardware's reading of scalable-mode structures from physical memory (VT-d specification 9.2
 * "Scalable-Mode Root Entry", 9.4 "Scalable-Mode Context Entry", 9.5 "Scalable-Mode PASID Directory
 * Entry", 9.6 "Scalable-Mode PASID Table Entry"). Separate from the driver's encoder
 * (`driver/pasid-entry.ts`) so the two check each other.
 */
import type { EntryMemory } from "./context-entry-decode.js";

/** A decoded scalable-mode root entry (128 bits): one context table per half of the bus's devfns. */
export interface DecodedSmRootEntry {
  /** LP, bit 0: the lower context table (devfn 0x00-0x7f) is present. */
  readonly lowerPresent: boolean;
  /** LCTP, bits [63:12]. */
  readonly lowerTable: number;
  /** UP, bit 64: the upper context table (devfn 0x80-0xff) is present. */
  readonly upperPresent: boolean;
  /** UCTP, bits [127:76]. */
  readonly upperTable: number;
  /** Reserved bits [11:1] or [75:65] set: fault reason 0x3a. */
  readonly reserved: boolean;
}

/** A decoded scalable-mode context entry (256 bits). */
export interface DecodedSmContextEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** FPD, bit 1. */
  readonly fpd: boolean;
  /** DTE (device-TLB enable), bit 2. */
  readonly dte: boolean;
  /** PASIDE (requests with PASID allowed), bit 3. */
  readonly paside: boolean;
  /** PRE (page requests allowed), bit 4. */
  readonly pre: boolean;
  /** PDTS, bits [11:9]: the PASID directory has 2^(PDTS + 7) entries. */
  readonly pdts: number;
  /** PASIDDIRPTR, bits [63:12]. */
  readonly pasidDir: number;
  /** RID_PASID, bits [83:64]: the PASID requests without PASID use. */
  readonly ridPasid: number;
  /** Reserved bits ([8:5], [127:85], [255:128]) set: fault reason 0x42. */
  readonly reserved: boolean;
}

/** A decoded PASID directory entry (64 bits). */
export interface DecodedPasidDirEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** FPD, bit 1. */
  readonly fpd: boolean;
  /** SMPTBLPTR, bits [63:12]: a PASID table of 64 entries. */
  readonly table: number;
  /** Reserved bits [11:2] set: fault reason 0x52. */
  readonly reserved: boolean;
}

/** A decoded scalable-mode PASID table entry (512 bits); fields as Linux's `pasid_set_*`. */
export interface DecodedPasidEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** FPD, bit 1. */
  readonly fpd: boolean;
  /** AW, bits [4:2]: second-stage AGAW. */
  readonly aw: number;
  /** PGTT, bits [8:6]: 1 first stage, 2 second stage, 3 nested, 4 pass-through. */
  readonly pgtt: number;
  /** SSPTPTR, bits [63:12]. */
  readonly slptptr: number;
  /** DID, bits [79:64]. */
  readonly did: number;
  /** PWSNP (page-walk snoop), bit 87. */
  readonly pwsnp: boolean;
  /** PGSNP (page snoop), bit 88. */
  readonly pgsnp: boolean;
  /** SRE (supervisor requests), bit 128. */
  readonly sre: boolean;
  /** FLPM, bits [131:130]: 0 four-level, 1 five-level first stage. */
  readonly flpm: number;
  /** FSPTPTR, bits [191:140]. */
  readonly flptr: number;
}

const TWO32 = 2 ** 32;
const addr = (lo: number, hi: number) => ((lo & 0xffff_f000) >>> 0) + hi * TWO32;

/** Reads scalable-mode root entry `bus` of the root table at `rootTable`. */
export function readSmRootEntry(memory: EntryMemory, rootTable: number, bus: number): DecodedSmRootEntry {
  const at = rootTable + bus * 16;
  const lo0 = memory.readU32(at);
  const hi0 = memory.readU32(at + 8);
  return {
    lowerPresent: (lo0 & 1) === 1,
    lowerTable: addr(lo0, memory.readU32(at + 4)),
    upperPresent: (hi0 & 1) === 1,
    upperTable: addr(hi0, memory.readU32(at + 12)),
    reserved: (lo0 & 0xffe) !== 0 || (hi0 & 0xffe) !== 0,
  };
}

/** Reads scalable-mode context entry `index` (devfn & 0x7f) of the context table at `table`. */
export function readSmContextEntry(memory: EntryMemory, table: number, index: number): DecodedSmContextEntry {
  const at = table + index * 32;
  const w0 = memory.readU32(at);
  const w2 = memory.readU32(at + 8);
  let upper = 0;
  for (let i = 16; i < 32; i += 4) upper |= memory.readU32(at + i);
  return {
    present: (w0 & 1) === 1,
    fpd: (w0 & 2) !== 0,
    dte: (w0 & 4) !== 0,
    paside: (w0 & 8) !== 0,
    pre: (w0 & 0x10) !== 0,
    pdts: (w0 >>> 9) & 7,
    pasidDir: addr(w0, memory.readU32(at + 4)),
    ridPasid: w2 & 0xf_ffff,
    // RID_PRIV (bit 84) is accepted; [127:85] and the upper 128 bits are reserved.
    reserved: (w0 & 0x1e0) !== 0 || w2 >>> 21 !== 0 || memory.readU32(at + 12) !== 0 || upper !== 0,
  };
}

/** Reads PASID directory entry `index` (PASID >> 6) of the directory at `dir`. */
export function readPasidDirEntry(memory: EntryMemory, dir: number, index: number): DecodedPasidDirEntry {
  const at = dir + index * 8;
  const w0 = memory.readU32(at);
  return {
    present: (w0 & 1) === 1,
    fpd: (w0 & 2) !== 0,
    table: addr(w0, memory.readU32(at + 4)),
    reserved: (w0 & 0xffc) !== 0,
  };
}

/** Reads PASID table entry `index` (PASID & 0x3f) of the PASID table at `table`. */
export function readPasidEntry(memory: EntryMemory, table: number, index: number): DecodedPasidEntry {
  const at = table + index * 64;
  const w0 = memory.readU32(at);
  const w2 = memory.readU32(at + 8);
  const w4 = memory.readU32(at + 16);
  return {
    present: (w0 & 1) === 1,
    fpd: (w0 & 2) !== 0,
    aw: (w0 >>> 2) & 7,
    pgtt: (w0 >>> 6) & 7,
    slptptr: addr(w0, memory.readU32(at + 4)),
    did: w2 & 0xffff,
    pwsnp: (w2 & (1 << 23)) !== 0,
    pgsnp: (w2 & (1 << 24)) !== 0,
    sre: (w4 & 1) === 1,
    flpm: (w4 >>> 2) & 3,
    flptr: addr(w4, memory.readU32(at + 20)),
  };
}
