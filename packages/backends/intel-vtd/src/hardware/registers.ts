/**
 * VT-d remapping-unit register offsets and bits (VT-d specification chapter 11, "Register
 * Descriptions"; Linux `DMAR_*_REG` and `DMA_GCMD_*` / `DMA_GSTS_*` / `DMA_FSTS_*` in
 * `include/linux/intel-iommu.h`, now `drivers/iommu/intel/iommu.h`).
 */

/** Version register (32-bit): major [7:4], minor [3:0]. */
export const DMAR_VER_REG = 0x00;
/** Capability register (64-bit, read-only). */
export const DMAR_CAP_REG = 0x08;
/** Extended capability register (64-bit, read-only). */
export const DMAR_ECAP_REG = 0x10;
/** Global command register (32-bit, write). */
export const DMAR_GCMD_REG = 0x18;
/** Global status register (32-bit, read-only). */
export const DMAR_GSTS_REG = 0x1c;
/** Root table address register (64-bit): RTA [63:12], TTM [11:10]. */
export const DMAR_RTADDR_REG = 0x20;
/** Register-based context command register (64-bit). Not modelled: the driver uses queued invalidation. */
export const DMAR_CCMD_REG = 0x28;
/** Fault status register (32-bit). */
export const DMAR_FSTS_REG = 0x34;
/** Fault event control register (32-bit): IM bit 31, IP bit 30. */
export const DMAR_FECTL_REG = 0x38;
/** Fault event interrupt data (32-bit). */
export const DMAR_FEDATA_REG = 0x3c;
/** Fault event interrupt address (32-bit). */
export const DMAR_FEADDR_REG = 0x40;
/** Fault event interrupt upper address (32-bit). */
export const DMAR_FEUADDR_REG = 0x44;
/** Invalidation queue head (64-bit): QH [18:4] for 128-bit descriptors. */
export const DMAR_IQH_REG = 0x80;
/** Invalidation queue tail (64-bit): QT [18:4] for 128-bit descriptors. */
export const DMAR_IQT_REG = 0x88;
/** Invalidation queue address (64-bit): IQA [63:12], DW bit 11, QS [2:0]. */
export const DMAR_IQA_REG = 0x90;
/** Invalidation completion status (32-bit): IWC bit 0. */
export const DMAR_ICS_REG = 0x9c;

/** GCMD/GSTS: translation enable / status. */
export const DMA_GCMD_TE = 1 << 31;
/** GCMD: set root table pointer; GSTS: root table pointer status (RTPS). */
export const DMA_GCMD_SRTP = 1 << 30;
/** GCMD: write-buffer flush; GSTS: write-buffer flush status. */
export const DMA_GCMD_WBF = 1 << 27;
/** GCMD: queued invalidation enable; GSTS: QIES. */
export const DMA_GCMD_QIE = 1 << 26;
/** GCMD: interrupt-remapping enable (not modelled). */
export const DMA_GCMD_IRE = 1 << 25;

/** FSTS: primary fault overflow (RW1C). */
export const DMA_FSTS_PFO = 1 << 0;
/** FSTS: primary pending fault (read-only: some fault record has F set). */
export const DMA_FSTS_PPF = 1 << 1;
/** FSTS: invalidation queue error (RW1C). */
export const DMA_FSTS_IQE = 1 << 4;
/** FSTS: invalidation completion error (RW1C). */
export const DMA_FSTS_ICE = 1 << 5;
/** FSTS: invalidation time-out error (RW1C). */
export const DMA_FSTS_ITE = 1 << 6;
/** FSTS: page request overflow (RW1C; not modelled, always 0). */
export const DMA_FSTS_PRO = 1 << 7;
/** FSTS: fault record index, bits [15:8]. */
export const DMA_FSTS_FRI_SHIFT = 8;

/** FECTL: interrupt mask. */
export const DMA_FECTL_IM = 1 << 31;
/** FECTL: interrupt pending. */
export const DMA_FECTL_IP = 1 << 30;

/** FRCD high dword (offset +12): the F bit, write 1 to clear. */
export const DMA_FRCD_F = 1 << 31;

/** ICS: invalidation wait descriptor complete. */
export const DMA_ICS_IWC = 1;

/** Bytes of one primary fault recording register (`PRIMARY_FAULT_REG_LEN`). */
export const PRIMARY_FAULT_REG_LEN = 16;

/** Bytes of the modelled register window (one 4 KiB MMIO page, as a DRHD's register set). */
export const VTD_REGISTER_WINDOW = 0x1000;
