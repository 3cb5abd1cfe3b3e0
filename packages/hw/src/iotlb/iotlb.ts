import { hex, MAX_NUMBER_ADDRESS } from "../address.js";
import { HwError } from "../errors.js";
import { Xorshift32 } from "./prng.js";
import type {
  IotlbEntrySnapshot,
  IotlbHit,
  IotlbRangeInvalidation,
  IotlbReplacement,
  IotlbStage,
  IotlbStats,
  IotlbTagFilter,
  IotlbTags,
} from "./types.js";

/**
 * Which tags a global entry ignores on lookup. ARM nG=0 entries match every ASID (and so every
 * SubstreamID, which only selects an ASID); VT-d first-stage global pages match every PASID of their
 * domain, so a VT-d model whose `asid` tag is the domain id passes `"pasid"`.
 */
export type IotlbGlobalIgnores = "asid" | "pasid" | "asid+pasid";

/** Options of {@link createIotlb}. */
export interface IotlbOptions {
  /** Total entries (for `"qemu"`: the count at which the table is emptied). @default 256 */
  entries?: number;
  /**
   * Associativity, 1..entries; `entries / ways` sets (must divide exactly). `ways === entries` is
   * fully associative. Ignored by `"qemu"`. @default min(4, entries)
   */
  ways?: number;
  /** Replacement policy. @default "lru" */
  replacement?: IotlbReplacement;
  /** Seed of the xorshift32 generator of `"random"` replacement. @default 1 */
  seed?: number;
  /** Tags a global entry ignores on lookup. @default "asid+pasid" */
  globalIgnores?: IotlbGlobalIgnores;
  /**
   * Use the `level` / `pageSize` hints of range invalidations as hardware may (SMMUv3 TTL): entries
   * of another level or size survive. Off by default, which is what a conservative implementation
   * does; on, it exposes drivers that send a wrong TTL. @default false
   */
  honourHints?: boolean;
  /**
   * Refuse an insert whose output base is not aligned to its page size. Walk caches, whose "output"
   * is a table address, turn it off. @default true
   */
  checkOutputAlignment?: boolean;
  /** Name for `describe()`. @default "IOTLB" */
  name?: string;
}

/** The fixed shape of an IOTLB. */
export interface IotlbGeometry {
  readonly entries: number;
  /** Ways per set (for `"qemu"`: equal to `entries`, one unbounded-hash "set"). */
  readonly ways: number;
  readonly sets: number;
  readonly replacement: IotlbReplacement;
  readonly globalIgnores: IotlbGlobalIgnores;
  readonly honourHints: boolean;
}

/** Presets with the geometry of the peers (hw-facts 4.4, peers A16). */
export const IOTLB_PRESETS = {
  /** QEMU SMMUv3: hash table flushed whole at 256 entries (`SMMU_IOTLB_MAX_SIZE`). */
  "qemu-smmuv3": { entries: 256, replacement: "qemu" },
  /** QEMU VT-d: flushed whole at 1024 entries (`VTD_IOTLB_MAX_SIZE`). */
  "qemu-vtd": { entries: 1024, replacement: "qemu", globalIgnores: "pasid" },
  /** QEMU AMD-Vi: flushed whole at 1024 entries (`AMDVI_IOTLB_MAX_SIZE`). */
  "qemu-amd": { entries: 1024, replacement: "qemu" },
  /** gem5 SMMUv3 per-interface micro TLB: 32 entries, fully associative, round robin. */
  "gem5-utlb": { entries: 32, ways: 32, replacement: "round-robin" },
  /** gem5 SMMUv3 per-interface main TLB: 2048 entries, 4-way, round robin. */
  "gem5-main-tlb": { entries: 2048, ways: 4, replacement: "round-robin" },
  /** The native baseline's TLB (baselines/native-pt): 1024 entries, 4-way, LRU. */
  "native-baseline": { entries: 1024, ways: 4, replacement: "lru" },
} as const satisfies Record<string, IotlbOptions>;

const KEY_INVALID = -1;
/** The filter of a range invalidation that names none (shared: never written). */
const NO_FILTER: IotlbTagFilter = Object.freeze({});
// Record layouts of the two entry arrays (strides F and I); keys live in an array of their own.
const F = 4;
const F_BASE = 1;
const F_OUT = 2;
const F_STAMP = 3;
const I = 8;
const I_ASID = 0;
const I_VMID = 1;
const I_PASID = 2;
const I_STREAM = 3;
const I_PERM = 4;
const I_LEVEL = 5;
const I_SHIFT = 6;
const I_GLOBAL = 7;
const MAX_SHIFT = 52;
/** 2^s and 2^-s: exact in doubles, so `iova * INV_POW2[s]` is an exact division by the page size. */
const POW2 = new Float64Array(64);
const INV_POW2 = new Float64Array(64);
for (let s = 0; s < 64; s++) {
  POW2[s] = 2 ** s;
  INV_POW2[s] = 2 ** -s;
}

