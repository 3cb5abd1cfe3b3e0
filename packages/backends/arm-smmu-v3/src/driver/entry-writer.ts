/**
 * The driver's update of a live STE or CD: Linux's `arm_smmu_write_entry()` (v6.9+). It compares
 * the bits the current and the target entry use (`arm_smmu_get_ste_used` / `arm_smmu_get_cd_used`)
 * and either updates hitlessly (one "critical" qword changes among the used bits: write the unused
 * bits, sync, the critical qword, sync, the rest, sync) or breaks the entry (clear V, sync, write
 * qwords 1..N, sync, qword 0, sync). Each sync is a CFGI + CMD_SYNC, so the SMMU never caches a torn
 * entry. Qwords are pairs of 32-bit words.
 */
import { getField } from "../arch/words.js";

/** How one kind of entry (STE or CD) is read, written and synced. */
export interface EntryWriterOps {
  /** Number of 64-bit qwords (8 for both). */
  readonly qwords: number;
  /** Fills `used` (2 words per qword) with the bits the hardware reads in `entry`. */
  getUsed(entry: Uint32Array, used: Uint32Array): void;
  /** Makes the hardware drop its cached copy (CFGI_STE / CFGI_CD + CMD_SYNC). */
  sync(): void;
  /** Writes qword `q` of `values` to memory (one `WRITE_ONCE` of 64 bits). */
  writeQword(q: number, lo: number, hi: number): void;
}

/**
 * Moves the entry in memory (whose current content is `entry`, updated in place) to `target`,
 * as `arm_smmu_write_entry()` does.
 */
export function writeEntry(ops: EntryWriterOps, entry: Uint32Array, target: Uint32Array): void {
  const n = ops.qwords;
  const curUsed = new Uint32Array(2 * n);
  const targetUsed = new Uint32Array(2 * n);
  const unusedUpdate = new Uint32Array(2 * n);
  ops.getUsed(entry, curUsed);
  ops.getUsed(target, targetUsed);
  // Bits the current entry does not use can take their target value at once.
  let diff = 0;
  for (let w = 0; w < 2 * n; w++) {
    unusedUpdate[w] = ((entry[w]! & curUsed[w]!) | (target[w]! & ~curUsed[w]!)) >>> 0;
    if ((unusedUpdate[w]! & targetUsed[w]!) >>> 0 !== target[w]!) diff |= 1 << (w >> 1);
  }
  const set = (src: Uint32Array, start: number, len: number): void => {
    let changed = false;
    for (let q = start; q < start + len; q++) {
      if (entry[2 * q] !== src[2 * q] || entry[2 * q + 1] !== src[2 * q + 1]) {
        entry[2 * q] = src[2 * q]!;
        entry[2 * q + 1] = src[2 * q + 1]!;
        ops.writeQword(q, entry[2 * q]!, entry[2 * q + 1]!);
        changed = true;
      }
    }
    if (changed) ops.sync();
  };
  const bits = popcount(diff);
  if (bits === 1) {
    // Hitless: only one used qword changes, and the hardware reads it atomically.
    const critical = 31 - Math.clz32(diff);
    unusedUpdate[2 * critical] = entry[2 * critical]!;
    unusedUpdate[2 * critical + 1] = entry[2 * critical + 1]!;
    set(unusedUpdate, 0, n);
    set(target, critical, 1);
    set(target, 0, n);
  } else if (bits > 1) {
    // Breaking: make the entry invalid (V = 0) first, then fill it, then validate it.
    unusedUpdate[0] = (entry[0]! & ~1) >>> 0;
    unusedUpdate[1] = entry[1]!;
    set(unusedUpdate, 0, 1);
    set(target, 1, n - 1);
    set(target, 0, 1);
  } else {
    set(target, 0, n);
  }
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
}

/** True when bit 0 (V) of `entry` is set. */
export function entryValid(entry: Uint32Array): boolean {
  return getField(entry, 0, 0, 0) === 1;
}
