// The layer rules of ARCHITECTURE.md, as data. Each package may depend on (and import) only the
// packages listed for it; `dev` adds what its tests may use. Anything not named here is not ours.

/** Which of our packages each of our packages may use at run time and in tests. */
export const LAYER_RULES = {
  "@iommu-sim/hw": { runtime: [], dev: [] },
  "@iommu-sim/iommu": { runtime: [], dev: [] },
  "@iommu-sim/testkit": { runtime: ["@iommu-sim/iommu"], dev: [] },
  "@iommu-sim/dma": { runtime: ["@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
  "@iommu-sim/vfio": { runtime: ["@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
  "@iommu-sim/arm-smmu-v3": { runtime: ["@iommu-sim/hw", "@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
  "@iommu-sim/intel-vtd": { runtime: ["@iommu-sim/hw", "@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
  "@iommu-sim/amd-vi": { runtime: ["@iommu-sim/hw", "@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
  "@iommu-sim/arm-smmu": { runtime: ["@iommu-sim/hw", "@iommu-sim/iommu"], dev: ["@iommu-sim/testkit"] },
};

/** Packages at the top that may use everything (the command line, end-to-end tests, the playground). */
export const UNRESTRICTED = new Set(["iommu-sim", "@iommu-sim/e2e", "@iommu-sim/playground"]);

/** Why each kind of edge is forbidden, for the error message. */
export const REASONS = {
  "@iommu-sim/hw":
    "hw is the bottom layer and imports none of ours, so anyone can use it alone as a golden model",
  "@iommu-sim/iommu": "the IOMMU core sees hardware only through the IommuDriver interface",
  "@iommu-sim/testkit": "the conformance kit tests any backend through the IOMMU API only",
  "@iommu-sim/dma":
    "dma uses the IOMMU API only (never hw, a backend or vfio), so every backend serves it unchanged",
  "@iommu-sim/vfio":
    "vfio uses the IOMMU API only (never hw, a backend or dma), so every backend serves it unchanged",
  backend:
    "a backend depends on hw and the IOMMU API only, never on another backend, so each is replaced on its own",
};
