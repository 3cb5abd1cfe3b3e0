/**
 * What the driver sees of a remapping unit: its registers, through MMIO, and the fault event
 * interrupt it binds a handler to (Linux's `iommu->reg` and `dmar_set_interrupt`).
 */

/** Register access to one unit. */
export interface VtdMmio {
  /** `readl`. */
  read32(offset: number): number;
  /** `writel`. */
  write32(offset: number, value: number): void;
  /** `dmar_readq`. */
  read64(offset: number): bigint;
  /** `dmar_writeq`. */
  write64(offset: number, value: bigint): void;
  /** Binds the fault event interrupt handler (`request_irq(..., dmar_fault, ...)`). */
  setFaultInterrupt(handler: (() => void) | undefined): void;
}
