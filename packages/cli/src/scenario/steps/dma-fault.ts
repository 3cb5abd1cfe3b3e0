import type { DmaFaultReason } from "@iommu-sim/iommu";
import { type At, bool, oneOf } from "../decoders.js";
import type { JsonSchema } from "./step.js";

/** The reasons a DMA transaction can fault with. */
export const DMA_FAULT_REASONS: readonly DmaFaultReason[] = [
  "unmapped",
  "permission",
  "blocked",
  "aperture",
  "no-translation",
];

/** `fault:` of a DMA step: `true` (any fault), `false`, or the reason expected. */
export type ExpectedFault = boolean | DmaFaultReason;

/** Schema of {@link ExpectedFault}. */
export const EXPECTED_FAULT: JsonSchema = {
  description: "The transaction must fault (true, or the reason) or must not (false, the default).",
  anyOf: [{ type: "boolean" }, { enum: [...DMA_FAULT_REASONS] }],
};

/** Decodes {@link ExpectedFault}. */
export function expectedFault(at: At): ExpectedFault {
  return at.node.kind === "scalar" && typeof at.node.value === "boolean"
    ? bool(at)
    : oneOf(at, DMA_FAULT_REASONS);
}

/** Checks a DMA outcome against the expectation; returns the failures. */
export function checkFault(expected: ExpectedFault, reason: DmaFaultReason | undefined): string[] {
  if (expected === false)
    return reason === undefined ? [] : [`the transaction faulted (${reason}) but was expected to complete`];
  if (reason === undefined)
    return [
      `the transaction completed but was expected to fault${expected === true ? "" : ` (${expected})`}`,
    ];
  if (expected !== true && reason !== expected)
    return [`the transaction faulted with ${reason}, expected ${expected}`];
  return [];
}
