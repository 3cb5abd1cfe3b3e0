/**
 * IOMMU groups: the smallest sets of devices the IOMMU can isolate from each other. Attachment and
 * DMA ownership are group operations. Models Linux's `struct iommu_group`.
 */
import type { IommuDevice } from "./device.js";
import type { IommuDomain } from "./domain.js";

/** A group, as the core exposes it. Read-only: change it through the core's operations. */
export interface IommuGroup {
  /** Group number, the lowest free one when created (the sysfs directory name). */
  readonly id: number;
  /** Name of the IOMMU instance the group's devices are behind. */
  readonly iommu: string;
  /** Member devices in the order they joined. */
  readonly devices: readonly IommuDevice[];
  /** The domain the core attaches when nobody else owns the group; `undefined` if allocation failed. */
  readonly defaultDomain: IommuDomain | undefined;
  /** The domain currently attached (Linux's `group->domain`). */
  readonly domain: IommuDomain | undefined;
  /** The blocking domain, allocated the first time the group is claimed. */
  readonly blockingDomain: IommuDomain | undefined;
  /** Kernel drivers using the default domain, or 1 while claimed by a user owner (`owner_cnt`). */
  readonly ownerCount: number;
  /** The user owner (VFIO, iommufd) while claimed; `undefined` otherwise. */
  readonly owner: object | undefined;
}

/** The core's mutable group record. */
export interface GroupRecord extends IommuGroup {
  devices: IommuDevice[];
  defaultDomain: IommuDomain | undefined;
  domain: IommuDomain | undefined;
  blockingDomain: IommuDomain | undefined;
  ownerCount: number;
  owner: object | undefined;
}

/** Allocates group ids the way Linux's IDA does: the lowest id not in use. */
export interface GroupIdAllocator {
  /** Takes the lowest free id. */
  take(): number;
  /** Returns an id. */
  release(id: number): void;
}

/** Creates a {@link GroupIdAllocator} starting at 0. */
export function createGroupIdAllocator(): GroupIdAllocator {
  const used = new Set<number>();
  return {
    take() {
      let id = 0;
      while (used.has(id)) id++;
      used.add(id);
      return id;
    },
    release(id) {
      used.delete(id);
    },
  };
}
