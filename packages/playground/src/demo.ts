/**
 * The story the page opens with: the scenario engine's demo story (`demoScenario(backend)`), the
 * same steps and notes `iommu-sim demo` narrates, on the backend the viewer picks.
 */
import {
  DEMO_BACKENDS,
  type DemoBackend,
  demoScenario,
  isDemoBackend,
  type Scenario,
} from "iommu-sim/scenario";

export { DEMO_BACKENDS };

/** The demo story on `backend` (default: Arm SMMUv3). */
export function demoStory(backend: string = DEMO_BACKENDS[0]): Scenario {
  return demoScenario(isDemoBackend(backend) ? backend : ("arm-smmu-v3" satisfies DemoBackend));
}
