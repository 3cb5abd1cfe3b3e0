/**
 * The lines Linux's arm-smmu driver logs for faults, formatted exactly as the kernel's format
 * strings produce them (`arm_smmu_print_context_fault_info()` since v6.11, and
 * `arm_smmu_global_fault()`), and the kernel's default printk rate limit.
 *
 * @module
 */
import { CbFsr, CbFsynr0 } from "../fault-status.js";
import { FSR_FORMAT_SHIFT, FSYNR0_S1CBNDX_SHIFT } from "../hardware/registers.js";

/** What the context fault handler read (`struct arm_smmu_context_fault_info`). */
export interface ContextFaultInfo {
  readonly fsr: number;
  readonly fsynr0: number;
  /** FAR. */
  readonly iova: number;
  readonly cbfrsynra: number;
}

const x = (v: number): string => (v >>> 0).toString(16);
const x08 = (v: number): string => x(v).padStart(8, "0");

/**
 * The three lines of an unhandled context fault, as `arm_smmu_print_context_fault_info()` prints
 * them: the summary (`"Unhandled context fault: fsr=0x%x, iova=0x%08lx, fsynr=0x%x,
 * cbfrsynra=0x%x, cb=%d"`), the FSR decoded (`"FSR    = %08x [...], SID=0x%x"`) and FSYNR0
 * decoded (`"FSYNR0 = %08x [S1CBNDX=%u... PLVL=%u]"`).
 */
export function contextFaultLines(info: ContextFaultInfo, cb: number): [string, string, string] {
  const { fsr, fsynr0, iova, cbfrsynra } = info;
  const f = (bit: number, name: string): string => ((fsr & bit) !== 0 ? name : "");
  const s = (bit: number, name: string): string => ((fsynr0 & bit) !== 0 ? name : "");
  return [
    `Unhandled context fault: fsr=0x${x(fsr)}, iova=0x${iova.toString(16).padStart(8, "0")}, fsynr=0x${x(fsynr0)}, cbfrsynra=0x${x(cbfrsynra)}, cb=${cb}`,
    `FSR    = ${x08(fsr)} [${f(CbFsr.MULTI, "MULTI ")}${f(CbFsr.SS, "SS ")}Format=${(fsr >>> FSR_FORMAT_SHIFT) & 3}` +
      `${f(CbFsr.UUT, " UUT")}${f(CbFsr.ASF, " ASF")}${f(CbFsr.TLBLKF, " TLBLKF")}${f(CbFsr.TLBMCF, " TLBMCF")}` +
      `${f(CbFsr.EF, " EF")}${f(CbFsr.PF, " PF")}${f(CbFsr.AFF, " AFF")}${f(CbFsr.TF, " TF")}], SID=0x${x(cbfrsynra)}`,
    `FSYNR0 = ${x08(fsynr0)} [S1CBNDX=${(fsynr0 >>> FSYNR0_S1CBNDX_SHIFT) & 0xff}${s(CbFsynr0.AFR, " AFR")}` +
      `${s(CbFsynr0.PTWF, " PTWF")}${s(CbFsynr0.NSATTR, " NSATTR")}${s(CbFsynr0.IND, " IND")}${s(CbFsynr0.PNU, " PNU")}` +
      `${s(CbFsynr0.WNR, " WNR")} PLVL=${fsynr0 & CbFsynr0.PLVL_MASK}]`,
  ];
}

/** What the global fault handler read. */
export interface GlobalFaultInfo {
  readonly gfsr: number;
  readonly gfsynr0: number;
  readonly gfsynr1: number;
  readonly gfsynr2: number;
}

/** The two lines of `arm_smmu_global_fault()`; `disableBypass` selects the unknown-stream wording. */
export function globalFaultLines(info: GlobalFaultInfo, disableBypass: boolean): [string, string] {
  const USF = 1 << 1;
  const first =
    disableBypass && (info.gfsr & USF) !== 0
      ? `Blocked unknown Stream ID 0x${(info.gfsynr1 & 0xffff).toString(16)}; boot with "arm-smmu.disable_bypass=0" to allow, but this may have security implications`
      : "Unexpected global fault, this could be serious";
  return [
    first,
    `\tGFSR 0x${x08(info.gfsr)}, GFSYNR0 0x${x08(info.gfsynr0)}, GFSYNR1 0x${x08(info.gfsynr1)}, GFSYNR2 0x${x08(info.gfsynr2)}`,
  ];
}

/**
 * A printk rate limit (`DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL,
 * DEFAULT_RATELIMIT_BURST)`): at most `burst` messages per `intervalNs` of virtual time.
 * @param burst @default 10
 * @param intervalNs @default 5 s (5 * HZ)
 */
export function createRatelimit(burst = 10, intervalNs = 5e9): (now: number) => boolean {
  let begin = Number.NEGATIVE_INFINITY;
  let printed = 0;
  return (now) => {
    if (now - begin >= intervalNs) {
      begin = now;
      printed = 0;
    }
    if (printed >= burst) return false;
    printed++;
    return true;
  };
}
