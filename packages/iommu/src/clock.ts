/**
 * The machine's deterministic virtual clock: nanoseconds that advance only when told to, and timers
 * that fire in due order as it advances. Flush-queue timeouts and latency models use it; nothing in
 * iommu-sim reads the wall clock.
 */
import { IommuError } from "./errors.js";

/** A pending timer, as returned by {@link VirtualClock.setTimer}. */
export interface TimerHandle {
  /** Virtual time (ns) at which it fires. */
  readonly due: number;
}

/** The virtual clock of a machine. */
export interface VirtualClock {
  /** Current virtual time in nanoseconds (starts at 0). */
  now(): number;
  /** Moves time forward by `ns`, firing every timer due on the way, each at its due time, in order. */
  advance(ns: number): void;
  /** Calls `callback` once `delayNs` nanoseconds from now (0 = at the next `advance`, even by 0). */
  setTimer(delayNs: number, callback: () => void): TimerHandle;
  /** Cancels a pending timer; returns false if it already fired or was cancelled. Models `del_timer()`. */
  cancelTimer(handle: TimerHandle): boolean;
  /** Timers not yet fired. */
  readonly pendingTimers: number;
}

interface Timer extends TimerHandle {
  readonly seq: number;
  readonly callback: () => void;
}

function checkNs(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new IommuError("EINVAL", `${what} ${String(value)} is not a non-negative integer number of ns`);
  }
}

/** Creates a virtual clock at time 0. */
export function createVirtualClock(): VirtualClock {
  let now = 0;
  let seq = 0;
  // Sorted by (due, seq): timers are few (flush queues, one per domain), so insertion is cheap.
  const timers: Timer[] = [];

  const insert = (timer: Timer): void => {
    let i = timers.length;
    while (i > 0 && timers[i - 1]!.due > timer.due) i--;
    timers.splice(i, 0, timer);
  };

  return {
    now: () => now,
    advance(ns) {
      checkNs(ns, "advance");
      const target = now + ns;
      for (;;) {
        const first = timers[0];
        if (first === undefined || first.due > target) break;
        timers.shift();
        now = first.due;
        first.callback();
      }
      now = target;
    },
    setTimer(delayNs, callback) {
      checkNs(delayNs, "timer delay");
      const timer: Timer = { due: now + delayNs, seq: seq++, callback };
      insert(timer);
      return timer;
    },
    cancelTimer(handle) {
      const i = timers.indexOf(handle as Timer);
      if (i < 0) return false;
      timers.splice(i, 1);
      return true;
    },
    get pendingTimers() {
      return timers.length;
    },
  };
}
