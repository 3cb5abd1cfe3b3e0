/**
 * The SMMU v2 identification registers ID0, ID1 and ID2: their fields (arm-smmu.h `ARM_SMMU_ID*`),
 * an encoder from a readable description, and the MMU-500-like defaults the backend uses.
 *
 * @module
 */
import { IommuError } from "@iommu-sim/iommu";
import { addressSizeEncoding } from "./registers.js";

/** ID0 fields. */
export const ID0 = {
  NUMSMRG_MASK: 0xff,
  EXIDS: 1 << 8,
  NUMSIDB_SHIFT: 9,
  NUMSIDB_MASK: 0xf,
  CTTW: 1 << 14,
  NUMIRPT_SHIFT: 16,
  PTFS_NO_AARCH32S: 1 << 24,
  PTFS_NO_AARCH32: 1 << 25,
  ATOSNS: 1 << 26,
  SMS: 1 << 27,
  NTS: 1 << 28,
  S2TS: 1 << 29,
  S1TS: 1 << 30,
} as const;

/** ID1 fields. */
export const ID1 = {
  NUMCB_MASK: 0xff,
  NUMS2CB_SHIFT: 16,
  NUMS2CB_MASK: 0xff,
  NUMPAGENDXB_SHIFT: 28,
  NUMPAGENDXB_MASK: 0x7,
  PAGESIZE: 2 ** 31,
} as const;

/** ID2 fields. */
export const ID2 = {
  IAS_MASK: 0xf,
  OAS_SHIFT: 4,
  UBS_SHIFT: 8,
  PTFS_4K: 1 << 12,
  PTFS_16K: 1 << 13,
  PTFS_64K: 1 << 14,
  VMID16: 1 << 15,
} as const;

/** Raw ID register values. */
export interface SmmuIdRegisters {
  readonly id0: number;
  readonly id1: number;
  readonly id2: number;
}

/** A readable description of an SMMU's identification, encoded by {@link encodeIdRegisters}. */
export interface SmmuIdDescription {
  /** Stream match register groups (ID0.NUMSMRG, 1..128). */
  streamMatchGroups: number;
  /** Context banks (ID1.NUMCB, 1..128). */
  contextBanks: number;
  /** Of those, banks that only support stage 2 (ID1.NUMS2CB); they come first. */
  stage2OnlyContextBanks: number;
  /** StreamID bits (ID0.NUMSIDB). */
  streamIdBits: number;
  /** Stage-1 translation (ID0.S1TS). */
  stage1: boolean;
  /** Stage-2 translation (ID0.S2TS). */
  stage2: boolean;
  /** Nested translation (ID0.NTS). */
  nested: boolean;
  /** Coherent table walks (ID0.CTTW). */
  coherentWalk: boolean;
  /** AArch32 long-descriptor (LPAE) contexts (!ID0.PTFS_NO_AARCH32). */
  aarch32Long: boolean;
  /** AArch32 short-descriptor contexts (!ID0.PTFS_NO_AARCH32S). */
  aarch32Short: boolean;
  /** AArch64 granules (ID2.PTFS_4K/16K/64K). */
  granules: readonly (4096 | 16384 | 65536)[];
  /** Intermediate physical address size in bits (ID2.IAS): stage-1 output, stage-2 input. */
  ias: number;
  /** Physical address size in bits (ID2.OAS): stage-2 output. */
  oas: number;
  /** Upstream (input) bus size in bits (ID2.UBS): the stage-1 input range. */
  ubs: number;
}

/**
 * MMU-500-like defaults: stage 1, stage 2 and nesting; 4K/16K/64K granules and both AArch32
 * formats; 48-bit IAS/OAS/UBS; 15-bit StreamIDs; coherent walks. The MMU-500 is configurable up to
 * 128 SMRs and 128 context banks; the defaults are smaller, 32 SMRs and 16 banks, none stage-2 only.
 */
export const MMU500_ID_DEFAULTS: Readonly<SmmuIdDescription> = {
  streamMatchGroups: 32,
  contextBanks: 16,
  stage2OnlyContextBanks: 0,
  streamIdBits: 15,
  stage1: true,
  stage2: true,
  nested: true,
  coherentWalk: true,
  aarch32Long: true,
  aarch32Short: true,
  granules: [4096, 16384, 65536],
  ias: 48,
  oas: 48,
  ubs: 48,
};

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new IommuError("EINVAL", `${what} ${value} must be an integer from ${min} to ${max}`);
  }
}

/** Register pages before the context banks: 2^(NUMPAGENDXB + 1), at least one per bank. */
export function numPageIndexBits(contextBanks: number): number {
  let n = 0;
  while (2 ** (n + 1) < contextBanks) n++;
  return n;
}

/** Encodes a description into ID0/ID1/ID2 values. Throws `EINVAL` for values out of range. */
export function encodeIdRegisters(d: SmmuIdDescription): SmmuIdRegisters {
  checkRange(d.streamMatchGroups, 0, 128, "streamMatchGroups");
  checkRange(d.contextBanks, 1, 128, "contextBanks");
  checkRange(d.stage2OnlyContextBanks, 0, d.contextBanks, "stage2OnlyContextBanks");
  checkRange(d.streamIdBits, 1, 15, "streamIdBits");
  let id0 =
    d.streamMatchGroups |
    (d.streamIdBits << ID0.NUMSIDB_SHIFT) |
    (1 << ID0.NUMIRPT_SHIFT) |
    // No address translation operations for the non-secure side: the driver walks in software.
    ID0.ATOSNS |
    (d.streamMatchGroups > 0 ? ID0.SMS : 0) |
    (d.coherentWalk ? ID0.CTTW : 0) |
    (d.stage1 ? ID0.S1TS : 0) |
    (d.stage2 ? ID0.S2TS : 0) |
    (d.nested ? ID0.NTS : 0);
  if (!d.aarch32Long) id0 |= ID0.PTFS_NO_AARCH32 | ID0.PTFS_NO_AARCH32S;
  else if (!d.aarch32Short) id0 |= ID0.PTFS_NO_AARCH32S;
  const id1 =
    d.contextBanks |
    (d.stage2OnlyContextBanks << ID1.NUMS2CB_SHIFT) |
    (numPageIndexBits(d.contextBanks) << ID1.NUMPAGENDXB_SHIFT);
  let id2 =
    addressSizeEncoding(d.ias) |
    (addressSizeEncoding(d.oas) << ID2.OAS_SHIFT) |
    (addressSizeEncoding(d.ubs) << ID2.UBS_SHIFT);
  for (const g of d.granules) id2 |= g === 4096 ? ID2.PTFS_4K : g === 16384 ? ID2.PTFS_16K : ID2.PTFS_64K;
  return { id0: id0 >>> 0, id1: id1 >>> 0, id2: id2 >>> 0 };
}
