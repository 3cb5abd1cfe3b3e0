/**
 * @iommu-sim/vfio - VFIO-style user mappings over the IOMMU API: a simulated process (VMAs, pinning,
 * RLIMIT_MEMLOCK), the VFIO and iommufd UAPI structs, and the type1 mapping list and dirty tracking.
 */

export * from "./bench/vfio.bench-workloads.js";
export * from "./container/ioctl.js";
export * from "./container/vfio.js";
export * from "./iommufd/io-pagetable.js";
export * from "./iommufd/iommufd.js";
export * from "./iommufd/vfio-compat.js";
export * from "./process/mman.js";
export * from "./process/process.js";
export * from "./scenarios.js";
export * from "./type1/dirty.js";
export * from "./type1/dma-list.js";
export * from "./type1/pin-map.js";
export * from "./type1/type1-iommu.js";
export * from "./uapi/compat-info.js";
export * from "./uapi/constants.js";
export * from "./uapi/errno.js";
export * from "./uapi/iommufd-constants.js";
export * from "./uapi/iommufd-hwpt.js";
export * from "./uapi/iommufd-option.js";
export * from "./uapi/iommufd-structs.js";
export * from "./uapi/iommufd-vfio-ioas.js";
export * from "./uapi/structs.js";
export * from "./uapi/type1-info.js";
export { U64_MAX, type U64Like } from "./util/u64.js";
