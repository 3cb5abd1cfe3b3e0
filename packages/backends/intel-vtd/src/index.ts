/**
 * @iommu-sim/intel-vtd - an Intel VT-d remapping unit (legacy and scalable mode: root, context and PASID tables,
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
export {
  encodePasidDirEntry,
  encodePasidEntry,
  encodeSmContextEntry,
  encodeSmRootEntry,
  IOMMU_NO_PASID,
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_PT,
  PASID_ENTRY_PGTT_SL_ONLY,
  type PasidEntryFields,
  type SmContextEntryFields,
} from "./driver/pasid-entry.js";
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
export type { CachedPasid, PasidCache } from "./hardware/pasid-cache.js";
export * from "./hardware/registers.js";
export {
  type DecodedPasidDirEntry,
  type DecodedPasidEntry,
  type DecodedSmContextEntry,
  type DecodedSmRootEntry,
  readPasidDirEntry,
  readPasidEntry,
  readSmContextEntry,
  readSmRootEntry,
} from "./hardware/scalable-entry-decode.js";
export {
  createVtdHardware,
  ECAP,
  PGTT,
  RTADDR_TTM_SCALABLE,
  smTranslationReason,
  type VtdDmaOutcome,
  type VtdHardware,
  type VtdHardwareOptions,
  type VtdHardwareStats,
} from "./hardware/vtd-hardware.js";
export * from "./options.js";
