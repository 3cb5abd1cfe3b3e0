/**
 * The flush queue of dma-iommu's lazy (DMA_FQ) domains (`queue_iova()`, `fq_ring_free()`,
 * `fq_flush_timeout()` in drivers/iommu/dma-iommu.c): unmapped IOVAs are not reused until an
 * IOTLB flush of the whole domain that started after they were queued has finished. Entries wait in
 * per-CPU rings (or one shared ring), tagged with the flush-start counter at enqueue; a full ring
 * forces a synchronous flush, and one timer per domain flushes everything after a timeout.
 *
 * The effects (flushing the IOTLB, freeing an IOVA, time and timers) are callbacks, so the DMA layer
 * can wire them to the IOMMU core and its virtual clock.
 */
import { IommuError } from "@iommu-sim/iommu";

/** `IOVA_DEFAULT_FQ_SIZE`: entries per per-CPU ring (one slot stays empty, so 255 usable). */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** `IOVA_DEFAULT_FQ_TIMEOUT`: 10 ms, in ns. */
export const IOVA_DEFAULT_FQ_TIMEOUT_NS = 10_000_000;
/** `IOVA_SINGLE_FQ_SIZE`: entries of the single shared ring (drivers that shadow page tables). */
export const IOVA_SINGLE_FQ_SIZE = 32768;
/** `IOVA_SINGLE_FQ_TIMEOUT`: 1000 ms, in ns. */
export const IOVA_SINGLE_FQ_TIMEOUT_NS = 1_000_000_000;

/** Why a flush happened. */
export type FlushReason = "full" | "timeout" | "explicit";

/** What the queue does to the world; the DMA layer implements these over the IOMMU core. */
export interface FlushQueueEffects<T = undefined> {
  /** `flush_iotlb_all` of the domain; synchronous (it has finished when it returns). */
  flushAll(): void;
  /** Releases an IOVA range whose stale IOTLB entries are gone (`free_iova_fast`), and its freelist. */
  free(iovaPfn: number, pages: number, freelist: T | undefined): void;
  /** Current virtual time in ns. */
  now(): number;
  /** Calls `callback` at virtual time `atNs`; the queue arms at most one timer at a time. */
  setTimer(atNs: number, callback: () => void): void;
}

/** Options of {@link createFlushQueue} (`struct iommu_dma_options`). */
export interface FlushQueueOptions {
  /** Number of CPUs (rings in per-CPU mode; valid `cpu` arguments in both modes). */
  cpus: number;
  /** One ring shared by all CPUs (`IOMMU_DMA_OPTS_SINGLE_QUEUE`). @default false */
  single?: boolean;
  /** Ring size, a power of two >= 2. @default 256, or 32768 when `single` */
  size?: number;
  /** Timer delay in ns. @default 10 ms, or 1000 ms when `single` */
  timeoutNs?: number;
}

/** One flush, as recorded by the queue. */
export interface FlushRecord {
  /** 1-based sequence number (the value of the flush-start counter it set). */
  readonly seq: number;
  readonly reason: FlushReason;
  /** Virtual time at which it ran. */
  readonly atNs: number;
  /** Entries released because of it so far (some are released later, by the next enqueue on their CPU). */
  readonly freed: number;
}

/** Counters of a flush queue. */
export interface FlushQueueStats {
  readonly flushes: { readonly full: number; readonly timeout: number; readonly explicit: number };
  readonly queued: number;
  readonly freed: number;
  /** Entries waiting in all rings. */
  readonly pending: number;
  /** Deepest any ring has been after an enqueue. */
  readonly maxDepth: number;
  /**
   * Time from an entry's enqueue to the flush that covered it: how long a device could still reach
   * the unmapped IOVA through a stale IOTLB entry. Over released entries only.
   */
  readonly staleWindowNs: {
    readonly count: number;
    readonly total: number;
    readonly min: number;
    readonly max: number;
    readonly mean: number;
  };
}

