/**
 * The decoded form of a scenario: the machine to build and the steps to run on it.
 */
import type { PciKind } from "@iommu-sim/iommu";
import type { OptionValue } from "./backends.js";
import type { StepDefinition } from "./steps/step.js";

/** One IOMMU instance of the machine. */
export interface IommuSpec {
  /** Instance name devices refer to. */
  readonly name: string;
  /** Backend kind (`arm-smmu-v3`, `intel-vtd`, `amd-vi`, `arm-smmu`, `reference`). */
  readonly backend: string;
  /** Options handed to the backend's factory. */
  readonly options: Readonly<Record<string, OptionValue>>;
  /** Line of the entry. */
  readonly line: number;
}

/** One PCI function. */
export interface PciSpec {
  /** Short name steps use; the PCI name `SSSS:BB:DD.F` always works too. */
  readonly name: string | undefined;
  readonly segment: number;
  readonly bus: number;
  readonly slot: number;
  readonly fn: number;
  readonly kind: PciKind;
  readonly acs: number | undefined;
  readonly multifunction: boolean | undefined;
  readonly secondaryBus: number | undefined;
  readonly untrusted: boolean | undefined;
  readonly iommu: string | undefined;
  readonly dmaMaskBits: number | undefined;
  readonly line: number;
}

/** One platform device with its firmware IOMMU specifier. */
export interface PlatformSpec {
  readonly name: string;
  /** IOMMU instance; absent = not behind an IOMMU. */
  readonly iommu: string | undefined;
  readonly streamIds: readonly number[];
  readonly dmaMaskBits: number | undefined;
  readonly line: number;
}

/** Bytes placed in physical memory before the first step. */
export interface MemorySpec {
  readonly paddr: bigint;
  readonly data: Uint8Array;
  /** Whose memory (each IOMMU instance models its own); absent = the only or first one. */
  readonly iommu: string | undefined;
  readonly line: number;
}

/** The machine a scenario runs on. */
export interface MachineSpec {
  /** `iommu.passthrough=1`. @default false */
  readonly passthrough: boolean;
  /** `iommu.strict`. @default true */
  readonly strict: boolean;
  readonly iommus: readonly IommuSpec[];
  readonly pci: readonly PciSpec[];
  readonly platform: readonly PlatformSpec[];
  readonly memory: readonly MemorySpec[];
}

/** One step of a scenario, decoded. */
export interface ScenarioStep {
  /** 0-based position in `steps`. */
  readonly index: number;
  /** The step kind's definition. */
  readonly definition: StepDefinition<unknown>;
  /** Parameters decoded by the definition. */
  readonly params: unknown;
  /** The explanation a viewer shows next to the step. */
  readonly note: string | undefined;
  /** Errno the step is expected to fail with (`EINVAL`...); absent = it must succeed. */
  readonly error: string | undefined;
  /** Line of the step. */
  readonly line: number;
  /** Field path of the step (`steps[3]`). */
  readonly path: string;
}

/** A loaded scenario. */
export interface Scenario {
  /** File name as given to `loadScenario`. */
  readonly file: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly machine: MachineSpec;
  readonly steps: readonly ScenarioStep[];
}
