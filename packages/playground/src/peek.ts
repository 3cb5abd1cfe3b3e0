/**
 * What the views read of a live machine, through the IOMMU API's optional inspection capabilities:
 * a backend's IOTLB (`IommuBackend.iotlb`, with its geometry, for the sets-and-ways view) and a
 * paging domain's page table (`IommuDomain.pageTable`, for the walk of the last translation). A
 * backend without them (the reference backend) simply has none, and the views say so. Every backend
 * here builds them from `@iommu-sim/hw`, so they are read with hw's entry and walk types.
 */
import type { IotlbEntrySnapshot, WalkTrace } from "@iommu-sim/hw";
import type { IommuBackend, IommuDomain } from "@iommu-sim/iommu";

/** The parts of an IOTLB the views read. */
export interface IotlbPeek {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  readonly replacement: string;
  snapshot(): readonly IotlbEntrySnapshot[];
}

/** The backend's IOTLB, or `undefined` when it has none. */
export function peekIotlb(backend: IommuBackend): IotlbPeek | undefined {
  const tlb = backend.iotlb;
  if (!tlb) return undefined;
  return { ...tlb.geometry, snapshot: () => tlb.snapshot() as readonly IotlbEntrySnapshot[] };
}

/** The page table behind a paging domain (its hardware walk), or `undefined`. */
export function peekPageTable(domain: IommuDomain): { walk(iova: bigint): WalkTrace } | undefined {
  const table = domain.pageTable;
  return table ? { walk: (iova) => table.walk(iova) as WalkTrace } : undefined;
}