const POLICY_LRU = 0;
const POLICY_FIFO = 1;
const POLICY_RR = 2;
const POLICY_RANDOM = 3;
const POLICY_QEMU = 4;
const POLICY_CODES: Record<IotlbReplacement, number> = {
  lru: POLICY_LRU,
  fifo: POLICY_FIFO,
  "round-robin": POLICY_RR,
  random: POLICY_RANDOM,
  qemu: POLICY_QEMU,
};

function checkCount(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new HwError("EINVAL", `${what} ${String(value)} must be an integer >= ${min}`);
  }
  return value;
}

/** log2 of a page size, or -1 when it is not a power of two from 4 KiB to 2^52. */
function pageShift(size: number): number {
  if (size === 4096) return 12;
  if (!(size >= 4096 && size <= 2 ** MAX_SHIFT)) return -1;
  const s = Math.round(Math.log2(size));
  return POW2[s] === size ? s : -1;
}

/** Converts an address-like value to a number, clamping anything at or above 2^53 to 2^53. */
function clampAddress(value: bigint | number, what: string): number {
  if (typeof value === "bigint") {
    if (value < 0n) throw new HwError("EINVAL", `${what} ${value} is negative`);
    return value >= BigInt(MAX_NUMBER_ADDRESS) ? MAX_NUMBER_ADDRESS : Number(value);
  }
  if (!Number.isInteger(value) || value < 0)
    throw new HwError("EINVAL", `${what} ${String(value)} is invalid`);
  return Math.min(value, MAX_NUMBER_ADDRESS);
}

/**
 * `value mod size` for a non-negative integer `value` below 2^53 and a power-of-two `size`: an
 * integer `&` up to 2^31 (a float `%` of a value above 2^31 is a runtime call, paid per insert).
 */
