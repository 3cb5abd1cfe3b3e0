import { pgsizeBitmap } from "@iommu-sim/iommu";
import { runBackendConformance } from "./conformance.js";
import { createReferenceBackend } from "./reference/reference-backend.js";

runBackendConformance("reference (ARM-like: refuses partial unmap)", () => createReferenceBackend(), {
  partialUnmap: "refuse",
});

runBackendConformance(
  "reference (x86-like: whole-page unmap, EADDRINUSE)",
  () => createReferenceBackend({ partialUnmap: "whole", overlapErrno: "EADDRINUSE" }),
  { partialUnmap: "whole" },
);

runBackendConformance(
  "reference (odd 2 KiB smallest page)",
  () => createReferenceBackend({ pgsizeBitmap: pgsizeBitmap(2048, 65536, 1 << 20) }),
  { partialUnmap: "refuse" },
);
