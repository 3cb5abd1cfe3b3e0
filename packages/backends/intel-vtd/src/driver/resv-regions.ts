/**
 * Reserved regions of a device (Linux `intel_iommu_get_resv_regions`): every RMRR whose device
 * scope names the device, or a PCI bridge above it (`is_downstream_to_pci_bridge`), as
 * `IOMMU_RESV_DIRECT` (or `IOMMU_RESV_DIRECT_RELAXABLE` for USB and graphics devices,
 * `device_rmrr_is_relaxable`) with read/write permission; then the IOAPIC/MSI window
 * 0xfee00000-0xfeefffff as `IOMMU_RESV_MSI`.
 */
import { IOMMU_READ, IOMMU_WRITE, type IommuDevice, type ResvRegionSpec } from "@iommu-sim/iommu";

/** `IOAPIC_RANGE_START`. */
export const IOAPIC_RANGE_START = 0xfee0_0000;
/** `IOAPIC_RANGE_END` (inclusive). */
export const IOAPIC_RANGE_END = 0xfeef_ffff;

/** A Reserved Memory Region Reporting structure of the ACPI DMAR table. */
export interface VtdRmrr {
  /** Base address (4 KiB aligned). */
  readonly base: bigint | number;
  /** Limit address, inclusive (the last byte; `end + 1` 4 KiB aligned). */
  readonly end: bigint | number;
  /** Device scope: requester ids (`bus << 8 | devfn`) of endpoints, or of bridges whose subtree it covers. */
  readonly devices: readonly number[];
  /** PCI segment of the scope. @default 0 */
  readonly segment?: number;
}

/** True when an RMRR scope names `device` or a bridge above it. */
function inScope(rmrr: VtdRmrr, device: IommuDevice): boolean {
  if (device.busType !== "pci" || (rmrr.segment ?? 0) !== device.segment) return false;
  if (rmrr.devices.includes(device.requesterId)) return true;
  for (let bridge = device.upstream; bridge !== undefined; bridge = bridge.upstream) {
    if (rmrr.devices.includes(bridge.requesterId)) return true;
  }
  return false;
}

/** The regions of `device`; `relaxable` says whether it is a USB or graphics device. */
export function vtdResvRegions(
  rmrrs: readonly VtdRmrr[],
  device: IommuDevice,
  relaxable: boolean,
): ResvRegionSpec[] {
  const regions: ResvRegionSpec[] = [];
  for (const rmrr of rmrrs) {
    if (!inScope(rmrr, device)) continue;
    const start = Number(rmrr.base);
    regions.push({
      start,
      length: Number(rmrr.end) - start + 1,
      prot: IOMMU_READ | IOMMU_WRITE,
      type: relaxable ? "direct-relaxable" : "direct",
    });
  }
  regions.push({
    start: IOAPIC_RANGE_START,
    length: IOAPIC_RANGE_END - IOAPIC_RANGE_START + 1,
    prot: 0,
    type: "msi",
  });
  return regions;
}
