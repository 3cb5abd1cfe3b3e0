/**
 * The backends a scenario can instantiate, by name. Each entry knows its factory and which of its
 * options are 64-bit register values (given in a scenario as integers or hex strings, handed to
 * the factory as `bigint`); every other integer option is handed over as a number.
 */
import { createAmdVi } from "@iommu-sim/amd-vi";
import { createArmSmmu } from "@iommu-sim/arm-smmu";
import { createArmSmmuV3 } from "@iommu-sim/arm-smmu-v3";
import { createIntelVtd } from "@iommu-sim/intel-vtd";
import type { IommuBackend } from "@iommu-sim/iommu";
import { createReferenceBackend } from "@iommu-sim/testkit/workloads";

/** Plain option values as a scenario gives them (after number/bigint conversion). */
export type OptionValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | OptionValue[]
  | { [key: string]: OptionValue };

/** One backend kind a scenario can name in `machine.iommus[].backend`. */
export interface BackendKind {
  /** Name in scenarios (`arm-smmu-v3`). */
  readonly name: string;
  /** One line for listings and the schema. */
  readonly description: string;
  /** Instance name the factory uses when the scenario gives none. */
  readonly defaultInstance: string;
  /** Options given as `bigint` (64-bit register images). */
  readonly bigintOptions: readonly string[];
  /** Creates the instance; `options` already carries `name`. */
  create(options: Record<string, OptionValue>): IommuBackend;
}

// The factories' option types are richer than plain data (allocators, callbacks): a scenario can
// only give the plain-data subset, which the factories validate themselves (EINVAL on nonsense).
type AnyFactory = (options: never) => IommuBackend;
const call = (factory: AnyFactory, options: Record<string, OptionValue>): IommuBackend =>
  (factory as (options: Record<string, OptionValue>) => IommuBackend)(options);

/** Every backend kind, by scenario name. */
export const BACKEND_KINDS: readonly BackendKind[] = [
  {
    name: "arm-smmu-v3",
    description: "Arm SMMUv3 and Linux's arm-smmu-v3 driver",
    defaultInstance: "smmu0",
    bigintOptions: [],
    create: (o) => call(createArmSmmuV3, o),
  },
  {
    name: "arm-smmu",
    description: "Arm SMMU v2 (MMU-500 style) and Linux's arm-smmu driver",
    defaultInstance: "smmu0",
    bigintOptions: [],
    create: (o) => call(createArmSmmu, o),
  },
  {
    name: "intel-vtd",
    description: "Intel VT-d remapping unit (legacy mode) and Linux's intel-iommu driver",
    defaultInstance: "dmar0",
    bigintOptions: ["cap", "ecap"],
    create: (o) => call(createIntelVtd, o),
  },
  {
    name: "amd-vi",
    description: "AMD IOMMU (AMD-Vi) and Linux's amd_iommu driver",
    defaultInstance: "ivhd0",
    bigintOptions: ["efr"],
    create: (o) => call(createAmdVi, o),
  },
  {
    name: "reference",
    description: "the testkit's reference software backend (no IOTLB, no page-table bytes)",
    defaultInstance: "ref0",
    bigintOptions: [],
    create: (o) => call(createReferenceBackend, o),
  },
];

/** The backend kind called `name`, or `undefined`. */
export function backendKind(name: string): BackendKind | undefined {
  return BACKEND_KINDS.find((k) => k.name === name);
}
