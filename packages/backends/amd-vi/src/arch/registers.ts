/**
 * AMD IOMMU MMIO registers: offsets, control and status bits, the base-register encodings and the
 * Extended Feature Register bits this model reads (AMD IOMMU specification 48882, "MMIO
 * registers"; Linux `MMIO_*`, `CONTROL_*`, `FEATURE_*` in `drivers/iommu/amd/amd_iommu_types.h`).
 */

/** Device Table Base Address Register: base [51:12], Size [8:0] = 4 KiB pages - 1. */
export const MMIO_DEV_TABLE_OFFSET = 0x0000;
/** Command Buffer Base Address Register: base [51:12], ComLen [59:56] = log2(entries). */
export const MMIO_CMD_BUF_OFFSET = 0x0008;
/** Event Log Base Address Register: base [51:12], EventLen [59:56] = log2(entries). */
export const MMIO_EVT_BUF_OFFSET = 0x0010;
/** IOMMU Control Register. */
export const MMIO_CONTROL_OFFSET = 0x0018;
/** Exclusion Range Base Register (read as written; exclusion is not modelled in the datapath). */
export const MMIO_EXCL_BASE_OFFSET = 0x0020;
/** Exclusion Range Limit Register. */
export const MMIO_EXCL_LIMIT_OFFSET = 0x0028;
/** Extended Feature Register (read-only). */
export const MMIO_EXT_FEATURES_OFFSET = 0x0030;
/** Command Buffer Head Pointer Register: byte offset [18:4]. */
export const MMIO_CMD_HEAD_OFFSET = 0x2000;
/** Command Buffer Tail Pointer Register: byte offset [18:4]. */
export const MMIO_CMD_TAIL_OFFSET = 0x2008;
/** Event Log Head Pointer Register: byte offset [18:4]. */
export const MMIO_EVT_HEAD_OFFSET = 0x2010;
/** Event Log Tail Pointer Register: byte offset [18:4]. */
export const MMIO_EVT_TAIL_OFFSET = 0x2018;
/** IOMMU Status Register; the interrupt and overflow bits are write-1-to-clear. */
export const MMIO_STATUS_OFFSET = 0x2020;

/** Mask of the byte offset in the head and tail pointer registers (bits [18:4]). */
export const MMIO_RING_POINTER_MASK = 0x7fff0;

/** Control: IommuEn, bit 0 (`CONTROL_IOMMU_EN`). */
export const CONTROL_IOMMU_EN = 1 << 0;
/** Control: EventLogEn, bit 2 (`CONTROL_EVT_LOG_EN`). */
export const CONTROL_EVT_LOG_EN = 1 << 2;
/** Control: EventIntEn, bit 3 (`CONTROL_EVT_INT_EN`). */
export const CONTROL_EVT_INT_EN = 1 << 3;
/** Control: ComWaitIntEn, bit 4 (`CONTROL_COMWAIT_EN`). */
export const CONTROL_COMWAIT_EN = 1 << 4;
/** Control: Coherent, bit 10 (`CONTROL_COHERENT_EN`): table walks snoop. Stored, no effect. */
export const CONTROL_COHERENT_EN = 1 << 10;
/** Control: CmdBufEn, bit 12 (`CONTROL_CMDBUF_EN`). */
export const CONTROL_CMDBUF_EN = 1 << 12;

/** Status: EventOverflow, bit 0 (`MMIO_STATUS_EVT_OVERFLOW_MASK`), write 1 to clear. */
export const MMIO_STATUS_EVT_OVERFLOW = 1 << 0;
/** Status: EventLogInt, bit 1 (`MMIO_STATUS_EVT_INT_MASK`), write 1 to clear. */
export const MMIO_STATUS_EVT_INT = 1 << 1;
/** Status: ComWaitInt, bit 2 (`MMIO_STATUS_COM_WAIT_INT_MASK`), write 1 to clear. */
export const MMIO_STATUS_COM_WAIT_INT = 1 << 2;
/** Status: EventLogRun, bit 3 (`MMIO_STATUS_EVT_RUN_MASK`), read-only. */
export const MMIO_STATUS_EVT_RUN = 1 << 3;
/** Status: CmdBufRun, bit 4, read-only. */
export const MMIO_STATUS_CMDBUF_RUN = 1 << 4;
/** Status bits software clears by writing 1. */
export const MMIO_STATUS_W1C = MMIO_STATUS_EVT_OVERFLOW | MMIO_STATUS_EVT_INT | MMIO_STATUS_COM_WAIT_INT;

/** EFR: PPRSup, bit 1 (`FEATURE_PPR`). */
export const FEATURE_PPR = 1n << 1n;
/** EFR: NXSup, bit 3 (`FEATURE_NX`). */
export const FEATURE_NX = 1n << 3n;
/** EFR: GTSup, bit 4 (`FEATURE_GT`): guest (v2) translation. */
export const FEATURE_GT = 1n << 4n;
/** EFR: IASup, bit 6 (`FEATURE_IA`): INVALIDATE_IOMMU_ALL is implemented. */
export const FEATURE_IA = 1n << 6n;
/** EFR: HATS, bits [11:10] (`FEATURE_HATS`): host table levels, 0 = 4, 1 = 5, 2 = 6. */
export const FEATURE_HATS_SHIFT = 10n;
/** EFR: HDSup, bit 52 (`FEATURE_HDSUP`): hardware dirty tracking of host tables. */
export const FEATURE_HDSUP = 1n << 52n;

/**
 * Default EFR of the model: IASup, HATS = 0 (4-level host tables, 48-bit IOVA). No PPR, no guest
 * translation, no NX, no dirty tracking: the model implements none of them.
 */
export const AMD_VI_DEFAULT_EFR = FEATURE_IA;

/** Host page-table levels the EFR allows (`4 + HATS`; HATS = 3 is reserved and read as 4). */
export function efrHostLevels(efr: bigint): number {
  const hats = Number((efr >> FEATURE_HATS_SHIFT) & 3n);
  return hats === 3 ? 4 : 4 + hats;
}

/** `log2(entries) << 56` of the command buffer and event log base registers (Linux: 512 entries). */
export const RING_LEN_SHIFT = 56n;
/** Bytes of one command or event-log entry. */
export const RING_ENTRY_BYTES = 16;
/** Linux's command buffer and event log: 8 KiB, 512 entries (`CMD_BUFFER_SIZE`, `EVT_BUFFER_SIZE`). */
export const RING_BYTES = 8192;
