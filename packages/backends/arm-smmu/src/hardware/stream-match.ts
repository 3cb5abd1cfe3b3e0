/**
 * Stream matching: which stream match register (SMR) an incoming StreamID selects. An SMR matches
 * when it is valid and the StreamID equals its ID in every bit its MASK does not ignore
 * (`(sid ^ id) & ~mask & 0x7fff == 0`). SMMU architecture 2.0 calls two or more matches a stream
 * match conflict (sGFSR.SMCF); Linux's `arm_smmu_find_sme()` never programs overlapping SMRs.
 *
 * @module
 */
import { SMR } from "./registers.js";

/** No SMR matched: an unidentified stream (sGFSR.USF when sCR0.USFCFG = 1, else bypass). */
export const NO_MATCH = -1;
/** More than one SMR matched: a stream match conflict (sGFSR.SMCF). */
export const MATCH_CONFLICT = -2;

/** The SMR index `sid` matches in `smrs` (raw register values), {@link NO_MATCH} or {@link MATCH_CONFLICT}. */
export function matchStream(smrs: ArrayLike<number>, count: number, sid: number): number {
  let found = NO_MATCH;
  for (let i = 0; i < count; i++) {
    const smr = smrs[i]!;
    if (smr < SMR.VALID) continue; // VALID is bit 31 of an unsigned value
    const id = smr & SMR.ID_MASK;
    const mask = (smr >>> SMR.MASK_SHIFT) & SMR.MASK_MASK;
    if (((sid ^ id) & ~mask & SMR.MASK_MASK) !== 0) continue;
    if (found !== NO_MATCH) return MATCH_CONFLICT;
    found = i;
  }
  return found;
}
