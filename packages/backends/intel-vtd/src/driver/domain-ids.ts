/**
 * Per-unit domain ids (`iommu->domain_ida` in Linux): ids 0 (what Caching Mode hardware tags
 * invalid entries with) and 1 (`FLPT_DEFAULT_DID`, pass-through and identity) are reserved;
 * domains get the lowest free id from `IDA_START_DID` (2) to `cap_ndoms - 1`, allocated when a
 * domain is first attached to a device behind the unit and freed when its last device leaves.
 */
import { IommuError } from "@iommu-sim/iommu";

/** `FLPT_DEFAULT_DID`: the id of pass-through context entries. */
export const FLPT_DEFAULT_DID = 1;
/** `IDA_START_DID`: the first id a domain can get. */
export const IDA_START_DID = 2;

/** A domain id allocator. */
export interface DomainIdAllocator {
  /** The lowest free id; `ENOSPC` when all are taken ("No free domain ids"). */
  alloc(): number;
  /** Releases `did`. */
  free(did: number): void;
  /** Ids in use. */
  readonly inUse: number;
}

/** Creates the allocator for a unit with `count` domain ids (`cap_ndoms`). */
export function createDomainIdAllocator(count: number, unit: string): DomainIdAllocator {
  const used = new Uint8Array(count);
  let inUse = 0;
  return {
    alloc() {
      for (let did = IDA_START_DID; did < count; did++) {
        if (used[did] === 0) {
          used[did] = 1;
          inUse++;
          return did;
        }
      }
      throw new IommuError("ENOSPC", `${unit}: No free domain ids (all ${count - IDA_START_DID} in use)`);
    },
    free(did) {
      if (did >= IDA_START_DID && did < count && used[did] === 1) {
        used[did] = 0;
        inUse--;
      }
    },
    get inUse() {
      return inUse;
    },
  };
}