function lowBits(value: number, size: number): number {
  return size <= 0x8000_0000 ? value & (size - 1) : value - Math.floor(value / size) * size;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * A set-associative (or QEMU-style hashed) IOTLB with mixed page sizes, tags, the four classic
 * replacement policies and the invalidations of SMMUv3, VT-d and AMD. Entries live in two typed
 * arrays of fixed-stride records (one Float64Array, one Int32Array); `lookup` allocates nothing and
 * uses no bigint.
 *
 * Set indexing with mixed page sizes (what real multi-size TLBs do): an entry of page size 2^s lives
 * in set `floor(iova / 2^s) mod sets`, i.e. it is indexed by its own page number. The IOTLB tracks
 * which page sizes it currently holds; a lookup probes once per size present, smallest first, and so
 * costs one probe while only 4 KiB pages are cached. When two entries of different sizes both cover
 * an address (a 4 KiB entry inside a 2 MiB one, which only a driver bug produces), the smallest wins.
 *
 * Slots: set `s`, way `w` is slot `s * ways + w`. Replacement fills the lowest invalid way of the set
 * first; only a full set evicts, by the policy: LRU (least recently inserted or hit), FIFO (oldest
 * insertion), round robin (a per-set pointer that advances on each eviction), random (xorshift32).
 * Inserting a translation already cached with the same tags updates that entry in place.
 *
 * `"qemu"` mode models QEMU's IOTLB: a hash table keyed by tags and page, with no sets or ways, that
 * is emptied entirely when an insert finds it holding `entries` entries.
 */
export class Iotlb {
  /** Total entries. */
  readonly entries: number;
  /** Ways per set. */
  readonly ways: number;
  /** Number of sets. */
  readonly sets: number;
  /** Replacement policy. */
  readonly replacement: IotlbReplacement;
  /** Name used by `describe()`. */
  readonly name: string;
  readonly #globalIgnores: IotlbGlobalIgnores;
  readonly #honourHints: boolean;
  readonly #checkAlign: boolean;
  readonly #policy: number;
  readonly #ignAsid: boolean;
  readonly #ignPasid: boolean;
  /** `sets - 1` when sets is a power of two, else -1 (then `%` is used). */
  readonly #setMask: number;

  // Entry fields. #keys: one per slot, so the ways of a set are adjacent (one cache line for four
  // ways) and a probe compares keys before touching anything else; key = vpn * 256 + shift * 4 +
  // stage (< 2^49), -1 when invalid. Then two typed arrays of fixed-stride records: #f64: [unused,
  // base, outBase, stamp] per slot; #i32: [asid, vmid, pasid, stream, perm, level, shift, global].
  readonly #keys: Float64Array;
  readonly #f64: Float64Array;
  readonly #i32: Int32Array;
  readonly #rrNext: Int32Array;
  readonly #rng: Xorshift32;
  #clock = 0;
  #valid = 0;

  // Page sizes present: count per shift, and the shifts with a non-zero count in ascending order.
  readonly #shiftCount = new Int32Array(64);
  readonly #present = new Int32Array(64);
  readonly #shiftScratch = new Int32Array(64);
  #nPresent = 0;
  /** The only page shift present when the fast lookup path applies, else -1. */
  #singleShift = -1;

  // "qemu" mode: entries packed in slots 0..count-1, and an open-addressing table of slot numbers.
  readonly #hash: Int32Array;
  readonly #hashMask: number;

  // Statistics.
  #misses = 0;
  /** Clock value when the counters were last reset (lookups = clock - base - insertions since). */
  #statsBase = 0;
  #insertions = 0;
  #evictions = 0;
  #overflowFlushes = 0;
  #invAll = 0;
  #invTag = 0;
  #invRange = 0;
  #dropAll = 0;
  #dropTag = 0;
  #dropRange = 0;

  constructor(options: IotlbOptions = {}) {
    const replacement = options.replacement ?? "lru";
    const policy = POLICY_CODES[replacement];
    if (policy === undefined)
      throw new HwError(
        "EINVAL",
        `replacement ${String(replacement)} is not one of lru, fifo, round-robin, random, qemu`,
      );
    const entries = checkCount(options.entries ?? 256, "entries", 1);
    let ways = policy === POLICY_QEMU ? entries : checkCount(options.ways ?? Math.min(4, entries), "ways", 1);
    if (ways > entries) throw new HwError("EINVAL", `ways ${ways} exceeds entries ${entries}`);
    if (entries % ways !== 0)
      throw new HwError("EINVAL", `entries ${entries} is not a multiple of ways ${ways}`);
    if (policy === POLICY_QEMU) ways = entries;
    const globalIgnores = options.globalIgnores ?? "asid+pasid";
    if (globalIgnores !== "asid" && globalIgnores !== "pasid" && globalIgnores !== "asid+pasid") {
      throw new HwError("EINVAL", `globalIgnores ${String(globalIgnores)} is not asid, pasid or asid+pasid`);
    }
    this.entries = entries;
    this.ways = ways;
    this.sets = entries / ways;
    this.replacement = replacement;
    this.name = options.name ?? "IOTLB";
    this.#policy = policy;
    this.#globalIgnores = globalIgnores;
    this.#ignAsid = globalIgnores !== "pasid";
    this.#ignPasid = globalIgnores !== "asid";
    this.#honourHints = options.honourHints ?? false;
    this.#checkAlign = options.checkOutputAlignment ?? true;
    this.#setMask = (this.sets & (this.sets - 1)) === 0 ? this.sets - 1 : -1;
    this.#keys = new Float64Array(entries).fill(KEY_INVALID);
    this.#f64 = new Float64Array(entries * F);
    this.#i32 = new Int32Array(entries * I);
    this.#rrNext = new Int32Array(this.sets);
    this.#rng = new Xorshift32(options.seed ?? 1);
    const hashSize = policy === POLICY_QEMU ? nextPow2(entries * 2) : 1;
    this.#hash = new Int32Array(hashSize).fill(-1);
    this.#hashMask = hashSize - 1;
  }

  /** The fixed shape and policy. */
  get geometry(): IotlbGeometry {
    return {
      entries: this.entries,
      ways: this.ways,
      sets: this.sets,
      replacement: this.replacement,
      globalIgnores: this.#globalIgnores,
      honourHints: this.#honourHints,
    };
  }

  /** Number of valid entries. */
  get validEntries(): number {
    return this.#valid;
  }

  /** Page sizes currently cached, ascending (bytes). */
  pageSizesPresent(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.#nPresent; k++) out.push(POW2[this.#present[k]!]!);
    return out;
  }

  /**
   * Looks up input address `iova` (a number below 2^53) for `tags`. On a hit writes `out` and returns
   * the slot; on a miss sets `out.index = -1` and returns -1. LRU refreshes the entry's age on a hit.
   * Hot path: no allocation, no bigint; one set probe per page size present.
   */
  lookup(iova: number, tags: IotlbTags, out: IotlbHit): number {
    // The replacement clock ticks on every lookup and insert, so it doubles as the lookup counter
    // (lookups = ticks - insertions): the hit path updates one counter, not three.
    const clock = ++this.#clock;
    // Fast path, kept small enough for V8 to inline into the caller (a call would box `iova`, a
    // double above 2^31, on every lookup; V8 inlines at most 460 bytes of bytecode, so mind what is
    // added here): power-of-two sets, one page size present, an exact tag match, or a set without
    // the key (a miss). Global entries, several page sizes and "qemu" mode take the general path.
    const shift = this.#singleShift;
    if (shift >= 0) {
      const vpn = Math.floor(iova * INV_POW2[shift]!);
      const key = vpn * 256 + shift * 4 + tags.stage;
      const keys = this.#keys;
      const ways = this.ways;
      // The set's keys are adjacent: find the first way with the key, then compare its tags once.
      // Several ways may share a key (other tags); the general path scans them all.
      let j = (vpn & this.#setMask) * ways;
      const end = j + ways;
      while (j < end && keys[j] !== key) j++;
      // No way holds the key: with one page size present that is a miss, global entries included.
      if (j === end) return this.#miss(out);
      const i32 = this.#i32;
      const t = j * I;
      if (
        i32[t] === (tags.asid | 0) &&
        i32[t + I_VMID] === (tags.vmid | 0) &&
        i32[t + I_PASID] === (tags.pasid | 0) &&
        i32[t + I_STREAM] === (tags.stream | 0)
      ) {
        if (this.#policy === POLICY_LRU) this.#touch(j, clock);
        const outBase = this.#f64[j * F + F_OUT]!;
        const size = POW2[shift]!;
        out.index = j;
        out.outputBase = outBase;
        out.outputAddress = outBase + (iova - vpn * size);
        out.pageSize = size;
        out.perm = i32[t + I_PERM]!;
        out.level = i32[t + I_LEVEL]!;
        return j;
      }
    }
    return this.#lookupGeneral(iova, tags, out, clock);
  }

  /** LRU: slot `j` was used at `clock`. */
  #touch(j: number, clock: number): void {
    this.#f64[j * F + F_STAMP] = clock;
  }

  /** Counts a lookup miss and reports it in `out`. */
  #miss(out: IotlbHit): number {
    this.#misses++;
    out.index = -1;
    return -1;
  }

  #fill(out: IotlbHit, j: number, iova: number, vpn: number, shift: number): void {
    const outBase = this.#f64[j * F + F_OUT]!;
    const size = POW2[shift]!;
    out.index = j;
    out.outputBase = outBase;
    out.outputAddress = outBase + (iova - vpn * size);
    out.pageSize = size;
    out.perm = this.#i32[j * I + I_PERM]!;
    out.level = this.#i32[j * I + I_LEVEL]!;
  }

  /**
   * Like {@link lookup}, but leaves the statistics and the replacement state (LRU age) untouched:
   * for dumps, visualisers and "would this still hit?" checks. Same result and `out`.
   */
  peek(iova: number, tags: IotlbTags, out: IotlbHit): number {
    return this.#lookupGeneral(iova, tags, out, -1);
  }

  /**
   * Every case of a lookup; `clock < 0` is a peek (no LRU refresh, no miss counted). One function
   * for the set-associative and the hashed cases on purpose: its size keeps V8 from inlining it
   * into {@link lookup}, which then stays small enough to be inlined into callers' loops.
   */
  #lookupGeneral(iova: number, tags: IotlbTags, out: IotlbHit, clock: number): number {
    const present = this.#present;
    if (this.#policy === POLICY_QEMU) {
      for (let k = 0, n = this.#nPresent; k < n; k++) {
        const s = present[k]!;
        const vpn = Math.floor(iova * INV_POW2[s]!);
        const j = this.#probe(vpn * 256 + s * 4 + tags.stage, tags);
        if (j >= 0) {
          this.#fill(out, j, iova, vpn, s);
          return j;
        }
      }
    } else {
      const f64 = this.#f64;
      const keys = this.#keys;
      const ways = this.ways;
      const setMask = this.#setMask;
      for (let k = 0, n = this.#nPresent; k < n; k++) {
        const s = present[k]!;
        const vpn = Math.floor(iova * INV_POW2[s]!);
        const key = vpn * 256 + s * 4 + tags.stage;
        let j = (setMask >= 0 ? vpn & setMask : vpn % this.sets) * ways;
        for (const end = j + ways; j < end; j++) {
          if (keys[j] === key && this.#tagsMatch(j, tags)) {
            if (this.#policy === POLICY_LRU && clock >= 0) f64[j * F + F_STAMP] = clock;
            this.#fill(out, j, iova, vpn, s);
            return j;
          }
        }
      }
    }
    if (clock >= 0) this.#misses++;
    out.index = -1;
    return -1;
  }

  /** True when slot `i`'s tags answer a lookup with `tags` (exact, or global ignoring ASID/PASID). */
  #tagsMatch(i: number, tags: IotlbTags): boolean {
    if (this.#i32[i * I + I_VMID] !== (tags.vmid | 0) || this.#i32[i * I + I_STREAM] !== (tags.stream | 0))
      return false;
    const asidOk = this.#i32[i * I + I_ASID] === (tags.asid | 0);
    const pasidOk = this.#i32[i * I + I_PASID] === (tags.pasid | 0);
    if (asidOk && pasidOk) return true;
    return this.#i32[i * I + I_GLOBAL] !== 0 && (asidOk || this.#ignAsid) && (pasidOk || this.#ignPasid);
  }

  #hashOf(key: number, vmid: number, stream: number): number {
    // Only the page key, VMID and stream are hashed: ASID and PASID stay out so that a global entry
    // (which ignores them) is found by the same probe sequence as an ordinary one.
    let h = Math.imul((key >>> 0) ^ Math.imul(Math.floor(key / 4294967296), 0x9e3779b1), 0x85ebca6b);
    h ^= Math.imul(vmid, 0xc2b2ae35) ^ Math.imul(stream, 0x27d4eb2f);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    return h & this.#hashMask;
  }

  #probe(key: number, tags: IotlbTags): number {
    const hash = this.#hash;
    const mask = this.#hashMask;
    for (let h = this.#hashOf(key, tags.vmid | 0, tags.stream | 0); ; h = (h + 1) & mask) {
      const i = hash[h]!;
      if (i < 0) return -1;
      if (this.#keys[i] === key && this.#tagsMatch(i, tags)) return i;
    }
  }

  /** The slot holding exactly this translation (same key, tags and global flag), or -1. */
  #probeSame(key: number, tags: IotlbTags, global: number): number {
    const mask = this.#hashMask;
    for (let h = this.#hashOf(key, tags.vmid | 0, tags.stream | 0); ; h = (h + 1) & mask) {
      const i = this.#hash[h]!;
      if (i < 0) return -1;
      if (this.#sameEntry(i, key, tags, global)) return i;
    }
  }

  /** True when slot `i` holds exactly this key, tags and global flag (the same translation). */
  #sameEntry(i: number, key: number, tags: IotlbTags, global: number): boolean {
    return (
      this.#keys[i] === key &&
      this.#i32[i * I + I_ASID] === (tags.asid | 0) &&
      this.#i32[i * I + I_VMID] === (tags.vmid | 0) &&
      this.#i32[i * I + I_PASID] === (tags.pasid | 0) &&
      this.#i32[i * I + I_STREAM] === (tags.stream | 0) &&
      this.#i32[i * I + I_GLOBAL] === global
    );
  }

  /**
   * Caches a translation: the page of `pageSize` bytes (a power of two from 4 KiB to 2^52) that
   * contains `iova`, mapped so that `iova` goes to `outputAddress` (both may point anywhere in the
   * page, as a `WalkOut` reports them), with Linux prot bits `perm`, from a leaf at `level`.
   * Returns the slot used. Evicts per the policy when the set is full (`"qemu"`: empties the table
   * when it holds `entries` entries). `EINVAL` for a bad size or address.
   */
  insert(
    iova: number,
    pageSize: number,
    outputAddress: number,
    perm: number,
    level: number,
    tags: IotlbTags,
    global = false,
  ): number {
    const s = pageShift(pageSize);
    if (s < 0)
      throw new HwError("EINVAL", `page size ${hex(pageSize)} is not a power of two from 4 KiB to 2^52`);
    if (!(iova >= 0 && iova < MAX_NUMBER_ADDRESS && Number.isInteger(iova))) {
      throw new HwError("EINVAL", `input address ${String(iova)} is not an integer in [0, 2^53)`);
    }
    const vpn = Math.floor(iova * INV_POW2[s]!);
    const base = vpn * pageSize;
    const outBase = outputAddress - (iova - base);
    if (
      !(outBase >= 0 && Number.isInteger(outBase)) ||
      (this.#checkAlign && lowBits(outBase, pageSize) !== 0)
    ) {
      throw new HwError(
        "EINVAL",
        `output address ${hex(outputAddress)} for ${hex(iova)} gives a page base ${hex(outBase)} not aligned to ${hex(pageSize)}`,
      );
    }
    const stage = tags.stage;
    if (stage !== 1 && stage !== 2 && stage !== 3)
      throw new HwError("EINVAL", `stage ${String(stage)} is not 1, 2 or 3`);
    const key = vpn * 256 + s * 4 + stage;
    const g = global ? 1 : 0;
    this.#insertions++;
    this.#clock++;
    let slot = -1;
    let update = false;
    if (this.#policy === POLICY_QEMU) {
      const found = this.#probeSame(key, tags, g);
      if (found >= 0) {
        slot = found;
        update = true;
      } else {
        if (this.#valid >= this.entries) {
          this.#overflowFlushes++;
          this.#evictions += this.#valid;
          this.#clear();
        }
        slot = this.#valid;
        this.#addHash(slot, key, tags.vmid | 0, tags.stream | 0);
      }
    } else {
      const ways = this.ways;
      const first = (this.#setMask >= 0 ? vpn & this.#setMask : vpn % this.sets) * ways;
      let free = -1;
      for (let j = first; j < first + ways; j++) {
        if (this.#keys[j] === KEY_INVALID) {
          if (free < 0) free = j;
        } else if (this.#sameEntry(j, key, tags, g)) {
          slot = j;
          update = true;
          break;
        }
      }
      if (slot < 0) slot = free >= 0 ? free : this.#victim(first);
    }
    if (update) {
      this.#dropShift(s); // the same translation refreshed in place: the add below restores the count
    } else if (this.#keys[slot] === KEY_INVALID) {
      this.#valid++;
    } else {
      this.#evictions++;
      this.#dropShift(this.#i32[slot * I + I_SHIFT]!);
    }
    this.#keys[slot] = key;
    this.#f64[slot * F + F_BASE] = base;
    this.#f64[slot * F + F_OUT] = outBase;
    this.#i32[slot * I + I_ASID] = tags.asid | 0;
    this.#i32[slot * I + I_VMID] = tags.vmid | 0;
    this.#i32[slot * I + I_PASID] = tags.pasid | 0;
    this.#i32[slot * I + I_STREAM] = tags.stream | 0;
    this.#i32[slot * I + I_PERM] = perm;
    this.#i32[slot * I + I_LEVEL] = level;
    this.#i32[slot * I + I_SHIFT] = s;
    this.#i32[slot * I + I_GLOBAL] = g;
    this.#f64[slot * F + F_STAMP] = this.#clock;
    this.#addShift(s);
    return slot;
  }

  #victim(first: number): number {
    const ways = this.ways;
    switch (this.#policy) {
      case POLICY_RR: {
        const set = first / ways;
        const w = this.#rrNext[set]!;
        this.#rrNext[set] = (w + 1) % ways;
        return first + w;
      }
      case POLICY_RANDOM:
        return first + this.#rng.below(ways);
      default: {
        // LRU and FIFO: the smallest stamp (last use for LRU, insertion for FIFO); ties -> lowest way.
        let best = first;
        for (let j = first + 1; j < first + ways; j++)
          if (this.#f64[j * F + F_STAMP]! < this.#f64[best * F + F_STAMP]!) best = j;
        return best;
      }
    }
  }

  #addHash(slot: number, key: number, vmid: number, stream: number): void {
    const mask = this.#hashMask;
    let h = this.#hashOf(key, vmid, stream);
    while (this.#hash[h]! >= 0) h = (h + 1) & mask;
    this.#hash[h] = slot;
  }

  #addShift(s: number): void {
    if (this.#shiftCount[s]!++ !== 0) return;
    // Insert s into the sorted list of present shifts.
    let k = this.#nPresent++;
    while (k > 0 && this.#present[k - 1]! > s) {
      this.#present[k] = this.#present[k - 1]!;
      k--;
    }
    this.#present[k] = s;
    this.#updateFastPath();
  }

  #updateFastPath(): void {
    const fast = this.#policy !== POLICY_QEMU && this.#setMask >= 0 && this.#nPresent === 1;
    this.#singleShift = fast ? this.#present[0]! : -1;
  }

  #dropShift(s: number): void {
    if (--this.#shiftCount[s]! !== 0) return;
    let k = 0;
    while (this.#present[k] !== s) k++;
    for (; k < this.#nPresent - 1; k++) this.#present[k] = this.#present[k + 1]!;
    this.#nPresent--;
    this.#updateFastPath();
  }

  #clear(): void {
    for (let j = 0; j < this.entries; j++) this.#keys[j] = KEY_INVALID;
    this.#shiftCount.fill(0);
    this.#nPresent = 0;
    this.#singleShift = -1;
    this.#valid = 0;
    this.#hash.fill(-1);
  }

  /** Invalidates slot `i` (valid). */
  #drop(i: number): void {
    this.#dropShift(this.#i32[i * I + I_SHIFT]!);
    this.#keys[i] = KEY_INVALID;
    this.#valid--;
  }

  /** After drops in `"qemu"` mode: packs the survivors into slots 0..valid-1 and rebuilds the hash. */
  #repack(): void {
    if (this.#policy !== POLICY_QEMU) return;
    const n = this.entries;
    let to = 0;
    for (let from = 0; from < n; from++) {
      if (this.#keys[from] === KEY_INVALID) continue;
      if (from !== to) {
        this.#keys[to] = this.#keys[from]!;
        this.#f64.copyWithin(to * F, from * F, from * F + F);
        this.#i32.copyWithin(to * I, from * I, from * I + I);
        this.#keys[from] = KEY_INVALID;
      }
      to++;
    }
    this.#hash.fill(-1);
    for (let i = 0; i < to; i++)
      this.#addHash(i, this.#keys[i]!, this.#i32[i * I + I_VMID]!, this.#i32[i * I + I_STREAM]!);
  }

  #filterMatch(i: number, f: IotlbTagFilter, includeGlobal: boolean): boolean {
    if (f.vmid !== undefined && this.#i32[i * I + I_VMID] !== (f.vmid | 0)) return false;
    if (f.stream !== undefined && this.#i32[i * I + I_STREAM] !== (f.stream | 0)) return false;
    if (f.stage !== undefined && this.#keys[i]! % 4 !== f.stage) return false;
    const asidOk = f.asid === undefined || this.#i32[i * I + I_ASID] === (f.asid | 0);
    const pasidOk = f.pasid === undefined || this.#i32[i * I + I_PASID] === (f.pasid | 0);
    if (this.#i32[i * I + I_GLOBAL] === 0) return asidOk && pasidOk;
    // A global entry has no ASID/PASID of its own for the tags it ignores: a filter naming those
    // selects it only when global entries are included.
    const namesIgnored = (this.#ignAsid && f.asid !== undefined) || (this.#ignPasid && f.pasid !== undefined);
    if (namesIgnored && !includeGlobal) return false;
    return (this.#ignAsid || asidOk) && (this.#ignPasid || pasidOk);
  }

  /** Drops every entry (SMMUv3 CFGI_ALL + TLBI_NSNH_ALL, VT-d global invalidation, AMD INVALIDATE_IOMMU_ALL). Returns entries dropped. */
  invalidateAll(): number {
    const dropped = this.#valid;
    this.#invAll++;
    this.#dropAll += dropped;
    this.#clear();
    return dropped;
  }

  /**
   * Drops every entry whose tags match `filter` (TLBI_NH_ASID, TLBI_S12_VMALL, VT-d DSI or
   * PASID-selective, AMD all-pages of a domain). Global entries are kept when the filter names an
   * ASID/PASID unless `includeGlobal`. Returns entries dropped.
   */
  invalidateTags(filter: IotlbTagFilter): number {
    this.#invTag++;
    const includeGlobal = filter.includeGlobal ?? false;
    let dropped = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.#keys[i] !== KEY_INVALID && this.#filterMatch(i, filter, includeGlobal)) {
        this.#drop(i);
        dropped++;
      }
    }
    if (dropped) this.#repack();
    this.#dropTag += dropped;
    return dropped;
  }

  /**
   * Drops every entry selected by the filter whose page overlaps `[start, start + size)` (SMMUv3
   * TLBI_NH_VA / TLBI_NH_VAA / TLBI_S2_IPA ranges, VT-d PSI, AMD INVALIDATE_IOMMU_PAGES). Global
   * entries are included unless `filter.includeGlobal === false`. `leafOnly` does not change what an
   * IOTLB drops (all its entries are leaves); `level` / `pageSize` hints restrict the drop only when
   * the IOTLB honours hints. Returns entries dropped.
   */
  invalidateRange(inv: IotlbRangeInvalidation): number {
    this.#invRange++;
    const start = clampAddress(inv.start, "range start");
    const size = clampAddress(inv.size ?? 1, "range size");
    const end = Math.min(start + size, MAX_NUMBER_ADDRESS);
    const filter = inv.filter ?? NO_FILTER;
    const includeGlobal = filter.includeGlobal ?? true;
    const hintShift = this.#honourHints && inv.pageSize !== undefined ? pageShift(inv.pageSize) : -1;
    if (end <= start) return 0;
    const level = this.#honourHints ? inv.level : undefined;
    let dropped = 0;
    // A small range needs only the sets its pages index, per page size present; else scan all.
    let pagesToProbe = 0;
    for (let k = 0; k < this.#nPresent; k++) {
      const s = this.#present[k]!;
      pagesToProbe += Math.floor((end - 1) * INV_POW2[s]!) - Math.floor(start * INV_POW2[s]!) + 1;
    }
    if (this.#policy !== POLICY_QEMU && pagesToProbe < this.sets) {
      // Drops can remove a size from #present: walk a copy (a preallocated one: backends call
      // this once per unmap, so it allocates nothing).
      const shifts = this.#shiftScratch;
      const nShifts = this.#nPresent;
      shifts.set(this.#present.subarray(0, nShifts));
      for (let k = 0; k < nShifts; k++) {
        const s = shifts[k]!;
        const lastVpn = Math.floor((end - 1) * INV_POW2[s]!);
        for (let vpn = Math.floor(start * INV_POW2[s]!); vpn <= lastVpn; vpn++) {
          const first = (this.#setMask >= 0 ? vpn & this.#setMask : vpn % this.sets) * this.ways;
          for (let j = first; j < first + this.ways; j++) {
            if (
              this.#i32[j * I + I_SHIFT] === s &&
              this.#rangeDrops(j, start, end, level, hintShift, filter, includeGlobal)
            )
              dropped++;
          }
        }
      }
    } else {
      for (let i = 0; i < this.entries; i++)
        if (this.#rangeDrops(i, start, end, level, hintShift, filter, includeGlobal)) dropped++;
      if (dropped) this.#repack();
    }
    this.#dropRange += dropped;
    return dropped;
  }

  /**
   * Drops slot `i` if it is valid, overlaps `[start, end)`, passes the hints (`level` undefined and
   * `hintShift` -1: none) and the filter. Returns whether it did.
   */
  #rangeDrops(
    i: number,
    start: number,
    end: number,
    level: number | undefined,
    hintShift: number,
    filter: IotlbTagFilter,
    includeGlobal: boolean,
  ): boolean {
    if (this.#keys[i] === KEY_INVALID) return false;
    const base = this.#f64[i * F + F_BASE]!;
    if (!(base < end && base + POW2[this.#i32[i * I + I_SHIFT]!]! > start)) return false;
    if (level !== undefined && this.#i32[i * I + I_LEVEL] !== level) return false;
    if (hintShift >= 0 && this.#i32[i * I + I_SHIFT] !== hintShift) return false;
    if (!this.#filterMatch(i, filter, includeGlobal)) return false;
    this.#drop(i);
    return true;
  }

  /** A copy of the counters. */
  stats(): IotlbStats {
    const lookups = this.#clock - this.#statsBase - this.#insertions;
    return {
      lookups,
      hits: lookups - this.#misses,
      misses: this.#misses,
      insertions: this.#insertions,
      evictions: this.#evictions,
      overflowFlushes: this.#overflowFlushes,
      invalidations: { all: this.#invAll, tag: this.#invTag, range: this.#invRange },
      dropped: { all: this.#dropAll, tag: this.#dropTag, range: this.#dropRange },
    };
  }

  /** Zeroes the counters (not the entries). */
  resetStats(): void {
    this.#statsBase = this.#clock;
    this.#misses = this.#insertions = this.#evictions = this.#overflowFlushes = 0;
    this.#invAll = this.#invTag = this.#invRange = 0;
    this.#dropAll = this.#dropTag = this.#dropRange = 0;
  }

  /** Every valid entry, in slot order. */
  snapshot(): IotlbEntrySnapshot[] {
    const out: IotlbEntrySnapshot[] = [];
    for (let i = 0; i < this.entries; i++) {
      const key = this.#keys[i]!;
      if (key === KEY_INVALID) continue;
      const qemu = this.#policy === POLICY_QEMU;
      out.push({
        index: i,
        set: qemu ? 0 : Math.floor(i / this.ways),
        way: qemu ? i : i % this.ways,
        iova: BigInt(this.#f64[i * F + F_BASE]!),
        output: BigInt(this.#f64[i * F + F_OUT]!),
        size: 1n << BigInt(this.#i32[i * I + I_SHIFT]!),
        perm: this.#i32[i * I + I_PERM]!,
        level: this.#i32[i * I + I_LEVEL]!,
        asid: this.#i32[i * I + I_ASID]!,
        vmid: this.#i32[i * I + I_VMID]!,
        pasid: this.#i32[i * I + I_PASID]!,
        stream: this.#i32[i * I + I_STREAM]!,
        stage: (key % 4) as IotlbStage,
        global: this.#i32[i * I + I_GLOBAL] !== 0,
        age: this.#clock - this.#f64[i * F + F_STAMP]!,
      });
    }
    return out;
  }

  /** One line: name, geometry, policy, occupancy and page sizes present. */
  describe(): string {
    const shape =
      this.#policy === POLICY_QEMU
        ? `hash table, emptied at ${this.entries} entries (QEMU)`
        : this.ways === this.entries
          ? `${this.entries} entries, fully associative, ${this.replacement}`
          : `${this.entries} entries, ${this.ways}-way x ${this.sets} sets, ${this.replacement}`;
    const sizes = this.pageSizesPresent().map(formatSize);
    return `${this.name}: ${shape}; ${this.#valid} valid${sizes.length ? ` (${sizes.join(", ")})` : ""}`;
  }
}

function formatSize(bytes: number): string {
  if (bytes >= 2 ** 30) return `${bytes / 2 ** 30}G`;
  if (bytes >= 2 ** 20) return `${bytes / 2 ** 20}M`;
  return `${bytes / 1024}K`;
}

/** Creates an IOTLB (see {@link Iotlb} for indexing and replacement). Presets: {@link IOTLB_PRESETS}. */
export function createIotlb(options?: IotlbOptions): Iotlb {
  return new Iotlb(options);
}
