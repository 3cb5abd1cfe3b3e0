/**
 * What the driver learns from the ID registers, after `arm_smmu_device_cfg_probe()`: supported
 * stages and context formats, the number of SMRs and context banks, address sizes, and the page
 * sizes every format together offers.
 *
 * @module
 */
import { IommuError } from "@iommu-sim/iommu";
import { ID0, ID1, ID2, type SmmuIdRegisters } from "../hardware/id-registers.js";
import { addressSizeBits } from "../hardware/registers.js";

/** Features and sizes of a probed SMMU (`struct arm_smmu_device`'s probe-time fields). */
export interface SmmuFeatures {
  /** `ARM_SMMU_FEAT_TRANS_S1`. */
  readonly stage1: boolean;
  /** `ARM_SMMU_FEAT_TRANS_S2`. */
  readonly stage2: boolean;
  /** `ARM_SMMU_FEAT_TRANS_NESTED`. */
  readonly nested: boolean;
  /** `ARM_SMMU_FEAT_COHERENT_WALK` (ID0.CTTW). */
  readonly coherentWalk: boolean;
  /** `ARM_SMMU_FEAT_STREAM_MATCH` (ID0.SMS). */
  readonly streamMatch: boolean;
  /** `ARM_SMMU_FEAT_FMT_AARCH64_4K/16K/64K`, as granule sizes. */
  readonly aarch64Granules: readonly number[];
  /** `ARM_SMMU_FEAT_FMT_AARCH32_L`. */
  readonly aarch32Long: boolean;
  /** `ARM_SMMU_FEAT_FMT_AARCH32_S`. */
  readonly aarch32Short: boolean;
  /** `num_mapping_groups`: SMRs (or S2CRs with stream indexing). */
  readonly numMappingGroups: number;
  /** `streamid_mask`: 2^NUMSIDB - 1. */
  readonly streamIdMask: number;
  /** `num_context_banks`. */
  readonly numContextBanks: number;
  /** `num_s2_context_banks`: the first banks, stage 2 only. */
  readonly numS2ContextBanks: number;
  /** `va_size` (ID2.UBS): stage-1 input bits. */
  readonly vaSize: number;
  /** `ipa_size` (ID2.IAS): stage-1 output, stage-2 input bits. */
  readonly ipaSize: number;
  /** `pa_size` (ID2.OAS): stage-2 output bits. */
  readonly paSize: number;
  /** `pgsize_bitmap`: the union of every supported format's page sizes. */
  readonly pgsizeBitmap: number;
}

const SZ_4K = 0x1000;
const SZ_64K = 0x1_0000;
const SZ_16K = 0x4000;
const SZ_1M = 0x10_0000;
const SZ_2M = 0x20_0000;
const SZ_16M = 0x100_0000;
const SZ_32M = 0x200_0000;
const SZ_512M = 0x2000_0000;
const SZ_1G = 0x4000_0000;

/**
 * Decodes the ID registers as `arm_smmu_device_cfg_probe()` does for an SMMUv2 (`force_stage`
 * given as `forceStage`). Throws `ENODEV` where Linux fails the probe: no translation stage, stream
 * matching without SMRs, more stage-2-only banks than banks.
 */
export function probeFeatures(id: SmmuIdRegisters, forceStage?: 1 | 2): SmmuFeatures {
  const { id0, id1, id2 } = id;
  let stage1 = (id0 & ID0.S1TS) !== 0;
  let stage2 = (id0 & ID0.S2TS) !== 0;
  let nested = (id0 & ID0.NTS) !== 0;
  if (forceStage === 1) {
    stage2 = false;
    nested = false;
  } else if (forceStage === 2) {
    stage1 = false;
    nested = false;
  }
  if (!stage1 && !stage2) throw new IommuError("ENODEV", "no translation support!");
  const streamIdMask = 2 ** ((id0 >>> ID0.NUMSIDB_SHIFT) & ID0.NUMSIDB_MASK) - 1;
  const streamMatch = (id0 & ID0.SMS) !== 0;
  const numMappingGroups = streamMatch ? id0 & ID0.NUMSMRG_MASK : streamIdMask + 1;
  if (streamMatch && numMappingGroups === 0)
    throw new IommuError("ENODEV", "stream-matching supported, but no SMRs present!");
  const aarch32Long = (id0 & ID0.PTFS_NO_AARCH32) === 0;
  const aarch32Short = aarch32Long && (id0 & ID0.PTFS_NO_AARCH32S) === 0;
  const numContextBanks = id1 & ID1.NUMCB_MASK;
  const numS2ContextBanks = (id1 >>> ID1.NUMS2CB_SHIFT) & ID1.NUMS2CB_MASK;
  if (numS2ContextBanks > numContextBanks) {
    throw new IommuError(
      "ENODEV",
      `impossible number of S2 context banks (${numS2ContextBanks} > ${numContextBanks})`,
    );
  }
  const ipaSize = addressSizeBits(id2 & ID2.IAS_MASK);
  const paSize = addressSizeBits((id2 >>> ID2.OAS_SHIFT) & 0xf);
  const vaSize = addressSizeBits((id2 >>> ID2.UBS_SHIFT) & 0xf);
  const aarch64Granules: number[] = [];
  if (id2 & ID2.PTFS_4K) aarch64Granules.push(SZ_4K);
  if (id2 & ID2.PTFS_16K) aarch64Granules.push(SZ_16K);
  if (id2 & ID2.PTFS_64K) aarch64Granules.push(SZ_64K);
  let pgsizeBitmap = 0;
  if (aarch32Short) pgsizeBitmap += SZ_4K + SZ_64K + SZ_1M + SZ_16M;
  if (aarch32Long || aarch64Granules.includes(SZ_4K)) pgsizeBitmap |= SZ_4K | SZ_2M | SZ_1G;
  if (aarch64Granules.includes(SZ_16K)) pgsizeBitmap |= SZ_16K | SZ_32M;
  if (aarch64Granules.includes(SZ_64K)) pgsizeBitmap |= SZ_64K | SZ_512M;
  return {
    stage1,
    stage2,
    nested,
    coherentWalk: (id0 & ID0.CTTW) !== 0,
    streamMatch,
    aarch64Granules,
    aarch32Long,
    aarch32Short,
    numMappingGroups,
    streamIdMask,
    numContextBanks,
    numS2ContextBanks,
    vaSize,
    ipaSize,
    paSize,
    pgsizeBitmap: pgsizeBitmap >>> 0,
  };
}
