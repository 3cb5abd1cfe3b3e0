/**
 * The JSON Schema of the scenario format, built from the same registries the loader decodes with
 * (step kinds, expectations, backends). `packages/cli/scenario.schema.json` is this, written out;
 * a test keeps the two equal and checks both accept and refuse the same fixtures.
 */
import { BACKEND_KINDS } from "./backends.js";
import { ERRNO_NAMES, PCI_KINDS } from "./load.js";
import { ADDRESS, BYTES, INTEGER, object } from "./schema-parts.js";
import { STEP_DEFINITIONS } from "./steps/registry.js";
import type { JsonSchema } from "./steps/step.js";

/** The `$id` of the published schema. */
export const SCENARIO_SCHEMA_ID = "urn:iommu-sim:scenario";

const maskBits: JsonSchema = {
  type: "integer",
  minimum: 12,
  maximum: 64,
  description: "DMA mask width in bits.",
};

/** Builds the scenario JSON Schema (draft 2020-12). */
export function scenarioJsonSchema(): JsonSchema {
  const stepSchemas = STEP_DEFINITIONS.map((d) => ({
    type: "object",
    description: d.summary,
    properties: {
      [d.kind]: d.schema,
      note: { type: "string", description: "The explanation a viewer shows next to the step." },
      ...(d.canFail && {
        error: { enum: [...ERRNO_NAMES], description: "The errno the step must fail with." },
      }),
    },
    required: [d.kind],
    additionalProperties: false,
  }));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: SCENARIO_SCHEMA_ID,
    title: "iommu-sim scenario",
    description: "A simulated machine (IOMMUs, PCI topology, platform devices) and steps to run on it.",
    type: "object",
    properties: {
      $schema: { type: "string" },
      name: { type: "string", minLength: 1 },
      description: { type: "string", minLength: 1 },
      machine: object(
        {
          core: object({
            passthrough: { type: "boolean", description: "iommu.passthrough=1: identity default domains." },
            strict: {
              type: "boolean",
              description: "iommu.strict: DMA (true) or DMA-FQ (false) default domains.",
            },
          }),
          iommus: {
            type: "array",
            minItems: 1,
            items: object(
              {
                name: { type: "string", minLength: 1 },
                backend: { enum: BACKEND_KINDS.map((k) => k.name) },
                options: { type: "object", description: "Options handed to the backend's factory." },
              },
              ["backend"],
            ),
          },
          pci: {
            type: "array",
            items: object(
              {
                name: { type: "string", minLength: 1 },
                segment: INTEGER,
                bus: INTEGER,
                slot: INTEGER,
                fn: INTEGER,
                kind: { enum: [...PCI_KINDS] },
                acs: INTEGER,
                multifunction: { type: "boolean" },
                secondaryBus: INTEGER,
                untrusted: { type: "boolean" },
                iommu: { type: "string" },
                dmaMaskBits: maskBits,
              },
              ["slot"],
            ),
          },
          platform: {
            type: "array",
            items: object(
              {
                name: { type: "string", minLength: 1 },
                iommu: { type: "string" },
                streamIds: { type: "array", items: INTEGER },
                dmaMaskBits: maskBits,
              },
              ["name"],
            ),
          },
          memory: {
            type: "array",
            items: object({ paddr: ADDRESS, data: BYTES, iommu: { type: "string" } }, ["paddr", "data"]),
          },
        },
        ["iommus"],
      ),
      steps: { type: "array", items: { oneOf: stepSchemas } },
    },
    required: ["name", "machine", "steps"],
    additionalProperties: false,
  };
}
