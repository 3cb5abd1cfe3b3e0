import { describe, expect, it } from "vitest";
import { LAZY_CAPS, referenceFactory } from "../test-machine.js";
import { DMA_BENCH_WORKLOADS } from "./dma.bench-workloads.js";

describe("DMA benchmark workloads run on a backend factory", () => {
  it.each(Object.keys(DMA_BENCH_WORKLOADS))("%s", (name) => {
    const r = DMA_BENCH_WORKLOADS[name]!(referenceFactory({ caps: LAZY_CAPS }), { ops: 64, reps: 1 });
    expect(r.workload).toBe(name);
    expect(r.ops).toBe(64);
    expect(r.ns_per_op).toBeGreaterThan(0);
  });
});
