/**
 * mmap(2) protection and flag values of Linux (include/uapi/asm-generic/mman-common.h and
 * mman.h, x86-64 and arm64 share them), so recorded call traces replay unchanged.
 */

/** Page cannot be accessed. */
export const PROT_NONE = 0x0;
/** Page can be read. */
export const PROT_READ = 0x1;
/** Page can be written. */
export const PROT_WRITE = 0x2;
/** Page can be executed (recorded only; nothing executes in the model). */
export const PROT_EXEC = 0x4;

/** Changes are shared (with other mappings of the same object). */
export const MAP_SHARED = 0x01;
/** Changes are private (copy-on-write). */
export const MAP_PRIVATE = 0x02;
/** Interpret `addr` exactly, replacing whatever is mapped there. */
export const MAP_FIXED = 0x10;
/** Not backed by a file: zero-filled on first touch. */
export const MAP_ANONYMOUS = 0x20;

/**
 * Linux's default `RLIMIT_MEMLOCK` since v5.16 (`MLOCK_LIMIT` became 8 MiB; it was 64 KiB before,
 * which many distributions raised by hand for VFIO users).
 */
export const DEFAULT_RLIMIT_MEMLOCK = 8 * 1024 * 1024;

/** x86-64 four-level paging user address space end (`TASK_SIZE_MAX` = 2^47 - one page). */
export const DEFAULT_TASK_SIZE = 2 ** 47 - 4096;

/**
 * Where top-down mmap placement starts (the model has no ASLR, so placement is deterministic). Linux
 * puts `mmap_base` a stack gap below `TASK_SIZE` plus a random offset; this round value is below it.
 */
export const DEFAULT_MMAP_BASE = 0x7f00_0000_0000;

/** Lowest address mmap hands out or accepts (`vm.mmap_min_addr`, 64 KiB on most distributions). */
export const DEFAULT_MMAP_MIN_ADDR = 0x1_0000;

/**
 * Back the mapping with huge pages (`MAP_HUGETLB`, x86-64/arm64 value): each
 * {@link DEFAULT_HUGE_PAGE_SIZE} block is one physically contiguous, naturally aligned allocation, so
 * a pinned range maps with 2 MiB IOMMU pages where the domain supports them. The address and the
 * length are rounded to the huge page size.
 */
export const MAP_HUGETLB = 0x40000;

/** Huge page size of {@link MAP_HUGETLB} mappings (x86-64 and arm64 with 4 KiB pages: 2 MiB). */
export const DEFAULT_HUGE_PAGE_SIZE = 2 * 1024 * 1024;
