/**
 * Decoding a context bank's registers into the translation unit's {@link StreamConfig}: what the
 * SMMU's table walker does with CBAR, CBA2R, SCTLR, TCR/TCR2, TTBR0 and CONTEXTIDR when a
 * transaction arrives. Formats: AArch64 (CBA2R.VA64) LPAE stage 1 with 4K/16K/64K granules, LPAE
 * stage 2, AArch32 LPAE stage 1 (TCR.EAE) and AArch32 short descriptors (ARMv7 `arm-v7s`).
 *
 * @module
 */
import type { StageConfig, StreamConfig } from "@iommu-sim/hw";
import { ADDRESS_SIZE_BITS, CBA2R, CBAR, CbarType, SCTLR, TCR, TCR2 } from "./registers.js";

/** The raw registers of one context bank that decide how it translates. */
export interface ContextBankRegisters {
  /** Context bank index. */
  readonly index: number;
  readonly cbar: number;
  readonly cba2r: number;
  readonly sctlr: number;
  readonly tcr: number;
  readonly tcr2: number;
  readonly ttbr0Lo: number;
  readonly ttbr0Hi: number;
  readonly contextidr: number;
}

/** FSR.FORMAT values: the translation regime of the bank that faulted. */
export const FsrFormat = { AARCH32_SHORT: 0, AARCH32_LONG: 1, AARCH64: 2 } as const;

/** A decoded context bank. */
export interface DecodedContextBank {
  /** What the translation unit does with the bank's transactions. */
  readonly config: StreamConfig;
  /** Stage that translates (1 or 2); 0 when the bank does not translate. */
  readonly stage: 0 | 1 | 2;
  /** FSR.FORMAT the bank reports its faults with. */
  readonly format: number;
  /** The bank's VMID (CBAR.VMID), IOTLB tag of every entry it fills. */
  readonly vmid: number;
  /** True when ASIDs are private to the bank (SCTLR.ASIDPNE). */
  readonly privateAsids: boolean;
  /** Why the bank refuses to translate, when `config.mode` is `"abort"`. */
  readonly problem?: string;
}

const TG0_GRANULE = [4096, 65536, 16384, 0] as const;

/**
 * The IOTLB ASID tag of `asid` used in bank `index`: with private ASID namespaces (SCTLR.ASIDPNE)
 * the tag is unique to the bank, so two banks using the same ASID never share TLB entries.
 */
export function asidTag(index: number, asid: number, privateAsids: boolean): number {
  return privateAsids ? (index + 1) * 0x1_0000 + asid : asid;
}

function abort(problem: string, vmid: number, format: number): DecodedContextBank {
  return { config: { mode: "abort" }, stage: 0, format, vmid, privateAsids: false, problem };
}

/** Decodes a context bank. Banks with SCTLR.M clear pass transactions untranslated. */
export function decodeContextBank(r: ContextBankRegisters): DecodedContextBank {
  const vmid = r.cbar & CBAR.VMID_MASK;
  const type = (r.cbar >>> CBAR.TYPE_SHIFT) & 3;
  const aarch64 = (r.cba2r & CBA2R.VA64) !== 0;
  const longDescriptor = aarch64 || (r.tcr & TCR.EAE) !== 0 || type === CbarType.S2_TRANS;
  const format = aarch64
    ? FsrFormat.AARCH64
    : longDescriptor
      ? FsrFormat.AARCH32_LONG
      : FsrFormat.AARCH32_SHORT;
  if ((r.sctlr & SCTLR.M) === 0)
    return { config: { mode: "bypass" }, stage: 0, format, vmid, privateAsids: false };
  if (type === CbarType.S1_TRANS_S2_FAULT || type === CbarType.S1_TRANS_S2_TRANS) {
    return abort(
      `CBAR.TYPE ${type} (stage 1 followed by stage 2 fault/translate) is not modelled`,
      vmid,
      format,
    );
  }
  // The table base: TTBR0[47:4] for long descriptors (BADDR, CnP clear), TTBR0[31:14] for short.
  const base = longDescriptor
    ? (r.ttbr0Hi & 0xffff) * 2 ** 32 + ((r.ttbr0Lo & ~0xf) >>> 0)
    : (r.ttbr0Lo & 0xffffc000) >>> 0;
  if (type === CbarType.S2_TRANS) {
    const tsz = r.tcr & TCR.T0SZ_MASK;
    const granule = TG0_GRANULE[(r.tcr >>> TCR.TG0_SHIFT) & 3]!;
    const oas = ADDRESS_SIZE_BITS[(r.tcr >>> TCR.PS_SHIFT) & 7];
    if (granule === 0 || oas === undefined)
      return abort(`VTCR ${r.tcr.toString(16)} is reserved`, vmid, format);
    const stage2: StageConfig = { format: "arm-lpae-s2", root: base, ias: 64 - tsz, oas, granule };
    return { config: { mode: "translate", stage2, vmid }, stage: 2, format, vmid, privateAsids: false };
  }
  const privateAsids = (r.sctlr & SCTLR.ASIDPNE) !== 0;
  if (format === FsrFormat.AARCH32_SHORT) {
    // TTBCR.N = 0: TTBR0 covers the whole 32-bit space; the ASID is CONTEXTIDR[7:0].
    const stage1: StageConfig = { format: "arm-v7s", root: base, ias: 32, oas: 32 };
    const asid = asidTag(r.index, r.contextidr & 0xff, privateAsids);
    return { config: { mode: "translate", stage1, asid, vmid }, stage: 1, format, vmid, privateAsids };
  }
  const asid = asidTag(r.index, r.ttbr0Hi >>> 16, privateAsids);
  if (format === FsrFormat.AARCH64) {
    const tsz = r.tcr & TCR.T0SZ_MASK;
    const granule = TG0_GRANULE[(r.tcr >>> TCR.TG0_SHIFT) & 3]!;
    const oas = ADDRESS_SIZE_BITS[r.tcr2 & TCR2.PASIZE_MASK];
    if (granule === 0 || oas === undefined)
      return abort(`TCR ${r.tcr.toString(16)} / TCR2 is reserved`, vmid, format);
    const stage1: StageConfig = { format: "arm-lpae-s1", root: base, ias: 64 - tsz, oas, granule };
    return { config: { mode: "translate", stage1, asid, vmid }, stage: 1, format, vmid, privateAsids };
  }
  // AArch32 long descriptor: 32-bit input (T0SZ[2:0]), 40-bit output, 4K granule.
  const stage1: StageConfig = {
    format: "arm-lpae-s1",
    root: base,
    ias: 32 - (r.tcr & 7),
    oas: 40,
    granule: 4096,
  };
  return { config: { mode: "translate", stage1, asid, vmid }, stage: 1, format, vmid, privateAsids };
}
