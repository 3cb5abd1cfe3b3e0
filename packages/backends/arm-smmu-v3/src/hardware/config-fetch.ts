/**
 * The SMMU's configuration fetch: StreamID -> stream table (linear or 2-level) -> STE -> CD table
 * (linear or 2-level) -> CDs, read from physical memory only and decoded into the translation unit's
 * {@link StreamConfig}, or into the configuration error the SMMU reports (C_BAD_STREAMID,
 * C_BAD_STE, C_BAD_CD, F_STE_FETCH, F_CD_FETCH). Spec: SMMUv3 section 5 (STE, CD); hw-facts 6.
 */
import { getFormat, type PhysMemory, type StageConfig, type StreamConfig } from "@iommu-sim/hw";
import {
  CD_AA64,
  CD_ASID,
  CD_BYTES,
  CD_DWORDS,
  CD_EPD0,
  CD_IPS,
  CD_L1_L2PTR,
  CD_L1_V,
  CD_R,
  CD_T0SZ,
  CD_TG0,
  CD_TTB0,
  CD_V,
  PS_BITS,
  TG0_GRANULES,
} from "../arch/cd.js";
import {
  EVT_ID_BAD_CD,
  EVT_ID_BAD_STE,
  EVT_ID_BAD_STREAMID,
  EVT_ID_CD_FETCH,
  EVT_ID_STE_FETCH,
} from "../arch/events.js";
import {
  STE_BYTES,
  STE_CFG,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_NESTED,
  STE_CFG_S1_TRANS,
  STE_CFG_S2_TRANS,
  STE_DWORDS,
  STE_S1CDMAX,
  STE_S1CTXPTR,
  STE_S1DSS,
  STE_S1DSS_BYPASS,
  STE_S1DSS_SSID0,
  STE_S1FMT,
  STE_S2AA64,
  STE_S2PS,
  STE_S2R,
  STE_S2SL0,
  STE_S2T0SZ,
  STE_S2TG,
  STE_S2TTB,
  STE_S2VMID,
  STE_V,
  STRTAB_L1_L2PTR,
  STRTAB_L1_SPAN,
} from "../arch/ste.js";
import { getAddress, getField, readWords } from "../arch/words.js";

/** Where the stream table is, as the STRTAB_BASE / STRTAB_BASE_CFG registers say. */
export interface StreamTableRegisters {
  /** STRTAB_BASE.ADDR. */
  readonly base: number;
  /** STRTAB_BASE_CFG.LOG2SIZE: log2 of the number of StreamIDs the table covers. */
  readonly log2size: number;
  /** STRTAB_BASE_CFG.SPLIT (2-level only). */
  readonly split: number;
  /** STRTAB_BASE_CFG.FMT: 0 linear, 1 2-level. */
  readonly fmt: number;
}

/** A fetched configuration: what the config cache holds for one StreamID. */
export interface FetchedConfig {
  /** The translation unit's configuration; absent when the fetch ended in a configuration error. */
  readonly config: StreamConfig | undefined;
  /** The event ID of the configuration error (C_BAD_STE, ...), 0 when none. */
  readonly error: number;
  /** Stage-1 faults are recorded (CD.R). */
  readonly recordS1: boolean;
  /** Stage-2 faults are recorded (STE.S2R). */
  readonly recordS2: boolean;
  /** Physical address of the STE (for dumps), -1 when the StreamID has none. */
  readonly steAddress: number;
}

/** What the SMMU supports, as far as configuration decoding needs it. */
export interface FetchLimits {
  /** IDR1.SIDSIZE. */
  readonly sidBits: number;
  /** IDR1.SSIDSIZE. */
  readonly ssidBits: number;
  /** IDR5.OAS in bits. */
  readonly oas: number;
  /** Granules of IDR5. */
  readonly granules: readonly number[];
  /** IDR0.S1P / S2P. */
  readonly stage1: boolean;
  readonly stage2: boolean;
}

// Past this many CDs per stream the model stops decoding substreams (a model limit, not the spec's).
const MAX_DECODED_SSIDS = 4096;

const error = (id: number, steAddress = -1): FetchedConfig => ({
  config: undefined,
  error: id,
  recordS1: true,
  recordS2: true,
  steAddress,
});