/** A domain's flush queue, made by {@link createFlushQueue}. */
export interface FlushQueue<T = undefined> {
  /** Ring size. */
  readonly size: number;
  /** Timer delay in ns. */
  readonly timeoutNs: number;
  /** Whether all CPUs share one ring. */
  readonly single: boolean;
  /**
   * `queue_iova()`: defers freeing `pages` granules at `iovaPfn` (and `freelist`) until a flush.
   * First releases what a finished flush covers; if the ring is still full, flushes synchronously
   * and releases again; then appends and arms the timer if it is not armed.
   * @throws IommuError EINVAL if a value is not a non-negative integer (pages: positive) or `cpu` is
   *   out of range; EINVAL after {@link destroy}.
   */
  queueIova(iovaPfn: number, pages: number, cpu: number, freelist?: T): void;
  /** Flushes the IOTLB and releases every covered entry on every ring (a flush the caller asks for). */
  flush(): void;
  /**
   * `iommu_dma_free_fq()`: the domain is going away. Pending entries are dropped without calls to
   * `free` (the whole IOVA domain is freed with them) and a pending timer does nothing.
   */
  destroy(): void;
  /** Entries waiting in `cpu`'s ring (the shared ring when `single`). */
  depth(cpu: number): number;
  /** Counters. */
  stats(): FlushQueueStats;
  /** Every flush so far, oldest first. */
  flushRecords(): FlushRecord[];
}

const REASONS: readonly FlushReason[] = ["full", "timeout", "explicit"];

/**
 * Creates a flush queue (`iommu_dma_init_fq()`): empty rings, both flush counters 0, timer off.
 * @throws IommuError EINVAL if `cpus` is not a positive integer, `size` not a power of two >= 2, or
 *   `timeoutNs` not a positive integer.
 */
