/**
 * Memory interfaces the IOMMU API declares and lower layers satisfy by shape, without an import:
 * `@iommu-sim/hw`'s `PhysMemory` is a {@link PhysBus} and its `PageAllocator` a {@link PageProvider}.
 */
import type { AddressLike } from "./address.js";

/**
 * Byte access to simulated physical memory: where device DMA lands after translation, and where the
 * CPU side (DMA API bounce buffers, coherent buffers, VFIO user pages) reads and writes.
 */
export interface PhysBus {
  /** Reads `length` bytes at physical address `pa` (unwritten memory reads as zero). */
  read(pa: AddressLike, length: number): Uint8Array;
  /** Writes `bytes` at physical address `pa`. */
  write(pa: AddressLike, bytes: Uint8Array): void;
  /** Sets `length` bytes at `pa` to `value` (0 if omitted). */
  fill(pa: AddressLike, length: number, value?: number): void;
}

/**
 * A physical page allocator (page-table pages, RAM for coherent buffers) that counts what is in use
 * and can be told to fail, the fault injection every layer uses to prove it leaks nothing.
 */
export interface PageProvider {
  /** Allocates a zeroed block of `bytes` (a power of two), naturally aligned; returns its address. Throws `ENOMEM`. */
  alloc(bytes: number): number;
  /** Returns a block from {@link alloc} with the same `bytes`. */
  free(pa: number, bytes: number): void;
  /** Frames currently handed out. */
  readonly pagesInUse: number;
  /** Makes the `n`-th allocation from now (1 = next) fail with `ENOMEM`, once; 0 disarms. */
  failAfter(n: number): void;
}
