/**
 * How Linux's intel-iommu chooses address widths (`__iommu_calculate_agaw`, `paging_domain_alloc` in
 * `drivers/iommu/intel/iommu.c`): the unit's AGAW is the largest AGAW its CAP.SAGAW supports at or
 * below `width_to_agaw(57)` (DEFAULT_DOMAIN_ADDRESS_WIDTH); the largest at or below
 * `width_to_agaw(64)` (MAX_AGAW_WIDTH) is `msagaw`, written in pass-through context entries. A
 * domain's table has `agaw_to_level(agaw)` levels and its guest address width is
 * `min(agaw_to_width(agaw), MGAW)`.
 */
import { agawToLevel, agawToWidth, widthToAgaw } from "../capability.js";

/** `DEFAULT_DOMAIN_ADDRESS_WIDTH`. */
export const DEFAULT_DOMAIN_ADDRESS_WIDTH = 57;
/** `MAX_AGAW_WIDTH`. */
export const MAX_AGAW_WIDTH = 64;

/** The largest AGAW set in `sagaw` at or below `width_to_agaw(maxGaw)`, or -1 when none is. */
export function calculateAgaw(sagaw: number, maxGaw: number): number {
  for (let agaw = widthToAgaw(maxGaw); agaw >= 0; agaw--) if ((sagaw >> agaw) & 1) return agaw;
  return -1;
}

/** The address widths a unit's domains get. */
export interface VtdAddressWidths {
  /** `iommu->agaw`: AGAW of second-stage tables (1 = 3 levels, 2 = 4, 3 = 5). */
  readonly agaw: number;
  /** `iommu->msagaw`: largest supported AGAW, the AW of pass-through context entries. */
  readonly msagaw: number;
  /** Table levels (`agaw_to_level`). */
  readonly levels: number;
  /** Table input width in bits (`agaw_to_width`). */
  readonly tableWidth: number;
  /** `domain->gaw`: the domain aperture's width, `min(agaw_to_width(agaw), MGAW)`. */
  readonly gaw: number;
}

/** The widths Linux derives from CAP.SAGAW and CAP.MGAW; `undefined` when no AGAW fits (init fails). */
export function chooseAddressWidths(sagaw: number, mgaw: number): VtdAddressWidths | undefined {
  const agaw = calculateAgaw(sagaw, DEFAULT_DOMAIN_ADDRESS_WIDTH);
  const msagaw = calculateAgaw(sagaw, MAX_AGAW_WIDTH);
  // AGAW 0 (2-level, 30-bit) is obsolete; the table formats start at 3 levels.
  if (agaw < 1) return undefined;
  const tableWidth = agawToWidth(agaw);
  return { agaw, msagaw, levels: agawToLevel(agaw), tableWidth, gaw: Math.min(tableWidth, mgaw) };
}
