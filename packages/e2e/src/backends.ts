import { MACHINE_FACTORIES } from "iommu-sim";

/**
 * Every backend, by name, as the end-to-end tests run them: the command line's machine layouts
 * (page tables and system RAM apart), so the tests and the benchmarks build machines one way.
 */
export const E2E_BACKENDS = MACHINE_FACTORIES;
