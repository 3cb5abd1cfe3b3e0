import { runBackendConformance } from "@iommu-sim/testkit";
import { createAmdVi } from "./backend.js";

runBackendConformance("amd-vi", () => createAmdVi(), {
  partialUnmap: "whole",
  overlapErrnos: ["EADDRINUSE"],
});

runBackendConformance(
  "amd-vi (eager commands, no IOTLB)",
  () => createAmdVi({ commandTiming: "eager", iotlb: false }),
  {
    partialUnmap: "whole",
  },
);
