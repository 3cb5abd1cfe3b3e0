/**
 * Protection-domain IDs: 16-bit DomainIDs handed out lowest-free first from 1 to 0xffff (Linux
 * `pdom_ids`, an IDA allocating in `[1, MAX_DOMAIN_ID - 1]`; 0 is never a translated domain's).
 */
import { IommuError } from "@iommu-sim/iommu";

/** Highest DomainID (`MAX_DOMAIN_ID - 1`). */
export const AMD_MAX_DOMAIN_ID = 0xffff;

/** The allocator. */
export interface DomainIdAllocator {
  /** The lowest free ID. `ENOSPC` when all 65535 are in use. */
  alloc(): number;
  /** Returns an ID. `EINVAL` for one not allocated. */
  free(id: number): void;
  /** IDs in use. */
  readonly inUse: number;
}

/** Creates an allocator; `max` lowers the highest ID (tests of exhaustion). @default 0xffff */
export function createDomainIdAllocator(max = AMD_MAX_DOMAIN_ID): DomainIdAllocator {
  const used = new Uint8Array(max + 1);
  let count = 0;
  let hint = 1;
  return {
    alloc() {
      for (let n = 0; n < max; n++) {
        const id = ((hint - 1 + n) % max) + 1;
        if (used[id] === 0) {
          used[id] = 1;
          count++;
          hint = id;
          return id;
        }
      }
      throw new IommuError("ENOSPC", `all ${max} AMD-Vi domain IDs are in use`);
    },
    free(id) {
      if (!Number.isInteger(id) || id < 1 || id > max || used[id] === 0)
        throw new IommuError("EINVAL", `domain ID ${id} is not allocated`);
      used[id] = 0;
      count--;
      if (id < hint) hint = id;
    },
    get inUse() {
      return count;
    },
  };
}
