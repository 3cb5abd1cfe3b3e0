/**
 * Every step kind a scenario may use, by key. Adding a kind: write its module next to these
 * (a {@link StepDefinition}) and list it here; `dma.*` (DMA API) and `vfio.*` steps join this way
 * once those packages settle.
 */
import { attachStep } from "./attach.js";
import { clockAdvanceStep } from "./clock-advance.js";
import { detachStep } from "./detach.js";
import { dmaReadStep } from "./dma-read.js";
import { dmaWriteStep } from "./dma-write.js";
import { domainAllocStep } from "./domain-alloc.js";
import { domainFreeStep } from "./domain-free.js";
import { dumpStep } from "./dump.js";
import { expectStep } from "./expect.js";
import { flushStep } from "./flush.js";
import { invalidateStep } from "./invalidate.js";
import { mapStep } from "./map.js";
import { memoryWriteStep } from "./memory-write.js";
import type { StepDefinition } from "./step.js";
import { unmapStep } from "./unmap.js";

/** The registered step kinds, in the order the docs list them. */
export const STEP_DEFINITIONS: readonly StepDefinition<unknown>[] = [
  domainAllocStep,
  domainFreeStep,
  attachStep,
  detachStep,
  mapStep,
  unmapStep,
  invalidateStep,
  flushStep,
  dmaReadStep,
  dmaWriteStep,
  memoryWriteStep,
  clockAdvanceStep,
  expectStep,
  dumpStep,
];

/** The step kind called `kind`, or `undefined`. */
export function stepDefinition(kind: string): StepDefinition<unknown> | undefined {
  return STEP_DEFINITIONS.find((d) => d.kind === kind);
}
