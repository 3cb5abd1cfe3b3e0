/**
 * The registry entries `"arm-lpae-s1"` and `"arm-lpae-s2"`: io-pgtable-arm's `ARM_64_LPAE_S1` and
 * `ARM_64_LPAE_S2` on the radix engine.
 */
import { joinU64 } from "../../address.js";
import { HwError } from "../../errors.js";
import { type RadixTableSpec, radixFormatOps } from "../../page-table/radix-table.js";
import type { PageTableConfig, PageTableFormatDefinition, PageTableQuirks } from "../../page-table/types.js";
import { decodeLpaeDescriptor, encodeLpaeDescriptor } from "./codec.js";
import { computeLpaeGeometry, type LpaeGeometry, type LpaeStage, lpaeLevelSpecs } from "./geometry.js";
import { LpaeCodec } from "./level-codec.js";

/** Config of an LPAE table without the memory-side services. */
export type LpaeConfig = Omit<PageTableConfig, "memory" | "allocator">;

// `arm_64_lpae_alloc_pgtable_s1` / `_s2` accept only these quirks and fail allocation otherwise.
const S1_QUIRKS: readonly (keyof PageTableQuirks)[] = ["armNs", "armHd"];
const S2_QUIRKS: readonly (keyof PageTableQuirks)[] = ["armS2Fwb"];

function checkQuirks(stage: LpaeStage, quirks: PageTableQuirks | undefined): void {
  if (!quirks) return;
  const allowed = stage === 1 ? S1_QUIRKS : S2_QUIRKS;
  for (const [name, on] of Object.entries(quirks)) {
    if (!on) continue;
    if (name === "armTtbr1" && stage === 1) {
      // Linux supports it, but TTBR1 input addresses are sign-extended 64-bit values this model's
      // number addresses cannot carry: refuse visibly rather than ignore it.
      throw new HwError("EOPNOTSUPP", "quirk armTtbr1 (upper-half TTBR1 tables) is not modelled");
    }
    if (!allowed.includes(name as keyof PageTableQuirks)) {
      throw new HwError(
        "EINVAL",
        `quirk ${name} is not accepted by arm-lpae-s${stage} (accepted: ${allowed.join(", ")})`,
      );
    }
  }
}

/**
 * Builds the engine spec of an LPAE table of `stage` for `config`: geometry (validated), levels,
 * codec and partial-unmap policy. Walker and driver table are both built from it, never from each
 * other.
 */
export function lpaeTableSpec(
  stage: LpaeStage,
  config: LpaeConfig,
): RadixTableSpec & { geometry: LpaeGeometry } {
  checkQuirks(stage, config.quirks);
  const geometry = computeLpaeGeometry(stage, config);
  const q = config.quirks ?? {};
  const codec = new LpaeCodec(geometry, { armNs: !!q.armNs, armS2Fwb: !!q.armS2Fwb, armHd: !!q.armHd });
  const context = { granule: geometry.granule, oas: geometry.oas };
  return {
    format: stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2",
    geometry,
    levels: lpaeLevelSpecs(geometry),
    codec,
    decode: (lo, hi, level) => decodeLpaeDescriptor(stage, joinU64(lo, hi), { ...context, level }),
    partialUnmap: config.partialUnmap ?? "refuse",
    existsCode: "EEXIST",
    leafOverTable: "replace",
    requireAccess: true,
  };
}

function definition(stage: LpaeStage): PageTableFormatDefinition {
  return {
    name: stage === 1 ? "arm-lpae-s1" : "arm-lpae-s2",
    description:
      stage === 1
        ? "ARM VMSAv8-64 long descriptor, stage 1 (io-pgtable ARM_64_LPAE_S1): 4K/16K/64K granules, up to 52-bit"
        : "ARM VMSAv8-64 long descriptor, stage 2 (io-pgtable ARM_64_LPAE_S2): concatenated top tables, up to 52-bit",
    descriptorBytes: 8,
    geometry: (config) => {
      checkQuirks(stage, config.quirks);
      return computeLpaeGeometry(stage, config);
    },
    ...radixFormatOps((config) => lpaeTableSpec(stage, config)),
    decode: (descriptor, context) => decodeLpaeDescriptor(stage, descriptor, context),
    encode: (decoded, context) => encodeLpaeDescriptor(stage, decoded, context),
  };
}

/** `ARM_64_LPAE_S1`: the stage-1 LPAE format (registry name `"arm-lpae-s1"`). */
export const armLpaeS1Format: PageTableFormatDefinition = definition(1);

/** `ARM_64_LPAE_S2`: the stage-2 LPAE format (registry name `"arm-lpae-s2"`). */
export const armLpaeS2Format: PageTableFormatDefinition = definition(2);
