/**
 * Programming legacy root and context entries, with the invalidations Linux issues around them
 * (`iommu_context_addr`, `domain_context_mapping_one`, `context_setup_pass_through`,
 * `domain_context_clear_one`, `context_present_cache_flush`, `intel_context_flush_no_pasid` in
 * `drivers/iommu/intel/iommu.c`):
 * - a not-present to present change needs no invalidation, because hardware without Caching Mode
 *   does not cache not-present entries; with Caching Mode, a device-selective context-cache flush of
 *   domain 0 and a domain-selective IOTLB flush of the new domain; otherwise a write-buffer flush;
 * - tearing a present entry down clears P, then issues a device-selective context-cache flush and a
 *   domain-selective IOTLB flush of the old domain, then zeroes the entry.
 */
import { IommuError } from "@iommu-sim/iommu";
import {
  CONTEXT_TT_MULTI_LEVEL,
  CONTEXT_TT_PASS_THROUGH,
  type Entry128,
  encodeContextEntry,
  encodeRootEntry,
} from "./context-entry.js";
import { FLPT_DEFAULT_DID } from "./domain-ids.js";
import { CCMD, DMA_CCMD_MASK_NOBIT, type IntelIommu, TLB } from "./intel-iommu.js";

/**
 * Physical address of the context entry of `sid` (`iommu_context_addr`); with `alloc`, a missing
 * context table is allocated (zeroed) and the root entry made present. `undefined` without one.
 */
export function contextAddress(iommu: IntelIommu, sid: number, alloc: boolean): number | undefined {
  const bus = sid >>> 8;
  const rootEntry = iommu.rootTable + bus * 16;
  const lo = iommu.memory.readU64(rootEntry);
  if (lo & 1n) return Number(lo & ~0xfffn) + (sid & 0xff) * 16;
  if (!alloc) return undefined;
  let table: number;
  try {
    table = iommu.allocator.alloc(4096);
  } catch (error) {
    throw new IommuError("ENOMEM", `${iommu.name}: no memory for the context table of bus ${bus}`, {
      cause: error,
    });
  }
  writeEntry(iommu, rootEntry, encodeRootEntry(table));
  return table + (sid & 0xff) * 16;
}

function writeEntry(iommu: IntelIommu, at: number, entry: Entry128): void {
  // The high quadword first: the present bit lives in the low one and must be set last.
  iommu.memory.writeU64(at + 8, entry.hi);
  iommu.memory.writeU64(at, entry.lo);
}

function present(iommu: IntelIommu, at: number): boolean {
  return (iommu.memory.readU32(at) & 1) === 1;
}

// context_present_cache_flush
function presentCacheFlush(iommu: IntelIommu, did: number, sid: number): void {
  if (iommu.cap.cachingMode) {
    iommu.flushContext(0, sid, DMA_CCMD_MASK_NOBIT, CCMD.DEVICE);
    iommu.flushIotlb(did, 0, 0, false, TLB.DSI);
  } else {
    iommu.flushWriteBuffer();
  }
}

/**
 * Points `sid` at a second-stage table (`domain_context_mapping_one`): does nothing when the entry is
 * already present (the caller blocked the device first). Throws `ENOMEM` for a context table.
 */
export function contextMapSecondStage(
  iommu: IntelIommu,
  sid: number,
  did: number,
  root: number,
  aw: number,
): void {
  const at = contextAddress(iommu, sid, true)!;
  if (present(iommu, at)) return;
  writeEntry(
    iommu,
    at,
    encodeContextEntry({
      addressRoot: root,
      addressWidth: aw,
      domainId: did,
      translationType: CONTEXT_TT_MULTI_LEVEL,
    }),
  );
  presentCacheFlush(iommu, did, sid);
}

/**
 * Makes `sid` pass-through (`context_setup_pass_through`): DID `FLPT_DEFAULT_DID`, AW = msagaw
 * ("AW must be programmed to indicate the largest AGAW value supported by hardware"), TT = 2.
 */
export function contextMapPassThrough(iommu: IntelIommu, sid: number): void {
  const at = contextAddress(iommu, sid, true)!;
  if (present(iommu, at)) return;
  writeEntry(
    iommu,
    at,
    encodeContextEntry({
      addressRoot: 0,
      addressWidth: iommu.widths.msagaw,
      domainId: FLPT_DEFAULT_DID,
      translationType: CONTEXT_TT_PASS_THROUGH,
    }),
  );
  presentCacheFlush(iommu, FLPT_DEFAULT_DID, sid);
}

/** Tears the context entry of `sid` down (`domain_context_clear_one`); no-op without a context table. */
export function contextClear(iommu: IntelIommu, sid: number): void {
  const at = contextAddress(iommu, sid, false);
  if (at === undefined) return;
  const did = (iommu.memory.readU32(at + 8) >>> 8) & 0xffff;
  // Clear P alone first, so the hardware stops using the entry while the caches are flushed.
  iommu.memory.writeU32(at, iommu.memory.readU32(at) & ~1);
  // intel_context_flush_no_pasid, legacy mode.
  iommu.flushContext(did, sid, DMA_CCMD_MASK_NOBIT, CCMD.DEVICE);
  iommu.flushIotlb(did, 0, 0, false, TLB.DSI);
  iommu.memory.writeU64(at, 0n);
  iommu.memory.writeU64(at + 8, 0n);
}
