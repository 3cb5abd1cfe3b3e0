/**
 * What the benchmark workloads share: the result shape (one JSON line of `pnpm bench:json`, as the
 * native baseline prints it) and a host clock that works in Node and in browsers alike.
 */

/** One benchmark result: `{"workload": NAME, "ops": N, "ns_per_op": X}`. */
export interface BenchResult {
  workload: string;
  ops: number;
  ns_per_op: number;
}

const clock = (globalThis as unknown as { performance: { now(): number } }).performance;

/** Host monotonic time in nanoseconds (benchmarks time the host, never the simulated clock). */
export function benchNow(): number {
  return clock.now() * 1e6;
}

/** Rounds ns/op to two decimals for the report. */
export function nsPerOp(totalNs: number, ops: number): number {
  return Math.round((totalNs / ops) * 100) / 100;
}

/** Where workloads add their results, so the JIT cannot drop the timed loops as dead code. */
export const benchSink = { value: 0 };
