/**
 * Every step kind a scenario may use, by key. Adding a kind: write its module next to these
 * (a {@link StepDefinition}) and list it here.
 */
import { actStep } from "./act.js";
import { armAttachStep } from "./arm-attach.js";
import { armCreateMappingStep } from "./arm-create-mapping.js";
import { armDetachStep } from "./arm-detach.js";
import { armReleaseStep } from "./arm-release.js";
import { attachStep } from "./attach.js";
import { clockAdvanceStep } from "./clock-advance.js";
import { detachStep } from "./detach.js";
import { dmaReadStep } from "./dma-read.js";
import { dmaWriteStep } from "./dma-write.js";
import { dmaApiAllocCoherentStep } from "./dmaapi-alloc-coherent.js";
import { dmaApiBindStep } from "./dmaapi-bind.js";
import { dmaApiFreeCoherentStep } from "./dmaapi-free-coherent.js";
import { dmaApiMapStep } from "./dmaapi-map.js";
import { dmaApiSyncStep } from "./dmaapi-sync.js";
import { dmaApiUnmapStep } from "./dmaapi-unmap.js";
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
import { vfioCloseStep } from "./vfio-close.js";
import { vfioMapStep } from "./vfio-map.js";
import { vfioOpenStep } from "./vfio-open.js";
import { vfioUnmapStep } from "./vfio-unmap.js";
import { vfioWriteStep } from "./vfio-write.js";
import { walkStep } from "./walk.js";

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
  walkStep,
  dmaApiBindStep,
  dmaApiMapStep,
  dmaApiUnmapStep,
  dmaApiSyncStep,
  dmaApiAllocCoherentStep,
  dmaApiFreeCoherentStep,
  armCreateMappingStep,
  armAttachStep,
  armDetachStep,
  armReleaseStep,
  vfioOpenStep,
  vfioMapStep,
  vfioWriteStep,
  vfioUnmapStep,
  vfioCloseStep,
  memoryWriteStep,
  clockAdvanceStep,
  expectStep,
  dumpStep,
  actStep,
];

/** The step kind called `kind`, or `undefined`. */
export function stepDefinition(kind: string): StepDefinition<unknown> | undefined {
  return STEP_DEFINITIONS.find((d) => d.kind === kind);
}
