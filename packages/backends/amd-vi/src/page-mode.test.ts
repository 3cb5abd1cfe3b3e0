import { describe, expect, it } from "vitest";
import { amdLevelShift, amdPageModeForIas } from "./page-mode.js";

describe("AMD DTE paging mode", () => {
  it("picks the smallest mode covering the input size (21/30/39/48/57/64 bits)", () => {
    expect([21, 22, 39, 40, 48, 49, 57, 64].map(amdPageModeForIas)).toEqual([1, 2, 3, 4, 4, 5, 5, 6]);
    expect(() => amdPageModeForIas(65)).toThrowError(/65 bits/);
  });
  it("indexes level x from bit 12 + 9x", () => {
    expect([0, 1, 2, 5].map(amdLevelShift)).toEqual([12, 21, 30, 57]);
  });
});
