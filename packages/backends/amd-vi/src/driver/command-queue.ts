/**
 * The driver side of the command buffer: copies 16-byte commands to the ring in memory at the tail
 * and writes the tail register (`copy_cmd_to_buffer`, `__iommu_queue_command_sync`), and waits for
 * completion with a COMPLETION_WAIT that stores an increasing sequence number to a semaphore in
 * memory (`amd_iommu_completion_wait`, `wait_on_sem`), only when a command was queued since the last
 * wait (`need_sync`).
 */
import { encodeAmdCommand, type PhysMemory } from "@iommu-sim/hw";
import { IommuError } from "@iommu-sim/iommu";
import { MMIO_CMD_HEAD_OFFSET, MMIO_CMD_TAIL_OFFSET, RING_ENTRY_BYTES } from "../arch/registers.js";
import type { MmioAccess } from "./mmio.js";

/** The queue. */
export interface CommandQueue {
  /** Appends a command and moves the tail; marks that a completion wait is needed. `EIO` when full. */
  queue(command: Uint8Array): void;
  /** Queues COMPLETION_WAIT and checks the semaphore; no-op when nothing was queued. `EIO` on timeout. */
  completionWait(): void;
  /** Commands queued since creation (including completion waits). */
  readonly queued: number;
}

/** Creates the queue over a ring of `bytes` at `base` and an 8-byte semaphore at `semaphore`. */
export function createCommandQueue(options: {
  memory: PhysMemory;
  mmio: MmioAccess;
  base: number;
  bytes: number;
  semaphore: number;
  name: string;
}): CommandQueue {
  const { memory, mmio, base, bytes, semaphore, name } = options;
  let tail = 0;
  let head = 0;
  let needSync = false;
  let sequence = 0n;
  let queued = 0;

  const push = (command: Uint8Array, sync: boolean): void => {
    const next = (tail + RING_ENTRY_BYTES) % bytes;
    // Linux keeps more than 0x20 bytes free and re-reads the head only when short of room.
    const left = () => (((head - next) % bytes) + bytes) % bytes;
    if (left() <= 0x20) {
      head = Number(mmio.read(MMIO_CMD_HEAD_OFFSET));
      if (left() <= 0x20) throw new IommuError("EIO", `${name}: AMD-Vi: Command buffer timeout`);
    }
    // Copied as aligned u32 words: memory.write builds two array views per call, which cost more
    // than the 16-byte command itself on every strict unmap.
    for (let i = 0; i < RING_ENTRY_BYTES; i += 4) {
      memory.writeU32(
        base + tail + i,
        command[i]! | (command[i + 1]! << 8) | (command[i + 2]! << 16) | (command[i + 3]! << 24),
      );
    }
    tail = next;
    queued++;
    mmio.write(MMIO_CMD_TAIL_OFFSET, tail);
    needSync = sync;
  };

  // Read as two words in place: copying the 8 bytes out (and a DataView over them) per completion
  // wait was the driver's largest per-unmap allocation.
  const readSemaphore = (): bigint => memory.readU64(semaphore);

  return {
    queue: (command) => push(command, true),
    completionWait() {
      if (!needSync) return;
      sequence++;
      push(
        encodeAmdCommand("COMPLETION_WAIT", { s: true, address: BigInt(semaphore), data: sequence }),
        false,
      );
      if (readSemaphore() !== sequence) {
        // The hardware has not stored the value: poll the head once (progress), then give up.
        mmio.read(MMIO_CMD_HEAD_OFFSET);
        if (readSemaphore() !== sequence)
          throw new IommuError("EIO", `${name}: AMD-Vi: Completion-Wait loop timed out`);
      }
    },
    get queued() {
      return queued;
    },
  };
}
