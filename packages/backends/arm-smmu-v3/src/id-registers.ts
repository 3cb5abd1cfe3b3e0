import { IommuError } from "@iommu-sim/iommu";

/** Raw SMMUv3 ID register values, as read from SMMU_IDR0/1/3/5 (offsets 0x0, 0x4, 0xc, 0x14). */
export interface SmmuV3IdRegisterValues {
  idr0: number;
  idr1: number;
  idr3?: number;
  idr5: number;
}

/** The features Linux's arm-smmu-v3 driver derives from the ID registers (`arm_smmu_device_hw_probe`). */
export interface SmmuV3IdFeatures {
  stage1: boolean;
  stage2: boolean;
  /** Translation table formats: 2 = AArch64 only, 3 = AArch32 and AArch64 (IDR0.TTF). */
  ttf: number;
  coherent: boolean;
  /** Hardware translation table update: 0 none, 1 access flag, 2 access + dirty (IDR0.HTTU). */
  httu: number;
  ats: boolean;
  asidBits: 8 | 16;
  vmidBits: 8 | 16;
  msi: boolean;
  sev: boolean;
  pri: boolean;
  /** Two-level context-descriptor tables supported (IDR0.CD2L). */
  cd2l: boolean;
  /** IDR0.TTENDIAN: 0 mixed, 2 little-endian only, 3 big-endian only. */
  ttEndian: number;
  /** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only (no stall), 2 stall forced. */
  stallModel: number;
  /** Stream table format: "linear" or "2-level" (IDR0.ST_LVL). */
  streamTable: "linear" | "2-level";
  /** Stream ID width (IDR1.SIDSIZE). */
  sidBits: number;
  /** Substream ID width (IDR1.SSIDSIZE). */
  ssidBits: number;
  /** log2 of the event and command queue sizes (IDR1.EVTQS, IDR1.CMDQS). */
  evtqShift: number;
  cmdqShift: number;
  /** IDR3: stage-2 forced write-back, range invalidation, break-before-make level. */
  fwb: boolean;
  rangeInvalidation: boolean;
  bbml: number;
  /** Output address size in bits (IDR5.OAS). */
  oas: number;
  /** Supported granules in bytes (IDR5.GRAN4K/16K/64K). */
  granules: number[];
  /** IDR5.VAX: 52-bit virtual addresses with 64 KiB granule. */
  vax: boolean;
}

const OAS_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

const field = (value: number, hi: number, lo: number): number => (value >>> lo) & (2 ** (hi - lo + 1) - 1);

/**
 * Decodes SMMUv3 ID registers into the features the Linux driver derives from them, refusing the
 * combinations it refuses (no translation stage, an undefined OAS encoding, no granule) with EINVAL
 * naming the register value. Field positions: hw-facts section 6.
 */
export function decodeSmmuV3IdRegisters(regs: SmmuV3IdRegisterValues): SmmuV3IdFeatures {
  const { idr0, idr1, idr5 } = regs;
  const idr3 = regs.idr3 ?? 0;
  const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;
  const stage2 = field(idr0, 0, 0) === 1;
  const stage1 = field(idr0, 1, 1) === 1;
  if (!stage1 && !stage2)
    throw new IommuError("EINVAL", `IDR0 ${hex(idr0)} advertises no translation stage (S1P = S2P = 0)`);
  const ttf = field(idr0, 3, 2);
  if (ttf !== 2 && ttf !== 3)
    throw new IommuError("EINVAL", `IDR0 ${hex(idr0)}: TTF ${ttf} has no AArch64 table format`);
  const stLvl = field(idr0, 28, 27);
  if (stLvl > 1) throw new IommuError("EINVAL", `IDR0 ${hex(idr0)}: ST_LVL ${stLvl} is reserved`);
  const oasField = field(idr5, 2, 0);
  const oas = OAS_BITS[oasField];
  if (oas === undefined)
    throw new IommuError("EINVAL", `IDR5 ${hex(idr5)}: OAS encoding ${oasField} is reserved`);
  const granules = [
    field(idr5, 4, 4) ? 4096 : 0,
    field(idr5, 5, 5) ? 16384 : 0,
    field(idr5, 6, 6) ? 65536 : 0,
  ].filter((g) => g !== 0);
  if (granules.length === 0)
    throw new IommuError("EINVAL", `IDR5 ${hex(idr5)} advertises no translation granule`);
  return {
    stage1,
    stage2,
    ttf,
    coherent: field(idr0, 4, 4) === 1,
    httu: field(idr0, 7, 6),
    ats: field(idr0, 10, 10) === 1,
    asidBits: field(idr0, 12, 12) ? 16 : 8,
    msi: field(idr0, 13, 13) === 1,
    sev: field(idr0, 14, 14) === 1,
    pri: field(idr0, 16, 16) === 1,
    vmidBits: field(idr0, 18, 18) ? 16 : 8,
    cd2l: field(idr0, 19, 19) === 1,
    ttEndian: field(idr0, 22, 21),
    stallModel: field(idr0, 25, 24),
    streamTable: stLvl === 1 ? "2-level" : "linear",
    sidBits: field(idr1, 5, 0),
    ssidBits: field(idr1, 10, 6),
    evtqShift: field(idr1, 20, 16),
    cmdqShift: field(idr1, 25, 21),
    fwb: field(idr3, 8, 8) === 1,
    rangeInvalidation: field(idr3, 10, 10) === 1,
    bbml: field(idr3, 12, 11),
    oas,
    granules,
    vax: field(idr5, 11, 10) === 1,
  };
}
