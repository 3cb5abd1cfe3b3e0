/**
 * DMA-API benchmark workloads, run by the command-line tool's `bench` on any backend: each takes a
 * backend factory (the shape the end-to-end scenarios take) and reports host nanoseconds per
 * operation. The simulated machine runs on its virtual clock; only the measurement reads the host's.
 */
import { DmaDirection } from "../direction.js";
import { createScatterlist } from "../scatterlist.js";
import { type DmaScenarioBackendFactory, dmaScenarioMachine } from "../scenarios.js";
import type { BenchResult } from "./iova.bench-workloads.js";

const hostClock = (globalThis as unknown as { performance: { now(): number } }).performance;

/** Options of the DMA workloads. */
export interface DmaBenchOptions {
  /** Operations per timed repetition. @default 65536 for map-single, 4096 for map-sg */
  ops?: number;
  /** Timed repetitions; the best is reported. @default 3 */
  reps?: number;
}

let sink = 0n;
/** Last checksum of the DMA workloads, so their work is observable. */
export const dmaBenchSink = (): bigint => sink;

const best = (reps: number, ops: number, body: () => void): number => {
  let fastest = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t0 = hostClock.now();
    body();
    const ns = (hostClock.now() - t0) * 1e6;
    if (ns < fastest) fastest = ns;
  }
  return Math.round((fastest / ops) * 100) / 100;
};

/**
 * `dma-map-single-strict` / `dma-map-single-lazy`: one device on a DMA (strict) or DMA-FQ (lazy)
 * default domain maps and unmaps a 4 KiB buffer, `ops` times per repetition (one op = map + unmap).
 * Lazy mode on a backend without `deferred-flush` runs demoted (strict), as Linux does.
 */
export function benchDmaMapSingle(
  factory: DmaScenarioBackendFactory,
  mode: "strict" | "lazy",
  options: DmaBenchOptions = {},
): BenchResult {
  const ops = options.ops ?? 65536;
  const m = dmaScenarioMachine(factory, { strict: mode === "strict", dma: { debug: false, swiotlb: false } });
  const d = m.dma.device(m.addDevice(0));
  const buf = m.ram.alloc(4096);
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const a = d.mapSingle(buf, 4096, DmaDirection.TO_DEVICE);
      d.unmapSingle(a, 4096, DmaDirection.TO_DEVICE);
      sink ^= a;
    }
  };
  run(1024);
  const ns = best(options.reps ?? 3, ops, () => run(ops));
  return { workload: `dma-map-single-${mode}`, ops, ns_per_op: ns };
}

/**
 * `dma-map-sg`: a 64-entry scatterlist of 4 KiB pages scattered through RAM, mapped into one IOVA
 * range and unmapped, `ops` times per repetition (strict domain; one op = map_sg + unmap_sg).
 */
export function benchDmaMapSg(
  factory: DmaScenarioBackendFactory,
  options: DmaBenchOptions = {},
): BenchResult {
  const ops = options.ops ?? 4096;
  const m = dmaScenarioMachine(factory, { strict: true, dma: { debug: false, swiotlb: false } });
  const d = m.dma.device(m.addDevice(0));
  const base = m.ram.alloc(1 << 20);
  const sg = createScatterlist(
    Array.from({ length: 64 }, (_, i) => ({ paddr: base + ((i * 37) % 256) * 4096, length: 4096 })),
  );
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const count = d.mapSg(sg, 64, DmaDirection.FROM_DEVICE);
      d.unmapSg(sg, 64, DmaDirection.FROM_DEVICE);
      sink ^= BigInt(count);
    }
  };
  run(64);
  const ns = best(options.reps ?? 3, ops, () => run(ops));
  return { workload: "dma-map-sg", ops, ns_per_op: ns };
}

/** Every DMA workload by name; each takes the backend factory to run on. */
export const DMA_BENCH_WORKLOADS: Readonly<
  Record<string, (factory: DmaScenarioBackendFactory, options?: DmaBenchOptions) => BenchResult>
> = {
  "dma-map-single-strict": (f, o) => benchDmaMapSingle(f, "strict", o),
  "dma-map-single-lazy": (f, o) => benchDmaMapSingle(f, "lazy", o),
  "dma-map-sg": (f, o) => benchDmaMapSg(f, o),
};
