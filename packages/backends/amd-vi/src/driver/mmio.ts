/**
 * What the driver needs of the hardware: 64-bit MMIO register access. The driver never touches the
 * hardware model otherwise; everything else goes through system memory.
 */

/** MMIO register access. */
export interface MmioAccess {
  read(offset: number): bigint;
  write(offset: number, value: bigint | number): void;
}