/** Physical address of the STE of `sid`, or an event ID (negated) when the table has none. */
export function locateSte(
  memory: PhysMemory,
  regs: StreamTableRegisters,
  limits: FetchLimits,
  sid: number,
): number {
  if (sid >= 2 ** Math.min(regs.log2size, limits.sidBits)) return -EVT_ID_BAD_STREAMID;
  if (regs.fmt === 0) return regs.base + sid * STE_BYTES;
  const l1 = new Uint32Array(2);
  readWords(memory, regs.base + Math.floor(sid / 2 ** regs.split) * 8, l1);
  const span = getField(l1, ...STRTAB_L1_SPAN);
  if (span === 0) return -EVT_ID_BAD_STREAMID;
  const index = sid % 2 ** regs.split;
  if (span > regs.split + 1 || index >= 2 ** (span - 1)) return -EVT_ID_BAD_STREAMID;
  return getAddress(l1, ...STRTAB_L1_L2PTR) + index * STE_BYTES;
}

/**
 * Fetches and decodes the configuration of `sid` from memory. Never throws: an unreadable structure
 * becomes F_STE_FETCH / F_CD_FETCH, a malformed one C_BAD_STE / C_BAD_CD.
 */
export function fetchStreamConfig(
  memory: PhysMemory,
  regs: StreamTableRegisters,
  limits: FetchLimits,
  sid: number,
): FetchedConfig {
  let steAddress: number;
  const ste = new Uint32Array(2 * STE_DWORDS);
  try {
    steAddress = locateSte(memory, regs, limits, sid);
    if (steAddress < 0) return error(-steAddress);
    readWords(memory, steAddress, ste);
  } catch {
    return error(EVT_ID_STE_FETCH);
  }
  if (getField(ste, ...STE_V) === 0) return error(EVT_ID_BAD_STE, steAddress);
  const cfg = getField(ste, ...STE_CFG);
  if (cfg === STE_CFG_ABORT)
    return {
      config: { mode: "abort", record: false },
      error: 0,
      recordS1: false,
      recordS2: false,
      steAddress,
    };
  if (cfg === STE_CFG_BYPASS)
    return { config: { mode: "bypass" }, error: 0, recordS1: true, recordS2: true, steAddress };
  const s1 = cfg === STE_CFG_S1_TRANS || cfg === STE_CFG_NESTED;
  const s2 = cfg === STE_CFG_S2_TRANS || cfg === STE_CFG_NESTED;
  if (!s1 && !s2) return error(EVT_ID_BAD_STE, steAddress);
  if ((s1 && !limits.stage1) || (s2 && !limits.stage2)) return error(EVT_ID_BAD_STE, steAddress);

  let stage2: StageConfig | undefined;
  let vmid = 0;
  let recordS2 = true;
  if (s2) {
    const decoded = decodeS2(ste, limits);
    if (decoded === undefined) return error(EVT_ID_BAD_STE, steAddress);
    stage2 = decoded;
    vmid = getField(ste, ...STE_S2VMID);
    recordS2 = getField(ste, ...STE_S2R) === 1;
  }
  if (!s1) {
    return {
      config: { mode: "translate", stage2: stage2!, vmid },
      error: 0,
      recordS1: true,
      recordS2,
      steAddress,
    };
  }

  // Stage 1: the CD table.
  const ctxPtr = getAddress(ste, ...STE_S1CTXPTR);
  const cdMax = getField(ste, ...STE_S1CDMAX);
  const s1Fmt = getField(ste, ...STE_S1FMT);
  const s1dss = getField(ste, ...STE_S1DSS);
  if (cdMax > limits.ssidBits || (cdMax > 0 && s1Fmt > 2)) return error(EVT_ID_BAD_STE, steAddress);
  const cd = new Uint32Array(2 * CD_DWORDS);
  const readCd = (ssid: number): number => {
    // Returns the CD's address, or -1 when a level-1 descriptor says it is not present.
    if (cdMax === 0 || s1Fmt === 0) return ctxPtr + ssid * CD_BYTES;
    const split = s1Fmt === 1 ? 6 : 10;
    const l1 = new Uint32Array(2);
    readWords(memory, ctxPtr + Math.floor(ssid / 2 ** split) * 8, l1);
    if (getField(l1, ...CD_L1_V) === 0) return -1;
    return getAddress(l1, ...CD_L1_L2PTR) + (ssid % 2 ** split) * CD_BYTES;
  };
  let recordS1 = true;
  let stage1: (StageConfig & { asid: number }) | undefined;
  let asid = 0;
  const pasids = new Map<number, StageConfig & { asid: number }>();
  try {
    const total = Math.min(2 ** cdMax, MAX_DECODED_SSIDS);
    for (let ssid = 0; ssid < total; ssid++) {
      const at = readCd(ssid);
      if (at < 0) continue;
      readWords(memory, at, cd);
      if (getField(cd, ...CD_V) === 0) {
        // CD 0 must be valid when it serves non-substream traffic.
        if (ssid === 0 && (cdMax === 0 || s1dss === STE_S1DSS_SSID0)) return error(EVT_ID_BAD_CD, steAddress);
        continue;
      }
      const stage = decodeCd(cd, limits);
      if (stage === undefined) return error(EVT_ID_BAD_CD, steAddress);
      if (ssid === 0) {
        stage1 = stage;
        asid = stage.asid;
        recordS1 = getField(cd, ...CD_R) === 1;
      } else {
        pasids.set(ssid, stage);
      }
    }
  } catch {
    return error(EVT_ID_CD_FETCH, steAddress);
  }
  if (cdMax === 0) {
    return {
      config: { mode: "translate", stage1: stage1!, asid, vmid, ...(stage2 ? { stage2 } : {}) },
      error: 0,
      recordS1,
      recordS2,
      steAddress,
    };
  }
  // With substreams, SSID 0 is reserved for non-substream traffic when S1DSS = SSID0.
  const noPasid = s1dss === STE_S1DSS_SSID0 ? "stage1" : s1dss === STE_S1DSS_BYPASS ? "bypass" : "abort";
  return {
    config: {
      mode: "translate",
      ...(noPasid === "stage1" && stage1 ? { stage1 } : {}),
      ...(stage2 ? { stage2 } : {}),
      asid,
      vmid,
      pasids,
      noPasid,
    },
    error: 0,
    recordS1,
    recordS2,
    steAddress,
  };
}

