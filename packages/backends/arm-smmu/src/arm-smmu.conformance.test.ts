import { runBackendConformance } from "@iommu-sim/testkit";
import { createArmSmmu } from "./arm-smmu.js";

// Stage 1 AArch64 LPAE with 4 KiB pages, as a 64-bit kernel drives an MMU-500.
runBackendConformance("arm-smmu (stage 1, LPAE 4K)", () => createArmSmmu(), { partialUnmap: "refuse" });

// Stage 1 LPAE with a 64 KiB granule (a 64K-page kernel): 64K | 512M (| 4T with a 52-bit OAS).
runBackendConformance("arm-smmu (stage 1, LPAE 64K)", () => createArmSmmu({ granule: 65536 }), {
  partialUnmap: "refuse",
});

// Stage 2 only (arm-smmu.force_stage=2).
runBackendConformance("arm-smmu (stage 2, LPAE 4K)", () => createArmSmmu({ forceStage: 2 }), {
  partialUnmap: "refuse",
});

// ARMv7 short descriptors (a 32-bit ARM kernel): 32-bit IO addresses, 4K | 64K | 1M | 16M.
runBackendConformance("arm-smmu (stage 1, ARMv7 short descriptor)", () => createArmSmmu({ format: "v7s" }), {
  partialUnmap: "refuse",
  iovaBase: 0x1000_0000,
  paBase: 0x8000_0000,
});
