import { VFIO_BENCH_WORKLOADS } from "@iommu-sim/vfio";
import { it } from "vitest";
import { E2E_BACKENDS } from "./backends.js";

it("bench", () => {
  for (const [name, make] of E2E_BACKENDS) {
    for (const w of Object.keys(VFIO_BENCH_WORKLOADS)) {
      try {
        const r = VFIO_BENCH_WORKLOADS[w]!(make, { reps: 2 });
        console.log(name, JSON.stringify(r));
      } catch (e) {
        console.log(name, w, String(e).slice(0, 200));
      }
    }
  }
}, 600_000);
