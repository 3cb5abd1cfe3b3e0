import { describe, expect, it } from "vitest";
import { errno, referenceFactory } from "../test-machine.js";
import { VFIO_BENCH_WORKLOADS } from "./vfio.bench-workloads.js";

describe("VFIO benchmark workloads run on a backend factory", () => {
  it.each(Object.keys(VFIO_BENCH_WORKLOADS))("%s (16 MiB)", (name) => {
    const r = VFIO_BENCH_WORKLOADS[name]!(referenceFactory(), { size: 16 << 20, reps: 1 });
    expect(r.workload).toBe(name);
    expect(r.ops).toBe(1);
    expect(r.ns_per_op).toBeGreaterThan(0);
  });

  it("vfio-map-1g-2m refuses a backend without 2 MiB pages", () => {
    const run = () =>
      VFIO_BENCH_WORKLOADS["vfio-map-1g-2m"]!(referenceFactory({ pgsizeBitmap: 0x1000 }), { size: 4 << 20 });
    expect(errno(run)).toBe("EOPNOTSUPP");
  });
});
