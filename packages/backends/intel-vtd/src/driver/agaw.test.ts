import { IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, isIommuSimError } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { DEFAULT_VTD_CAP } from "../options.js";
import { qwords, vtdMachine } from "../test-machine.js";
import { chooseAddressWidths } from "./agaw.js";

describe("agaw choice (__iommu_calculate_agaw, paging_domain_alloc)", () => {
  it.each([
    // [SAGAW, MGAW] -> agaw (largest supported <= width_to_agaw(57) = 3), msagaw (<= width_to_agaw(64) = 4), levels, gaw
    [0b00110, 48, { agaw: 2, msagaw: 2, levels: 4, tableWidth: 48, gaw: 48 }],
    [0b00010, 39, { agaw: 1, msagaw: 1, levels: 3, tableWidth: 39, gaw: 39 }],
    [0b01110, 57, { agaw: 3, msagaw: 3, levels: 5, tableWidth: 57, gaw: 57 }],
    [0b00100, 39, { agaw: 2, msagaw: 2, levels: 4, tableWidth: 48, gaw: 39 }], // 4-level table, 39-bit domain
    [0b01000, 48, { agaw: 3, msagaw: 3, levels: 5, tableWidth: 57, gaw: 48 }], // 5-level only
    [0b10110, 48, { agaw: 2, msagaw: 4, levels: 4, tableWidth: 48, gaw: 48 }], // bit 4 only counts for msagaw
  ])("SAGAW %s, MGAW %i", (sagaw, mgaw, want) => {
    expect(chooseAddressWidths(sagaw, mgaw)).toEqual(want);
  });

  it("finds no agaw when only the obsolete 2-level AGAW is supported", () => {
    expect(chooseAddressWidths(0b00001, 30)).toBeUndefined();
  });

  it("programs AW and the aperture from the choice", () => {
    const cap39 = (DEFAULT_VTD_CAP & ~((0x1fn << 8n) | (0x3fn << 16n))) | (0b00110n << 8n) | (38n << 16n);
    const m = vtdMachine({ cap: cap39 });
    const dev = m.add(3, 0);
    // 4-level table (AW 2), but MGAW 39 bounds the domain.
    expect(qwords(m.vtd, m.vtd.contextEntryAddress(0x300)!)[1] & 7n).toBe(2n);
    const domain = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    expect(domain.geometry?.apertureEnd).toBe(2n ** 39n - 1n);
    let code: string | undefined;
    try {
      m.core.map(domain, 2 ** 39, 0x8000_0000, 0x1000, IOMMU_READ);
    } catch (error) {
      code = isIommuSimError(error) ? error.code : String(error);
    }
    expect(code).toBeDefined();

    const m57 = vtdMachine({ addressWidth: 57 });
    m57.add(3, 0);
    expect(qwords(m57.vtd, m57.vtd.contextEntryAddress(0x300)!)[1] & 7n).toBe(3n);
    expect(m57.vtd.widths.levels).toBe(5);
  });
});
