/**
 * Resolution shared by every package's vitest project: import workspace packages from their
 * `src/` through the `@iommu-sim/source` export condition, so a stale `dist/` can never be tested.
 * The rest are Vite's default server conditions, which setting `conditions` would otherwise drop.
 */
export const sourceConditions = ["@iommu-sim/source", "module", "node", "development|production"];
