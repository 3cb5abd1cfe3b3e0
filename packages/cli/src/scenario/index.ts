/**
 * The scenario engine, free of Node-only imports so a browser playground can use it:
 * `loadScenario(text, fileName)`, `runScenario(scenario, options)`, the report renderers and the
 * JSON Schema of the format.
 */

export { BACKEND_KINDS, type BackendKind } from "./backends.js";
export type { RunContext } from "./context.js";
export {
  DEMO_BACKENDS,
  type DemoBackend,
  demoScenario,
  demoScenarioDocument,
  isDemoBackend,
} from "./demo-story.js";
export { type DomainDump, dumpDomains } from "./dump-domains.js";
export { isScenarioError, ScenarioError } from "./errors.js";
export { type IotlbDump, renderIotlbDump } from "./iotlb-dump.js";
export { loadScenario } from "./load.js";
export { type PageTableDump, type PageTableEntryNode, renderPageTableDump } from "./page-table-dump.js";
export { renderScenarioReport, traceToJson } from "./report.js";
export {
  type RunScenarioOptions,
  runScenario,
  type ScenarioTrace,
  type StepStatus,
  type StepTrace,
} from "./run.js";
export { SCENARIO_SCHEMA_ID, scenarioJsonSchema } from "./schema.js";
export type { MachineSnapshot } from "./snapshot.js";
export { STEP_DEFINITIONS, stepDefinition } from "./steps/registry.js";
export type { JsonSchema, StepDefinition, StepOutcome } from "./steps/step.js";
export type { Scenario, ScenarioStep } from "./types.js";
