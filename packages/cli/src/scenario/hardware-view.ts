/**
 * What a backend's hardware model lets a viewer see: its IOTLB (entries and statistics) and, for a
 * domain, its page table, through the IOMMU API's optional inspection capabilities
 * (`IommuBackend.iotlb`, `IommuDomain.pageTable`). A backend without them (the reference backend)
 * simply has none, and the views say so. Every backend in this repository builds these from
 * `@iommu-sim/hw`, so the viewer reads them with hw's types.
 */
import type { IotlbEntrySnapshot, IotlbStats, PageTable } from "@iommu-sim/hw";
import type { IommuBackend, IommuDomain } from "@iommu-sim/iommu";

/** The parts of an IOTLB a viewer reads. */
export interface IotlbView {
  snapshot(): IotlbEntrySnapshot[];
  stats(): IotlbStats;
}

/** The backend's IOTLB, or `undefined` when it has none. */
export function iotlbOf(backend: IommuBackend): IotlbView | undefined {
  return (backend.iotlb ?? undefined) as IotlbView | undefined;
}

/** The page table behind a paging domain, or `undefined` when the driver offers none. */
export function pageTableOf(domain: IommuDomain): PageTable | undefined {
  return domain.pageTable as PageTable | undefined;
}
