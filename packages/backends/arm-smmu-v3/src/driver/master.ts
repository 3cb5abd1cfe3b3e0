/**
 * A device the driver took on (`struct arm_smmu_master`): its StreamIDs, its CD table (allocated
 * on the first stage-1 attach, freed at release) and the domain its STEs point at.
 */
import type { IommuDevice } from "@iommu-sim/iommu";
import type { SmmuDomain } from "./domain.js";

/** A master. */
export interface SmmuMaster {
  readonly device: IommuDevice;
  /** StreamIDs from the firmware specifier, duplicates removed. */
  readonly sids: readonly number[];
  /** Physical address of the master's CD table (one linear CD: no PASID support), -1 before the first S1 attach. */
  cdTable: number;
  /** The domain attached in the hardware, if any. */
  domain: SmmuDomain | undefined;
}