export function createFlushQueue<T = undefined>(
  effects: FlushQueueEffects<T>,
  options: FlushQueueOptions,
): FlushQueue<T> {
  const { cpus } = options;
  const single = options.single ?? false;
  const size = options.size ?? (single ? IOVA_SINGLE_FQ_SIZE : IOVA_DEFAULT_FQ_SIZE);
  const timeoutNs = options.timeoutNs ?? (single ? IOVA_SINGLE_FQ_TIMEOUT_NS : IOVA_DEFAULT_FQ_TIMEOUT_NS);
  if (!Number.isSafeInteger(cpus) || cpus <= 0) {
    throw new IommuError("EINVAL", `flush queue cpus ${String(cpus)} is not a positive integer`);
  }
  if (!Number.isSafeInteger(size) || size < 2 || size > 2 ** 30 || (size & (size - 1)) !== 0) {
    throw new IommuError("EINVAL", `flush queue size ${String(size)} is not a power of two >= 2`);
  }
  if (!Number.isSafeInteger(timeoutNs) || timeoutNs <= 0) {
    throw new IommuError("EINVAL", `flush queue timeout ${String(timeoutNs)} ns is not a positive integer`);
  }
  const mask = size - 1;
  const rings = single ? 1 : cpus;
  // Ring r's slot i lives at r * size + i.
  const pfn = new Float64Array(rings * size);
  const pages = new Float64Array(rings * size);
  const counter = new Float64Array(rings * size);
  const queuedAt = new Float64Array(rings * size);
  const freelists: Array<T | undefined> = [];
  const head = new Int32Array(rings);
  const tail = new Int32Array(rings);

  let flushStartCnt = 0;
  let flushFinishCnt = 0;
  let timerOn = false;
  let destroyed = false;

  // Per flush (index seq - 1).
  const flushReason: number[] = [];
  const flushAt: number[] = [];
  const flushFreed: number[] = [];
  const byReason = [0, 0, 0];
  let queued = 0;
  let freed = 0;
  let pending = 0;
  let maxDepth = 0;
  let staleCount = 0;
  let staleTotal = 0;
  let staleMin = Infinity;
  let staleMax = 0;

  /** `fq_flush_iotlb()`. */
  const flushIotlb = (reason: number): void => {
    flushStartCnt++;
    flushReason.push(reason);
    flushAt.push(effects.now());
    flushFreed.push(0);
    byReason[reason]!++;
    effects.flushAll();
    flushFinishCnt++;
  };

  /** `fq_ring_free_locked()`: release entries, oldest first, while a finished flush covers them. */
  const ringFree = (r: number): void => {
    const base = r * size;
    const finished = flushFinishCnt;
    let idx = head[r]!;
    const end = tail[r]!;
    while (idx !== end) {
      const slot = base + idx;
      const tag = counter[slot]!;
      if (tag >= finished) break;
      // The first flush to start after the enqueue (number tag + 1) is the one that covered it.
      const window = flushAt[tag]! - queuedAt[slot]!;
      staleCount++;
      staleTotal += window;
      if (window < staleMin) staleMin = window;
      if (window > staleMax) staleMax = window;
      flushFreed[tag]!++;
      freed++;
      pending--;
      const list = freelists[slot];
      freelists[slot] = undefined;
      idx = (idx + 1) & mask;
      head[r] = idx;
      effects.free(pfn[slot]!, pages[slot]!, list);
    }
  };

  const onTimer = (): void => {
    if (destroyed) return;
    timerOn = false;
    flushIotlb(1);
    for (let r = 0; r < rings; r++) ringFree(r);
  };

  const checkCpu = (cpu: number): void => {
    if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu >= cpus) {
      throw new IommuError("EINVAL", `CPU ${String(cpu)} is not one of the ${cpus} CPUs`);
    }
  };
  const checkAlive = (): void => {
    if (destroyed) throw new IommuError("EINVAL", "flush queue used after destroy()");
  };

  return {
    size,
    timeoutNs,
    single,
    queueIova(iovaPfn, n, cpu, freelist) {
      checkAlive();
      if (!Number.isSafeInteger(iovaPfn) || iovaPfn < 0) {
        throw new IommuError("EINVAL", `queued IOVA pfn ${String(iovaPfn)} is not a non-negative integer`);
      }
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new IommuError("EINVAL", `queued IOVA length ${String(n)} is not a positive integer`);
      }
      checkCpu(cpu);
      const r = single ? 0 : cpu;
      ringFree(r);
      if (((tail[r]! + 1) & mask) === head[r]) {
        flushIotlb(0);
        ringFree(r);
      }
      const idx = tail[r]!;
      const slot = r * size + idx;
      tail[r] = (idx + 1) & mask;
      pfn[slot] = iovaPfn;
      pages[slot] = n;
      counter[slot] = flushStartCnt;
      queuedAt[slot] = effects.now();
      if (freelist !== undefined) freelists[slot] = freelist;
      queued++;
      pending++;
      const depth = (tail[r]! - head[r]!) & mask;
      if (depth > maxDepth) maxDepth = depth;
      if (!timerOn) {
        timerOn = true;
        effects.setTimer(effects.now() + timeoutNs, onTimer);
      }
    },
    flush() {
      checkAlive();
      flushIotlb(2);
      for (let r = 0; r < rings; r++) ringFree(r);
    },
    destroy() {
      destroyed = true;
      pending = 0;
      freelists.length = 0;
    },
    depth(cpu) {
      checkCpu(cpu);
      const r = single ? 0 : cpu;
      return (tail[r]! - head[r]!) & mask;
    },
    stats() {
      return {
        flushes: { full: byReason[0]!, timeout: byReason[1]!, explicit: byReason[2]! },
        queued,
        freed,
        pending,
        maxDepth,
        staleWindowNs: {
          count: staleCount,
          total: staleTotal,
          min: staleCount === 0 ? 0 : staleMin,
          max: staleMax,
          mean: staleCount === 0 ? 0 : staleTotal / staleCount,
        },
      };
    },
    flushRecords() {
      return flushReason.map((reason, i) => ({
        seq: i + 1,
        reason: REASONS[reason]!,
        atNs: flushAt[i]!,
        freed: flushFreed[i]!,
      }));
    },
  };
}
