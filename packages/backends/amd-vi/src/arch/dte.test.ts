import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DteFields, decodeDte, dteQwords, encodeDte } from "./dte.js";

describe("DTE layout", () => {
  it("puts V, TV, Mode, root, IR, IW and DomainID where the specification does", () => {
    const words = encodeDte({
      v: true,
      tv: true,
      mode: 6,
      root: 0xf_ffff_ffff_f000,
      ir: true,
      iw: true,
      domainId: 0xbeef,
    });
    // data[0] = IW|IR (0x6<<60) | root[51:12] | Mode 6 << 9 (0xc00) | TV | V; data[1] = DomainID.
    expect(dteQwords(words)).toEqual([0x600f_ffff_ffff_fc03n, 0xbeefn, 0n, 0n]);
  });

  it("round-trips every field", () => {
    const fields = fc.record<DteFields>({
      v: fc.boolean(),
      tv: fc.boolean(),
      had: fc.integer({ min: 0, max: 3 }),
      mode: fc.integer({ min: 0, max: 7 }),
      root: fc.integer({ min: 0, max: 2 ** 40 - 1 }).map((p) => p * 4096),
      ppr: fc.boolean(),
      gv: fc.boolean(),
      glx: fc.integer({ min: 0, max: 3 }),
      ir: fc.boolean(),
      iw: fc.boolean(),
      domainId: fc.integer({ min: 0, max: 0xffff }),
      iotlb: fc.boolean(),
      se: fc.boolean(),
      sa: fc.boolean(),
      ex: fc.boolean(),
      sysMgt: fc.integer({ min: 0, max: 3 }),
      iv: fc.boolean(),
      intCtl: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fields, (f) => {
        expect(decodeDte(encodeDte(f))).toEqual(f);
      }),
    );
  });
});

describe("DTE decoding regressions", () => {
  it("decodes a root pointer with bit 31 set (signed 32-bit AND)", () => {
    expect(decodeDte(encodeDte({ v: true, root: 0x8000_0000 })).root).toBe(0x8000_0000);
  });
});
