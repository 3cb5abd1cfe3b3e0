/**
 * The event-log producer: the hardware side of the event log ring in system memory. Entries go at
 * the tail; the log is full when advancing the tail would reach the head (one slot stays empty).
 * On a full log the IOMMU sets EventOverflow, stops logging (EventLogRun = 0) and drops events
 * until software disables and re-enables EventLogEn (Linux `amd_iommu_restart_event_logging`).
 */
import type { PhysMemory } from "@iommu-sim/hw";
import {
  MMIO_STATUS_EVT_INT,
  MMIO_STATUS_EVT_OVERFLOW,
  MMIO_STATUS_EVT_RUN,
  RING_ENTRY_BYTES,
} from "../arch/registers.js";
import { type AmdViRegisterFile, eventLogEnabled } from "./register-file.js";

/** Counters of the event log. */
export interface EventLogStats {
  /** Entries written to memory. */
  written: number;
  /** Events lost: log disabled, not running, or full. */
  dropped: number;
  /** Times the log overflowed (EventOverflow set). */
  overflows: number;
}

/** The producer. */
export interface EventLogProducer {
  readonly stats: EventLogStats;
  /**
   * Writes one 16-byte entry. Returns true when it reached memory. Sets EventLogInt, or on a full
   * log EventOverflow; `signal` is called when either bit becomes set so the interrupt can be raised.
   */
  log(entry: Uint8Array): boolean;
}

/** Creates the producer over the register file and memory. */
export function createEventLogProducer(
  regs: AmdViRegisterFile,
  memory: PhysMemory,
  signal: () => void,
): EventLogProducer {
  const stats: EventLogStats = { written: 0, dropped: 0, overflows: 0 };
  return {
    stats,
    log(entry) {
      if (!eventLogEnabled(regs) || (regs.status & MMIO_STATUS_EVT_RUN) === 0 || regs.evtBytes === 0) {
        stats.dropped++;
        return false;
      }
      const next = (regs.evtTail + RING_ENTRY_BYTES) % regs.evtBytes;
      if (next === regs.evtHead) {
        stats.dropped++;
        stats.overflows++;
        regs.status = (regs.status | MMIO_STATUS_EVT_OVERFLOW) & ~MMIO_STATUS_EVT_RUN;
        signal();
        return false;
      }
      memory.write(regs.evtBase + regs.evtTail, entry);
      regs.evtTail = next;
      stats.written++;
      regs.status |= MMIO_STATUS_EVT_INT;
      signal();
      return true;
    },
  };
}
