/**
 * @iommu-sim/intel-vtd - an Intel VT-d remapping unit (legacy mode: root and context tables,
 * second-stage tables, context cache, queued invalidation, primary fault recording) and Linux's
 * intel-iommu driver for it, as an iommu-sim backend.
 */
export * from "./backend.js";
export * from "./capability.js";
export { calculateAgaw, chooseAddressWidths, type VtdAddressWidths } from "./driver/agaw.js";
export {
  CONTEXT_TT_DEV_IOTLB,
  CONTEXT_TT_MULTI_LEVEL,
  CONTEXT_TT_PASS_THROUGH,
  type ContextEntryFields,
  type Entry128,
  encodeContextEntry,
  encodeRootEntry,
} from "./driver/context-entry.js";
export { FLPT_DEFAULT_DID, IDA_START_DID } from "./driver/domain-ids.js";
export type { FaultHandler, HandledFault } from "./driver/fault-handler.js";
export { IOAPIC_RANGE_END, IOAPIC_RANGE_START, type VtdRmrr } from "./driver/resv-regions.js";
export type { CachedContext, ContextCache } from "./hardware/context-cache.js";
export {
  type DecodedContextEntry,
  type DecodedRootEntry,
  readContextEntry,
  readRootEntry,
} from "./hardware/context-entry-decode.js";
export type { FaultRecording } from "./hardware/fault-recording.js";
export type { ConsumedDescriptor, InvalidationQueue } from "./hardware/invalidation-queue.js";
export * from "./hardware/registers.js";
export {
  createVtdHardware,
  ECAP,
  type VtdDmaOutcome,
  type VtdHardware,
  type VtdHardwareOptions,
  type VtdHardwareStats,
} from "./hardware/vtd-hardware.js";
export * from "./options.js";
