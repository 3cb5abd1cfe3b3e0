/**
 * The driver's encoding of legacy root and context entries, after Linux's `context_set_*` helpers
 * (`drivers/iommu/intel/iommu.h`): each is two little-endian quadwords. Written independently of the
 * hardware's decoder, so the two check each other.
 */

/** Context translation type: untranslated requests go through the second-stage table (`CONTEXT_TT_MULTI_LEVEL`). */
export const CONTEXT_TT_MULTI_LEVEL = 0;
/** Context translation type: as multi-level, device-TLB (ATS) allowed (`CONTEXT_TT_DEV_IOTLB`). */
export const CONTEXT_TT_DEV_IOTLB = 1;
/** Context translation type: pass-through, output = input (`CONTEXT_TT_PASS_THROUGH`). */
export const CONTEXT_TT_PASS_THROUGH = 2;

/** A 128-bit table entry as two quadwords. */
export interface Entry128 {
  /** Bits [63:0]. */
  readonly lo: bigint;
  /** Bits [127:64]. */
  readonly hi: bigint;
}

/** Fields Linux sets in a legacy context entry (`domain_context_mapping_one`, `context_setup_pass_through`). */
export interface ContextEntryFields {
  /** Second-stage table root (`context_set_address_root`), 4 KiB aligned; 0 for pass-through. */
  readonly addressRoot: number;
  /** AGAW (`context_set_address_width`). */
  readonly addressWidth: number;
  /** Domain id (`context_set_domain_id`). */
  readonly domainId: number;
  /** Translation type (`context_set_translation_type`). */
  readonly translationType: number;
  /** Fault processing disabled; Linux always clears it (`context_set_fault_enable`). @default false */
  readonly fpd?: boolean;
}

/** A present legacy context entry: lo = SSPTPTR | TT << 2 | FPD << 1 | P; hi = DID << 8 | AW. */
export function encodeContextEntry(fields: ContextEntryFields): Entry128 {
  const lo =
    BigInt(fields.addressRoot) | (BigInt(fields.translationType & 3) << 2n) | (fields.fpd ? 2n : 0n) | 1n; // context_set_present: last, once every other field is in place
  const hi = (BigInt(fields.domainId & 0xffff) << 8n) | BigInt(fields.addressWidth & 7);
  return { lo, hi };
}

/** A present legacy root entry: lo = CTP | P, hi = 0. */
export function encodeRootEntry(contextTable: number): Entry128 {
  return { lo: BigInt(contextTable) | 1n, hi: 0n };
}
