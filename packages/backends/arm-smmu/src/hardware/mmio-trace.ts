/**
 * A log of the register writes the driver makes, for tests and dumps: which register space, which
 * register by name, and the value written. Recording is off unless a trace is started, so the hot
 * path allocates nothing.
 *
 * @module
 */
import { Cb, Gr0, Gr1 } from "./registers.js";

/** One register write. */
export interface MmioWrite {
  /** `"GR0"`, `"GR1"` or `"CB<n>"`. */
  readonly space: string;
  /** Offset within the space's page. */
  readonly offset: number;
  /** Register name (`"SMR3"`, `"CBAR0"`, `"TLBIVAL"`...), or the hex offset when unnamed. */
  readonly name: string;
  /** Access width. */
  readonly width: 32 | 64;
  /** Value written. */
  readonly value: bigint;
}

const GR0_NAMES = new Map<number, string>(Object.entries(Gr0).map(([k, v]) => [v, k]));
const GR1_NAMES = new Map<number, string>(Object.entries(Gr1).map(([k, v]) => [v, k]));
const CB_NAMES = new Map<number, string>(Object.entries(Cb).map(([k, v]) => [v, k]));

/** The name of the register at `offset` in `space` (`"GR0"`, `"GR1"` or a context bank). */
export function registerName(space: "GR0" | "GR1" | "CB", offset: number): string {
  if (space === "GR0") {
    if (offset >= Gr0.S2CR_BASE && offset < Gr0.S2CR_BASE + 0x200)
      return `S2CR${(offset - Gr0.S2CR_BASE) >> 2}`;
    if (offset >= Gr0.SMR_BASE && offset < Gr0.SMR_BASE + 0x200) return `SMR${(offset - Gr0.SMR_BASE) >> 2}`;
    return GR0_NAMES.get(offset) ?? `0x${offset.toString(16)}`;
  }
  if (space === "GR1") {
    if (offset >= Gr1.CBA2R_BASE && offset < Gr1.CBA2R_BASE + 0x200)
      return `CBA2R${(offset - Gr1.CBA2R_BASE) >> 2}`;
    if (offset >= Gr1.CBFRSYNRA_BASE && offset < Gr1.CBFRSYNRA_BASE + 0x200)
      return `CBFRSYNRA${(offset - Gr1.CBFRSYNRA_BASE) >> 2}`;
    if (offset < 0x200) return `CBAR${offset >> 2}`;
    return GR1_NAMES.get(offset) ?? `0x${offset.toString(16)}`;
  }
  return CB_NAMES.get(offset) ?? `0x${offset.toString(16)}`;
}
