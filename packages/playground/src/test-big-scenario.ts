/**
 * A generated scenario of `steps` steps (at least 3) for the responsiveness tests: one SMMUv3
 * domain, then a repeating pattern of a map, a DMA read that misses and one that hits, with a fault
 * every 30 steps.
 */
export function bigScenarioText(steps = 1000): string {
  const lines = [
    `name: A generated ${steps}-step scenario`,
    "machine:",
    "  iommus: [{ name: smmu0, backend: arm-smmu-v3 }]",
    "  platform: [{ name: dev, iommu: smmu0, streamIds: [1] }]",
    "steps:",
    "  - domain.alloc: { name: d, device: dev }",
    "    note: One unmanaged domain for the whole run.",
    "  - attach: { domain: d, device: dev }",
  ];
  for (let i = 0; i < steps - 2; i++) {
    const page = Math.floor(i / 3);
    const iova = `0x${(0x100000 + page * 0x1000).toString(16)}`;
    if (i % 30 === 29) lines.push(`  - dma.read: { device: dev, iova: 0x7ff00000, fault: unmapped }`);
    else if (i % 3 === 0)
      lines.push(
        `  - map: { domain: d, iova: ${iova}, paddr: 0x${(0x80000000 + page * 0x1000).toString(16)}, size: 4K, prot: rw }`,
      );
    else
      lines.push(
        `  - dma.read: { device: dev, iova: ${iova} }`,
        `    note: Step ${i + 2} reads page ${page}.`,
      );
  }
  return `${lines.join("\n")}\n`;
}
