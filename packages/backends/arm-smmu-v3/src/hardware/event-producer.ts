/**
 * The SMMU's event-queue producer: turns the translation unit's faults into 32-byte event records
 * (hw-facts 5.1) written into the EVTQ ring in memory, advances EVTQ_PROD, sets the overflow flag
 * when the ring is full (the record is lost), and marks the event interrupt pending.
 */
import type { PhysMemory, TranslationFault } from "@iommu-sim/hw";
import {
  buildEvent,
  EVT_BYTES,
  EVT_ID_ACCESS,
  EVT_ID_ADDR_SIZE,
  EVT_ID_BAD_STREAMID,
  EVT_ID_BAD_SUBSTREAMID,
  EVT_ID_PERMISSION,
  EVT_ID_STREAM_DISABLED,
  EVT_ID_TRANSLATION,
  EVTQ_CLASS_CD,
  EVTQ_CLASS_IN,
  EVTQ_CLASS_TT,
  type SmmuEventFields,
} from "../arch/events.js";
import { Q_OVERFLOW_FLAG, queueFull, queueIncrement, queueIndex } from "../arch/registers.js";
import { writeWords } from "../arch/words.js";

/** DmaAccess flag values of `@iommu-sim/hw` (READ 1, WRITE 2, EXEC 4, PRIV 8). */
const ACCESS_WRITE = 2;
const ACCESS_EXEC = 4;
const ACCESS_PRIV = 8;

/** Event-queue state the producer shares with the register file. */
export interface EventQueueState {
  /** EVTQ_BASE.ADDR. */
  base: number;
  /** EVTQ_BASE.LOG2SIZE. */
  log2size: number;
  /** EVTQ_PROD (written by the SMMU). */
  prod: number;
  /** EVTQ_CONS (written by software). */
  cons: number;
}

/** Counters of the event queue. */
export interface EventQueueStats {
  /** Records written. */
  written: number;
  /** Records lost because the queue was full or disabled. */
  lost: number;
}

/** The event ID an architecture-neutral fault becomes (`configError` for a bad-stream fault whose config fetch failed). */
export function eventIdOf(fault: TranslationFault, configError: number): number {
  switch (fault.kind) {
    case "translation":
      return EVT_ID_TRANSLATION;
    case "address-size":
      return EVT_ID_ADDR_SIZE;
    case "access-flag":
      return EVT_ID_ACCESS;
    case "permission":
      return EVT_ID_PERMISSION;
    case "bad-stream":
      return configError || EVT_ID_BAD_STREAMID;
    case "bad-substream":
      // Traffic without a SubstreamID on a stream whose S1DSS terminates it: F_STREAM_DISABLED.
      return fault.pasid < 0 ? EVT_ID_STREAM_DISABLED : EVT_ID_BAD_SUBSTREAMID;
    case "stream-disabled":
      return EVT_ID_STREAM_DISABLED;
  }
}

/** The record fields for `fault` with event ID `id`. */
export function eventFieldsOf(fault: TranslationFault, id: number): SmmuEventFields {
  const translation = id >= EVT_ID_TRANSLATION && id <= EVT_ID_PERMISSION;
  const ssv = fault.pasid >= 0;
  return {
    id,
    ssv,
    ssid: ssv ? fault.pasid : 0,
    sid: fault.stream,
    stag: 0,
    stall: false,
    privileged: translation && (fault.access & ACCESS_PRIV) !== 0,
    instruction: translation && (fault.access & ACCESS_EXEC) !== 0,
    read: translation && (fault.access & ACCESS_WRITE) === 0,
    s2: translation && fault.stage === 2,
    class: !translation
      ? 0
      : fault.class === "in"
        ? EVTQ_CLASS_IN
        : fault.class === "tt"
          ? EVTQ_CLASS_TT
          : EVTQ_CLASS_CD,
    ttRead: translation && fault.class === "tt",
    iova: translation ? fault.iova : 0,
    addr3: translation && fault.stage === 2 ? fault.ipa - (fault.ipa % 4096) : 0,
  };
}

/**
 * Writes one record into the queue. Returns false (and sets PROD.OVFLG) when the queue is full:
 * the SMMU drops the record, as the specification requires of a full event queue.
 */
export function produceEvent(
  memory: PhysMemory,
  q: EventQueueState,
  stats: EventQueueStats,
  words: Uint32Array,
): boolean {
  if (queueFull(q.prod, q.cons, q.log2size)) {
    // Overflow: make PROD.OVFLG differ from CONS.OVACKFLG until software acknowledges it.
    if ((q.prod & Q_OVERFLOW_FLAG) === (q.cons & Q_OVERFLOW_FLAG)) q.prod = (q.prod ^ Q_OVERFLOW_FLAG) >>> 0;
    stats.lost++;
    return false;
  }
  writeWords(memory, q.base + queueIndex(q.prod, q.log2size) * EVT_BYTES, words);
  q.prod = queueIncrement(q.prod, q.log2size);
  stats.written++;
  return true;
}

/** Builds and writes the record of `fault`. */
export function recordFault(
  memory: PhysMemory,
  q: EventQueueState,
  stats: EventQueueStats,
  fault: TranslationFault,
  configError: number,
  scratch: Uint32Array,
): boolean {
  buildEvent(scratch, eventFieldsOf(fault, eventIdOf(fault, configError)));
  return produceEvent(memory, q, stats, scratch);
}
