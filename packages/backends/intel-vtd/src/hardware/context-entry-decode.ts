/**
 * The hardware's reading of legacy-mode root and context entries from physical memory (VT-d
 * specification 9.1 "Root Entry" and 9.3 "Context Entry"). This is deliberately separate from the
 * driver's encoder (`driver/context-entry.ts`): a bit the driver puts in the wrong place is a wrong
 * translation or a fault here, never silently agreed on.
 */

/** Memory the hardware reads entries from (hw's `PhysMemory` has this shape). */
export interface EntryMemory {
  readU32(pa: number): number;
}

/** A decoded root entry (128 bits; legacy mode uses only the low quadword). */
export interface DecodedRootEntry {
  /** P, bit 0. */
  readonly present: boolean;
  /** CTP, bits [63:12]: the context table of this bus. */
  readonly contextTable: number;
  /** Any reserved bit set (lo [11:1], all of hi): fault reason 0xa. */
  readonly reserved: boolean;
}

/** A decoded legacy context entry (128 bits). */
export interface DecodedContextEntry {
  /** P, lo bit 0. */
  readonly present: boolean;
  /** FPD (fault processing disable), lo bit 1: faults of this context are not recorded. */
  readonly fpd: boolean;
  /** TT, lo [3:2]: 0 untranslated requests through the second stage, 1 also device-TLB, 2 pass-through. */
  readonly tt: number;
  /** SSPTPTR, lo [63:12]: the second-stage table root. */
  readonly ssptptr: number;
  /** AW, hi [2:0]: the AGAW of the table (1 = 3 levels, 2 = 4, 3 = 5). */
  readonly aw: number;
  /** DID, hi [23:8]. */
  readonly did: number;
  /** Any reserved bit set (lo [11:4], hi [7], hi [63:24]): fault reason 0xb. */
  readonly reserved: boolean;
}

const TWO32 = 2 ** 32;

/** Reads root entry `bus` of the root table at `rootTable`. */
export function readRootEntry(memory: EntryMemory, rootTable: number, bus: number): DecodedRootEntry {
  const at = rootTable + bus * 16;
  const lo0 = memory.readU32(at);
  const lo1 = memory.readU32(at + 4);
  const hi0 = memory.readU32(at + 8);
  const hi1 = memory.readU32(at + 12);
  return {
    present: (lo0 & 1) === 1,
    contextTable: ((lo0 & 0xffff_f000) >>> 0) + lo1 * TWO32,
    reserved: (lo0 & 0xffe) !== 0 || hi0 !== 0 || hi1 !== 0,
  };
}

/** Reads context entry `devfn` of the context table at `contextTable`. */
export function readContextEntry(
  memory: EntryMemory,
  contextTable: number,
  devfn: number,
): DecodedContextEntry {
  const at = contextTable + devfn * 16;
  const lo0 = memory.readU32(at);
  const lo1 = memory.readU32(at + 4);
  const hi0 = memory.readU32(at + 8);
  const hi1 = memory.readU32(at + 12);
  return {
    present: (lo0 & 1) === 1,
    fpd: (lo0 & 2) === 2,
    tt: (lo0 >>> 2) & 3,
    ssptptr: ((lo0 & 0xffff_f000) >>> 0) + lo1 * TWO32,
    aw: hi0 & 7,
    did: (hi0 >>> 8) & 0xffff,
    reserved: (lo0 & 0xff0) !== 0 || (hi0 & 0x80) !== 0 || hi0 >>> 24 !== 0 || hi1 !== 0,
  };
}
