/**
 * Protection flags with Linux's values (include/linux/iommu.h). Page-table formats translate these
 * into descriptor bits exactly as the kernel's io-pgtable / generic_pt drivers do.
 */

/** DMA read allowed. */
export const IOMMU_READ = 1 << 0;
/** DMA write allowed. */
export const IOMMU_WRITE = 1 << 1;
/** Cache-coherent (normal write-back, inner shareable) memory. */
export const IOMMU_CACHE = 1 << 2;
/** Instruction fetch not allowed. */
export const IOMMU_NOEXEC = 1 << 3;
/** Device memory (MMIO): strongly ordered attributes. */
export const IOMMU_MMIO = 1 << 4;
/** Privileged-only access. */
export const IOMMU_PRIV = 1 << 5;
/** Every flag defined above. */
export const IOMMU_PROT_MASK = 0x3f;

/** Renders prot flags as Linux's names joined by `|`, e.g. `READ|WRITE|CACHE`. */
export function protToString(prot: number): string {
  const names: string[] = [];
  if (prot & IOMMU_READ) names.push("READ");
  if (prot & IOMMU_WRITE) names.push("WRITE");
  if (prot & IOMMU_CACHE) names.push("CACHE");
  if (prot & IOMMU_NOEXEC) names.push("NOEXEC");
  if (prot & IOMMU_MMIO) names.push("MMIO");
  if (prot & IOMMU_PRIV) names.push("PRIV");
  return names.length ? names.join("|") : "NONE";
}
