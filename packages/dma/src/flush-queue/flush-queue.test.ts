import { isIommuSimError } from "@iommu-sim/iommu";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createFlushQueue,
  type FlushQueueEffects,
  IOVA_DEFAULT_FQ_TIMEOUT_NS,
  IOVA_SINGLE_FQ_SIZE,
  IOVA_SINGLE_FQ_TIMEOUT_NS,
} from "./flush-queue.js";

const MS = 1_000_000;

/** Fake world: a clock with timers that fire only when advanced, and logs of flushes and frees. */
function world() {
  let now = 0;
  let timers: Array<{ at: number; cb: () => void }> = [];
  const log: string[] = [];
  const freed: Array<[number, number, unknown]> = [];
  const effects: FlushQueueEffects<string> = {
    flushAll: () => log.push(`flush@${now}`),
    free: (pfn, pages, list) => freed.push([pfn, pages, list]),
    now: () => now,
    setTimer: (at, cb) => {
      log.push(`timer->${at}`);
      timers.push({ at, cb });
    },
  };
  return {
    effects,
    log,
    freed,
    get timers() {
      return timers.length;
    },
    advance(ns: number) {
      const target = now + ns;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (next === undefined || next.at > target) break;
        timers = timers.slice(1);
        now = next.at;
        next.cb();
      }
      now = target;
    },
  };
}

describe("queue_iova: hand-worked", () => {
  it("256 enqueues without the timer: the 256th finds the ring full, flushes once and frees 255", () => {
    const w = world();
    const fq = createFlushQueue(w.effects, { cpus: 1 });
    for (let i = 0; i < 255; i++) fq.queueIova(1000 + i, 1, 0);
    expect(fq.depth(0)).toBe(255); // tail + 1 == head: full with one slot unused
    expect(w.freed).toHaveLength(0);
    expect(w.log).toEqual([`timer->${IOVA_DEFAULT_FQ_TIMEOUT_NS}`]); // armed once, on the first enqueue
    fq.queueIova(2000, 1, 0);
    expect(w.log).toEqual([`timer->${IOVA_DEFAULT_FQ_TIMEOUT_NS}`, "flush@0"]);
    expect(w.freed).toHaveLength(255);
    expect(w.freed[0]).toEqual([1000, 1, undefined]); // oldest first
    expect(fq.depth(0)).toBe(1);
    expect(fq.stats()).toMatchObject({
      flushes: { full: 1, timeout: 0, explicit: 0 },
      freed: 255,
      maxDepth: 255,
    });
    expect(fq.flushRecords()).toEqual([{ seq: 1, reason: "full", atNs: 0, freed: 255 }]);
    // The 256th entry was tagged after flush 1 started, so flush 1 does not cover it: the timer's does.
    w.advance(IOVA_DEFAULT_FQ_TIMEOUT_NS);
    expect(w.freed.at(-1)).toEqual([2000, 1, undefined]);
    expect(fq.flushRecords()[1]).toEqual({ seq: 2, reason: "timeout", atNs: 10 * MS, freed: 1 });
  });

  it("the timer flushes at 10 ms, frees every ring, and the next enqueue re-arms it", () => {
    const w = world();
    const fq = createFlushQueue(w.effects, { cpus: 2 });
    fq.queueIova(10, 1, 0, "pt-pages-a");
    w.advance(1 * MS);
    fq.queueIova(20, 2, 1);
    w.advance(1 * MS);
    fq.queueIova(30, 4, 0);
    expect(w.timers).toBe(1);
    w.advance(8 * MS - 1);
    expect(w.freed).toHaveLength(0);
    w.advance(1);
    expect(w.freed).toEqual([
      [10, 1, "pt-pages-a"],
      [30, 4, undefined],
      [20, 2, undefined],
    ]);
    // Stale windows: 10, 8 and 9 ms.
    expect(fq.stats().staleWindowNs).toEqual({
      count: 3,
      total: 27 * MS,
      min: 8 * MS,
      max: 10 * MS,
      mean: 9 * MS,
    });
    w.advance(5 * MS);
    fq.queueIova(40, 1, 0);
    expect(w.log.at(-1)).toBe(`timer->${25 * MS}`);
  });

  it("a full flush on one CPU covers the others' entries, released at their next enqueue", () => {
    const w = world();
    const fq = createFlushQueue(w.effects, { cpus: 2, size: 4 });
    fq.queueIova(500, 1, 1); // CPU 1, tag 0
    w.advance(2 * MS);
    for (let i = 0; i < 4; i++) fq.queueIova(i, 1, 0); // 4th on CPU 0 finds its ring full: flush 1
    expect(w.freed.map((f) => f[0])).toEqual([0, 1, 2]);
    w.advance(1 * MS);
    fq.queueIova(501, 1, 1); // CPU 1 releases 500 first: covered by flush 1 at 2 ms
    expect(w.freed.map((f) => f[0])).toEqual([0, 1, 2, 500]);
    expect(fq.flushRecords()[0]).toMatchObject({ reason: "full", atNs: 2 * MS, freed: 4 });
    expect(fq.stats().staleWindowNs.max).toBe(2 * MS);
  });

  it("the single shared queue: 32768 slots, 1 s timeout, every CPU in one ring", () => {
    const w = world();
    const fq = createFlushQueue(w.effects, { cpus: 4, single: true });
    expect([fq.size, fq.timeoutNs]).toEqual([IOVA_SINGLE_FQ_SIZE, IOVA_SINGLE_FQ_TIMEOUT_NS]);
    fq.queueIova(1, 1, 0);
    fq.queueIova(2, 1, 3);
    expect(fq.depth(2)).toBe(2);
    w.advance(IOVA_SINGLE_FQ_TIMEOUT_NS);
    expect(w.freed).toHaveLength(2);
  });

  it("explicit flush and destroy", () => {
    const w = world();
    const fq = createFlushQueue(w.effects, { cpus: 1 });
    fq.queueIova(1, 1, 0);
    fq.flush();
    expect(w.freed).toHaveLength(1);
    fq.queueIova(2, 1, 0);
    fq.destroy();
    w.advance(IOVA_DEFAULT_FQ_TIMEOUT_NS);
    expect(w.freed).toHaveLength(1); // dropped with the domain, the timer did nothing
    expect(fq.stats().flushes).toEqual({ full: 0, timeout: 0, explicit: 1 });
    expect(() => fq.queueIova(3, 1, 0)).toThrow(/destroy/);
  });

  it("rejects bad arguments with EINVAL naming the value, leaving the queue unchanged", () => {
    const w = world();
    for (const [opts, text] of [
      [{ cpus: 0 }, /cpus 0/],
      [{ cpus: 1, size: 100 }, /size 100/],
      [{ cpus: 1, timeoutNs: 0 }, /timeout 0/],
    ] as const) {
      expect(() => createFlushQueue(w.effects, opts)).toThrow(text);
    }
    const fq = createFlushQueue(w.effects, { cpus: 2 });
    fq.queueIova(7, 1, 0);
    const before = JSON.stringify([fq.stats(), fq.depth(0), fq.depth(1), w.log]);
    for (const [call, text] of [
      [() => fq.queueIova(-1, 1, 0), /pfn -1/],
      [() => fq.queueIova(1, 0, 0), /length 0/],
      [() => fq.queueIova(1, 1, 2), /CPU 2/],
    ] as const) {
      try {
        call();
        expect.unreachable();
      } catch (error) {
        expect(isIommuSimError(error) && error.code).toBe("EINVAL");
        expect((error as Error).message).toMatch(text);
      }
    }
    expect(JSON.stringify([fq.stats(), fq.depth(0), fq.depth(1), w.log])).toBe(before);
  });
});

