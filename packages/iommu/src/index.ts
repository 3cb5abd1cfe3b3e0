/**
 * @iommu-sim/iommu - the Linux IOMMU API: devices, groups, domains, default domains, attach and
 * detach, map and unmap, and the driver interface (the narrow waist) every backend implements.
 */
export * from "./errors.js";
export * from "./prot.js";
