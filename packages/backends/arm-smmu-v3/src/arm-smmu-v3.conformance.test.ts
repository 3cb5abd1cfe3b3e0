import { runBackendConformance } from "@iommu-sim/testkit";
import { createArmSmmuV3 } from "./backend.js";

runBackendConformance("arm-smmu-v3", () => createArmSmmuV3(), { partialUnmap: "refuse" });
runBackendConformance(
  "arm-smmu-v3 stage 2, no RIL, linear stream table",
  () => createArmSmmuV3({ stage: 2, rangeInvalidation: false, streamTable: "linear" }),
  { partialUnmap: "refuse" },
);
