/**
 * Queued invalidation, the driver side (Linux `dmar_enable_qi` and `qi_submit_sync` in
 * `drivers/iommu/intel/dmar.c`): a one-page ring of 256 128-bit descriptors and a status word per
 * slot. A submission copies its descriptors into the ring, adds an invalidation wait descriptor
 * whose status write (`QI_DONE`) lands in the wait slot's status word, moves the tail register, and
 * polls that word. An invalid descriptor at the head (FSTS.IQE) is logged, overwritten with the wait
 * descriptor and the error cleared, as Linux's `qi_check_fault` does; the submission then reports it.
 */
import { encodeVtdDescriptor, type PageAllocator, type PhysMemory } from "@iommu-sim/hw";
import { IommuError } from "@iommu-sim/iommu";
import {
  DMA_FSTS_IQE,
  DMA_GCMD_QIE,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
} from "../hardware/registers.js";
import type { VtdMmio } from "./mmio.js";

/** Descriptors in the queue (`QI_LENGTH`): one page of 128-bit ones, two of 256-bit ones. */
export const QI_LENGTH = 256;
/** `desc_status` values. */
export const QI_FREE = 0;
/** Slot holds a descriptor not yet completed. */
export const QI_IN_USE = 1;
/** What the wait descriptor's status write stores (`QI_DONE`). */
export const QI_DONE = 2;

/** The driver's invalidation queue. */
export interface QueuedInvalidation {
  /** Physical address of the ring. */
  readonly queue: number;
  /** Physical address of the status words (`desc_status`, 4 bytes per slot). */
  readonly status: number;
  /** Submits `descriptors` and a wait descriptor, and waits for completion (`qi_submit_sync`). */
  submit(descriptors: readonly Uint8Array[]): void;
  /** Submissions so far. */
  readonly submissions: number;
}

/**
 * Allocates the ring and status page, and turns queued invalidation on (`dmar_enable_qi`):
 * IQT = 0, IQA = ring (QS = 0: one page), then GCMD.QIE. `gcmd` is the driver's copy of the
 * command register bits it keeps set.
 */
export function enableQueuedInvalidation(
  mmio: VtdMmio,
  memory: PhysMemory,
  allocator: PageAllocator,
  gcmd: { value: number },
  warn: (message: string) => void,
  wide = false,
): QueuedInvalidation {
  // With ECAP.SMTS descriptors are 256 bits (`qi_shift` 5) and the ring two pages (IQA.DW, QS = 1).
  const shift = wide ? 5 : 4;
  const bytes = 1 << shift;
  const queue = allocator.alloc(QI_LENGTH * bytes);
  const status = allocator.alloc(QI_LENGTH * 4);
  let freeHead = 0;
  let submissions = 0;
  mmio.write32(DMAR_IQT_REG, 0);
  mmio.write64(DMAR_IQA_REG, BigInt(queue) | (wide ? (1n << 11n) | 1n : 0n));
  gcmd.value |= DMA_GCMD_QIE;
  mmio.write32(DMAR_GCMD_REG, gcmd.value);
  if (!(mmio.read32(DMAR_GSTS_REG) & DMA_GCMD_QIE))
    throw new IommuError("EIO", "queued invalidation did not enable");

  const slot = (index: number) => queue + (index % QI_LENGTH) * bytes;
  // A 128-bit descriptor in a 256-bit slot: the upper half is zero. Copied as aligned u32 words:
  // memory.write builds two array views per call (and the padding a third array), which cost more
  // than the descriptor itself on every strict unmap. Descriptors are 16 or 32 bytes.
  const put = (index: number, descriptor: Uint8Array) => {
    const at = slot(index);
    for (let i = 0; i < bytes; i += 4) {
      const word =
        i < descriptor.length
          ? descriptor[i]! |
            (descriptor[i + 1]! << 8) |
            (descriptor[i + 2]! << 16) |
            (descriptor[i + 3]! << 24)
          : 0;
      memory.writeU32(at + i, word);
    }
  };
  const statusOf = (index: number) => status + (index % QI_LENGTH) * 4;

  return {
    queue,
    status,
    submit(descriptors) {
      submissions++;
      const count = descriptors.length;
      const index = freeHead;
      const waitIndex = (index + count) % QI_LENGTH;
      for (let i = 0; i < count; i++) {
        put(index + i, descriptors[i]!);
        memory.writeU32(statusOf(index + i), QI_IN_USE);
      }
      memory.writeU32(statusOf(waitIndex), QI_IN_USE);
      const wait = encodeVtdDescriptor(
        "invalidation-wait",
        { sw: true, statusData: QI_DONE, statusAddr: BigInt(statusOf(waitIndex)) },
        { width: wide ? 256 : 128 },
      );
      put(waitIndex, wait);
      freeHead = (freeHead + count + 1) % QI_LENGTH;
      mmio.write32(DMAR_IQT_REG, freeHead << shift);

      let error: IommuError | undefined;
      if (memory.readU32(statusOf(waitIndex)) !== QI_DONE) {
        // qi_check_fault: an invalid descriptor at the head of this submission.
        const fsts = mmio.read32(DMAR_FSTS_REG);
        const head = (mmio.read32(DMAR_IQH_REG) >>> shift) & 0x7fff;
        if (fsts & DMA_FSTS_IQE && head === index) {
          const bad = memory.read(slot(head), 16);
          const view = new DataView(bad.buffer, bad.byteOffset, 16);
          warn(
            `DMAR: VT-d detected invalid descriptor: qw0 = ${view.getBigUint64(0, true).toString(16)}, qw1 = ${view.getBigUint64(8, true).toString(16)}`,
          );
          put(head, wait);
          mmio.write32(DMAR_FSTS_REG, DMA_FSTS_IQE);
          error = new IommuError("EINVAL", "invalidation queue error: invalid descriptor");
        }
      }
      const done = memory.readU32(statusOf(waitIndex)) === QI_DONE;
      for (let i = 0; i <= count; i++) memory.writeU32(statusOf(index + i), QI_FREE);
      if (error) throw error;
      if (!done) throw new IommuError("EIO", "invalidation wait descriptor did not complete");
    },
    get submissions() {
      return submissions;
    },
  };
}
