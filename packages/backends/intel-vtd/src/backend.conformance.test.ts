import { runBackendConformance } from "@iommu-sim/testkit";
import { createIntelVtd } from "./backend.js";
import { DEFAULT_VTD_CAP } from "./options.js";

runBackendConformance("intel-vtd", () => createIntelVtd(), { partialUnmap: "whole" });

// 5-level tables, Caching Mode (flushes on map, cached not-present contexts), no PSI (DSI only).
runBackendConformance(
  "intel-vtd (57-bit, caching mode, no PSI)",
  () => createIntelVtd({ addressWidth: 57, cap: (DEFAULT_VTD_CAP | (1n << 7n)) & ~(1n << 39n) }),
  { partialUnmap: "whole" },
);

// Scalable mode: PASID tables, RID_PASID entries; second stage by default, first stage on request.
runBackendConformance("intel-vtd (scalable mode)", () => createIntelVtd({ scalableMode: true }), {
  partialUnmap: "whole",
});
runBackendConformance(
  "intel-vtd (scalable mode, first stage)",
  () => createIntelVtd({ scalableMode: true, firstStage: true }),
  { partialUnmap: "whole" },
);
