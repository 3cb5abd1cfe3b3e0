/**
 * The driver's encoding of scalable-mode structures, after Linux's `context_entry_set_pasid_table`
 * (iommu.c) and the `pasid_set_*` helpers of `drivers/iommu/intel/pasid.h`: quadwords, little
 * endian, written independently of the hardware's decoder so the two check each other.
 */
import type { Entry128 } from "./context-entry.js";

/** PASID table entry PGTT: first stage only (`PASID_ENTRY_PGTT_FL_ONLY`). */
export const PASID_ENTRY_PGTT_FL_ONLY = 1;
/** PASID table entry PGTT: second stage only (`PASID_ENTRY_PGTT_SL_ONLY`). */
export const PASID_ENTRY_PGTT_SL_ONLY = 2;
/** PASID table entry PGTT: pass-through (`PASID_ENTRY_PGTT_PT`). */
export const PASID_ENTRY_PGTT_PT = 4;
/** `IOMMU_NO_PASID`: the PASID Linux programs as RID_PASID, used by requests without PASID. */
export const IOMMU_NO_PASID = 0;
/** `PASID_PDE_SHIFT`: a PASID directory entry covers 2^6 PASIDs (one 4 KiB table of 64-byte entries). */
export const PASID_PDE_SHIFT = 6;

/** A present scalable-mode root entry: LCTP | LP in the low quadword, UCTP | UP in the high one. */
export function encodeSmRootEntry(lower: number | undefined, upper: number | undefined): Entry128 {
  return {
    lo: lower === undefined ? 0n : BigInt(lower) | 1n,
    hi: upper === undefined ? 0n : BigInt(upper) | 1n,
  };
}

/** Fields of a scalable-mode context entry as `context_entry_set_pasid_table` sets them. */
export interface SmContextEntryFields {
  /** PASID directory (`PASIDDIRPTR`), 4 KiB aligned. */
  readonly pasidDir: number;
  /** PDTS: the directory has 2^(pdts + 7) entries (`context_pdts(pds)`). */
  readonly pdts: number;
  /** RID_PASID (`context_set_sm_rid2pasid`). @default 0 (`IOMMU_NO_PASID`) */
  readonly ridPasid?: number;
  /** PASIDE: requests with PASID allowed (`context_set_pasid`, when the device supports PASID). */
  readonly paside: boolean;
  /** DTE: device-TLB allowed (`context_set_sm_dte`, with ATS). @default false */
  readonly dte?: boolean;
}

/**
 * A present scalable-mode context entry, 4 quadwords: qw0 = PASIDDIRPTR | PDTS << 9 | PASIDE << 3 |
 * DTE << 2 | P (FPD clear, `context_set_fault_enable`); qw1 = RID_PASID; qw2 = qw3 = 0.
 */
export function encodeSmContextEntry(fields: SmContextEntryFields): readonly bigint[] {
  const lo =
    BigInt(fields.pasidDir) |
    (BigInt(fields.pdts & 7) << 9n) |
    (fields.paside ? 8n : 0n) |
    (fields.dte ? 4n : 0n) |
    1n;
  return [lo, BigInt((fields.ridPasid ?? IOMMU_NO_PASID) & 0xf_ffff), 0n, 0n];
}

/** A present PASID directory entry (`intel_pasid_get_entry`): PASID table | P. */
export function encodePasidDirEntry(table: number): bigint {
  return BigInt(table) | 1n;
}

/** What the driver puts in a PASID table entry. */
export type PasidEntryFields =
  | {
      /** `intel_pasid_setup_first_level` (`pasid_pte_config_first_level`). */
      readonly pgtt: typeof PASID_ENTRY_PGTT_FL_ONLY;
      /** First-stage table (FLPTR). */
      readonly flptr: number;
      /** Five-level table (FLPM = 1, `PASID_FLAG_FL5LP`). */
      readonly fiveLevel: boolean;
      readonly did: number;
      /** AW = the unit's agaw. */
      readonly aw: number;
      /** PWSNP, with ECAP.SMPWC. */
      readonly pageWalkSnoop: boolean;
    }
  | {
      /** `intel_pasid_setup_second_level` (`pasid_pte_config_second_level`). */
      readonly pgtt: typeof PASID_ENTRY_PGTT_SL_ONLY;
      /** Second-stage table (SLPTPTR). */
      readonly slptptr: number;
      readonly did: number;
      /** AW = the domain's agaw. */
      readonly aw: number;
      readonly pageWalkSnoop: boolean;
    }
  | {
      /** `intel_pasid_setup_pass_through` (`pasid_pte_config_pass_through`). */
      readonly pgtt: typeof PASID_ENTRY_PGTT_PT;
      readonly did: number;
      /** AW = the unit's agaw. */
      readonly aw: number;
      readonly pageWalkSnoop: boolean;
    };

/**
 * A present PASID table entry, 8 quadwords: qw0 = SLPTPTR | PGTT << 6 | AW << 2 | P (FPD clear);
 * qw1 = PWSNP << 23 | DID; qw2 = FLPTR | FLPM << 2; qw3-qw7 = 0.
 */
export function encodePasidEntry(fields: PasidEntryFields): readonly bigint[] {
  const qw = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  qw[0] = (BigInt(fields.pgtt) << 6n) | (BigInt(fields.aw & 7) << 2n) | 1n;
  if (fields.pgtt === PASID_ENTRY_PGTT_SL_ONLY) qw[0] |= BigInt(fields.slptptr);
  qw[1] = BigInt(fields.did & 0xffff) | (fields.pageWalkSnoop ? 1n << 23n : 0n);
  if (fields.pgtt === PASID_ENTRY_PGTT_FL_ONLY) {
    qw[2] = BigInt(fields.flptr) | (fields.fiveLevel ? 1n << 2n : 0n);
  }
  return qw;
}
