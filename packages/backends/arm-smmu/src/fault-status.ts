/** Bits of a context bank's fault status register (ARM_SMMU_CB_FSR, offset 0x58). */
export const CbFsr = {
  TF: 1 << 1,
  AFF: 1 << 2,
  PF: 1 << 3,
  EF: 1 << 4,
  TLBMCF: 1 << 5,
  TLBLKF: 1 << 6,
  ASF: 1 << 7,
  UUT: 1 << 8,
  SS: 1 << 30,
  MULTI: 2 ** 31,
} as const;

/** Bits of FSYNR0 (ARM_SMMU_CB_FSYNR0, offset 0x68). */
export const CbFsynr0 = {
  PLVL_MASK: 0x3,
  WNR: 1 << 4,
  PNU: 1 << 5,
  IND: 1 << 6,
  NSATTR: 1 << 8,
  PTWF: 1 << 10,
  AFR: 1 << 11,
} as const;

/** The names of the FSR bits set in `fsr`, most significant first, as Linux prints them. */
export function fsrNames(fsr: number): string[] {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(CbFsr).reverse()) if ((fsr & bit) !== 0) names.push(name);
  return names;
}

/** Decodes FSYNR0: page-table level, write/read, privileged, instruction, stage-1 walk fault. */
export function decodeFsynr0(fsynr0: number): {
  level: number;
  write: boolean;
  privileged: boolean;
  instruction: boolean;
  walkFault: boolean;
} {
  return {
    level: fsynr0 & CbFsynr0.PLVL_MASK,
    write: (fsynr0 & CbFsynr0.WNR) !== 0,
    privileged: (fsynr0 & CbFsynr0.PNU) !== 0,
    instruction: (fsynr0 & CbFsynr0.IND) !== 0,
    walkFault: (fsynr0 & CbFsynr0.PTWF) !== 0,
  };
}

/**
 * The FSR bits the context fault handler treats as a fault (`ARM_SMMU_CB_FSR_FAULT`): MULTI, UUT,
 * EF, PF, TF and the "ignored" AFF, ASF, TLBMCF, TLBLKF. Mainline dropped SS from the set when it
 * learned to resume stalled transactions (v6.15); stall is not modelled here.
 */
export const CB_FSR_FAULT =
  (CbFsr.MULTI |
    CbFsr.UUT |
    CbFsr.EF |
    CbFsr.PF |
    CbFsr.TF |
    CbFsr.AFF |
    CbFsr.ASF |
    CbFsr.TLBMCF |
    CbFsr.TLBLKF) >>>
  0;
