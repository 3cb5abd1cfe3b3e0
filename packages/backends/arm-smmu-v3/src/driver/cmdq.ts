/**
 * The driver's side of the command queue: commands are written into the CMDQ ring in memory and
 * published by advancing CMDQ_PROD (`arm_smmu_cmdq_issue_cmdlist`), in batches of up to 64
 * (`struct arm_smmu_cmdq_batch`, `CMDQ_BATCH_ENTRIES`) with a CMD_SYNC at the end of the last one.
 * Numbers only: the unmap path issues one batch per sync.
 */
import { buildCmdSync, CMD_BYTES, CMDQ_SYNC_CS_SEV } from "../arch/commands.js";
import { queueFull, queueIncrement, queueIndex, SMMU_CMDQ_CONS, SMMU_CMDQ_PROD } from "../arch/registers.js";

/** Register and memory access the queue needs. */
export interface CmdqIo {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  writeU32(pa: number, value: number): void;
}

/** `CMDQ_BATCH_ENTRIES` (BITS_PER_LONG). */
export const CMDQ_BATCH_ENTRIES = 64;

/** The driver's command queue. */
export interface DriverCmdq {
  /** Physical address of the ring. */
  readonly base: number;
  /** log2 of the number of entries. */
  readonly shift: number;
  /** Scratch for one batch: 4 words per command. */
  readonly batch: Uint32Array;
  /** Commands in the batch. */
  count: number;
  /** Appends the batch to the ring; with `sync`, a CMD_SYNC too, then waits for it. */
  submit(sync: boolean): void;
  /** Called when a CMD_SYNC did not complete (the queue stopped on an error nobody cleared). */
  onTimeout: (prod: number, cons: number) => void;
}

/** Creates the queue over a ring at `base` of `2^shift` entries. */
export function createDriverCmdq(io: CmdqIo, base: number, shift: number): DriverCmdq {
  let prod = 0;
  const one = new Uint32Array(4);
  const push = (words: Uint32Array, at: number): void => {
    // The model's SMMU consumes as soon as PROD moves, so space is only short if it has stopped.
    if (queueFull(prod, io.read32(SMMU_CMDQ_CONS), shift)) {
      io.write32(SMMU_CMDQ_PROD, prod);
    }
    const slot = base + queueIndex(prod, shift) * CMD_BYTES;
    io.writeU32(slot, words[at]!);
    io.writeU32(slot + 4, words[at + 1]!);
    io.writeU32(slot + 8, words[at + 2]!);
    io.writeU32(slot + 12, words[at + 3]!);
    prod = queueIncrement(prod, shift);
  };
  const q: DriverCmdq = {
    base,
    shift,
    batch: new Uint32Array(CMDQ_BATCH_ENTRIES * 4),
    count: 0,
    submit(sync) {
      for (let i = 0; i < q.count; i++) push(q.batch, 4 * i);
      q.count = 0;
      if (sync) {
        buildCmdSync(one, 0, CMDQ_SYNC_CS_SEV);
        push(one, 0);
      }
      io.write32(SMMU_CMDQ_PROD, prod);
      if (sync) {
        const cons = io.read32(SMMU_CMDQ_CONS);
        if ((cons & ((2 << shift) - 1)) !== prod) q.onTimeout(prod, cons);
      }
    },
    onTimeout: () => {},
  };
  return q;
}

/**
 * Reserves the next slot of the batch, submitting a full batch first (`arm_smmu_cmdq_batch_add`),
 * and returns its word offset in `q.batch`: the caller builds the command there.
 */
export function batchSlot(q: DriverCmdq): number {
  if (q.count === CMDQ_BATCH_ENTRIES) q.submit(false);
  return 4 * q.count++;
}

/** Adds a command built by `build(batch, at)` to the batch (not for hot paths: it takes a closure). */
export function batchAdd(q: DriverCmdq, build: (out: Uint32Array, at: number) => void): void {
  build(q.batch, batchSlot(q));
}