describe("flush queue properties", () => {
  it("an entry is freed exactly once, only after a flush that started after it was queued", () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant("q" as const), cpu: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant("t" as const), ns: fc.integer({ min: 0, max: 4 * MS }) }),
      fc.record({ kind: fc.constant("f" as const) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), fc.constantFrom(2, 4, 8), (ops, size) => {
        const w = world();
        const flushTimes: number[] = [];
        const queuedAt = new Map<number, number>();
        const freedOnce = new Set<number>();
        let now = 0;
        const fq = createFlushQueue(
          {
            ...w.effects,
            flushAll: () => flushTimes.push(w.effects.now()),
            free: (pfn) => {
              expect(freedOnce.has(pfn)).toBe(false);
              freedOnce.add(pfn);
              // Some flush at or after the enqueue time has run (and the entry predates it).
              expect(flushTimes.some((t) => t >= queuedAt.get(pfn)!)).toBe(true);
            },
          },
          { cpus: 3, size },
        );
        let next = 1;
        for (const op of ops) {
          if (op.kind === "q") {
            queuedAt.set(next, now);
            fq.queueIova(next++, 1, op.cpu);
            for (let c = 0; c < 3; c++) expect(fq.depth(c)).toBeLessThan(size);
          } else if (op.kind === "t") {
            w.advance(op.ns);
            now += op.ns;
          } else {
            fq.flush();
          }
        }
        fq.flush();
        expect(freedOnce.size).toBe(next - 1);
        expect(fq.stats().pending).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