function decodeCd(cd: Uint32Array, limits: FetchLimits): (StageConfig & { asid: number }) | undefined {
  // The model walks AArch64 tables only; an AArch32 CD (AA64 = 0) is refused as malformed.
  if (getField(cd, ...CD_AA64) === 0) return undefined;
  // EPD0 with no TTB1 use means every input address faults; refuse rather than model TTB1.
  if (getField(cd, ...CD_EPD0) === 1) return undefined;
  const granule = TG0_GRANULES[getField(cd, ...CD_TG0)];
  const ips = PS_BITS[getField(cd, ...CD_IPS)];
  const ias = 64 - getField(cd, ...CD_T0SZ);
  if (granule === undefined || ips === undefined || !limits.granules.includes(granule)) return undefined;
  if (ias < 16 || ias > (granule === 65536 ? 52 : 48)) return undefined;
  // An IPS larger than the SMMU's OAS behaves as the OAS (SMMUv3 5.4, CD.IPS).
  const oas = Math.min(ips, limits.oas);
  const stage = { format: "arm-lpae-s1" as const, root: getAddress(cd, ...CD_TTB0), ias, oas, granule };
  try {
    getFormat("arm-lpae-s1").geometry({ ias, oas, granule });
  } catch {
    return undefined;
  }
  // CD.A / CD.S choose terminate or stall: the model only terminates.
  return { ...stage, asid: getField(cd, ...CD_ASID) };
}

function decodeS2(ste: Uint32Array, limits: FetchLimits): StageConfig | undefined {
  if (getField(ste, ...STE_S2AA64) === 0) return undefined;
  const granule = TG0_GRANULES[getField(ste, ...STE_S2TG)];
  const ps = PS_BITS[getField(ste, ...STE_S2PS)];
  const ias = 64 - getField(ste, ...STE_S2T0SZ);
  if (granule === undefined || ps === undefined || !limits.granules.includes(granule)) return undefined;
  const oas = Math.min(ps, limits.oas);
  let startLevel: number;
  try {
    startLevel = getFormat("arm-lpae-s2").geometry({ ias, oas, granule }).startLevel;
  } catch {
    return undefined;
  }
  // The model's walker derives the start level from T0SZ and the granule (with mandatory
  // concatenation); an SL0 that disagrees is an inconsistent VTCR, reported as C_BAD_STE.
  const expectedSl0 = ~(startLevel + (granule === 4096 ? 1 : 0)) & 3;
  if (getField(ste, ...STE_S2SL0) !== expectedSl0) return undefined;
  return { format: "arm-lpae-s2", root: getAddress(ste, ...STE_S2TTB), ias, oas, granule };
}
