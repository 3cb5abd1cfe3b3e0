import { describe, expect, it } from "vitest";
import { MATCH_CONFLICT, matchStream, NO_MATCH } from "./stream-match.js";

// SMR = VALID[31] | MASK[30:16] | ID[15:0].
const smr = (id: number, mask = 0, valid = true) => ((valid ? 2 ** 31 : 0) + mask * 0x1_0000 + id) >>> 0;

describe("SMR stream matching", () => {
  it("matches the ID exactly when MASK is 0", () => {
    const smrs = Uint32Array.from([smr(0x42), smr(0x43)]);
    expect(matchStream(smrs, 2, 0x43)).toBe(1);
    expect(matchStream(smrs, 2, 0x44)).toBe(NO_MATCH);
  });
  it("ignores the StreamID bits MASK sets: (sid ^ id) & ~mask == 0", () => {
    const smrs = Uint32Array.from([smr(0x100, 0xff)]);
    expect(matchStream(smrs, 1, 0x1ab)).toBe(0);
    expect(matchStream(smrs, 1, 0x2ab)).toBe(NO_MATCH);
  });
  it("skips SMRs without VALID and those beyond the count", () => {
    const smrs = Uint32Array.from([smr(0x42, 0, false), smr(0x7), smr(0x42)]);
    expect(matchStream(smrs, 2, 0x42)).toBe(NO_MATCH);
    expect(matchStream(smrs, 3, 0x42)).toBe(2);
  });
  it("reports two matching SMRs as a stream match conflict (sGFSR.SMCF)", () => {
    const smrs = Uint32Array.from([smr(0x40, 0xf), smr(0x42)]);
    expect(matchStream(smrs, 2, 0x42)).toBe(MATCH_CONFLICT);
    expect(matchStream(smrs, 2, 0x41)).toBe(0);
  });
});
