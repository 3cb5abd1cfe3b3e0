/**
 * What a backend's hardware model lets a viewer see, found structurally: its IOTLB (entries and
 * statistics) and, for a domain, its page table. Backends differ in where they keep these
 * (`hardware.translation`, `hardware.translationUnit`, `hardware.unit`); a backend without them
 * (the reference backend) simply has none, and the views say so.
 */
import type { IotlbEntrySnapshot, IotlbStats, PageTable } from "@iommu-sim/hw";
import type { IommuBackend, IommuDomain } from "@iommu-sim/iommu";

/** The parts of an IOTLB a viewer reads. */
export interface IotlbView {
  snapshot(): IotlbEntrySnapshot[];
  stats(): IotlbStats;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function asIotlb(v: unknown): IotlbView | undefined {
  return isObject(v) && typeof v.snapshot === "function" && typeof v.stats === "function"
    ? (v as unknown as IotlbView)
    : undefined;
}

/** The backend's IOTLB, or `undefined` when it has none (or keeps it where no viewer can see). */
export function iotlbOf(backend: IommuBackend): IotlbView | undefined {
  const hw = (backend as unknown as Record<string, unknown>).hardware;
  if (!isObject(hw)) return undefined;
  for (const unit of [hw.translation, hw.translationUnit, hw.unit]) {
    if (isObject(unit)) {
      const found = asIotlb(unit.iotlb);
      if (found) return found;
    }
  }
  return asIotlb(hw.iotlb);
}

function asPageTable(v: unknown): PageTable | undefined {
  return isObject(v) && typeof v.walk === "function" && typeof v.format === "string" && isObject(v.geometry)
    ? (v as unknown as PageTable)
    : undefined;
}

/**
 * The io-pgtable behind a paging domain, or `undefined`. The core's domain handle carries the
 * driver's domain as `driver`, and the hardware backends keep their table there as `table`; this
 * reads both structurally. It is a viewer's peek, not an API: a missing table is reported, never
 * guessed.
 */
export function pageTableOf(domain: IommuDomain): PageTable | undefined {
  const driver = (domain as unknown as Record<string, unknown>).driver;
  if (!isObject(driver)) return undefined;
  return asPageTable(driver.table) ?? asPageTable(driver.pgtable);
}
