import { describe, expect, it } from "vitest";
import { createReferenceBackend } from "./reference/reference-backend.js";
import { runIommuWorkloads } from "./workloads.js";

describe("runIommuWorkloads", () => {
  it("reports iommu-map4k and iommu-unmap4k (small run)", () => {
    const results = runIommuWorkloads(() => createReferenceBackend(), { pages: 1024 });
    expect(results.map((r) => [r.workload, r.ops])).toEqual([
      ["iommu-map4k", 1024],
      ["iommu-unmap4k", 1024],
    ]);
    for (const r of results) expect(r.ns_per_op).toBeGreaterThan(0);
  });
});
