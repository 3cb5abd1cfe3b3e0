/**
 * Benchmark workloads of the IOMMU API, run by the command-line tool's `bench`.
 */
import {
  createIommuCore,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuBackend,
} from "@iommu-sim/iommu";

// The host's monotonic clock, without depending on Node's type definitions in the build.
const hostClock = (globalThis as unknown as { performance: { now(): number } }).performance;
const nowNs = (): number => hostClock.now() * 1e6;

/** One workload's figure. */
export interface WorkloadResult {
  /** Workload name (`iommu-map4k`, `iommu-unmap4k`). */
  readonly workload: string;
  /** Operations timed. */
  readonly ops: number;
  /** Wall-clock nanoseconds per operation (benchmarks measure the host, not the virtual clock). */
  readonly ns_per_op: number;
}

/** Options for {@link runIommuWorkloads}. */
export interface IommuWorkloadOptions {
  /** 4 KiB pages mapped, one `map` call each, then unmapped one call each. @default 262144 */
  readonly pages?: number;
  /** First IO address. @default 0x1_0000_0000 */
  readonly iovaBase?: number;
  /** First physical address. @default 0x8000_0000 */
  readonly paBase?: number;
}

/**
 * Runs `iommu-map4k` (map `pages` 4 KiB pages through the IOMMU API, one call each, on an unmanaged
 * domain of a fresh backend) then `iommu-unmap4k` (unmap them, one call each).
 */
export function runIommuWorkloads(
  makeBackend: () => IommuBackend,
  options: IommuWorkloadOptions = {},
): WorkloadResult[] {
  const pages = options.pages ?? 262144;
  const iovaBase = options.iovaBase ?? 0x1_0000_0000;
  const paBase = options.paBase ?? 0x8000_0000;
  const backend = makeBackend();
  const core = createIommuCore();
  core.registerIommu(backend);
  const dev = core.addPciDevice({ bus: 1, slot: 0, iommu: backend.name });
  const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  const prot = IOMMU_READ | IOMMU_WRITE;

  let t0 = nowNs();
  for (let i = 0; i < pages; i++) core.map(domain, iovaBase + i * 4096, paBase + i * 4096, 4096, prot);
  const mapNs = nowNs() - t0;

  t0 = nowNs();
  let unmapped = 0n;
  for (let i = 0; i < pages; i++) unmapped += core.unmap(domain, iovaBase + i * 4096, 4096);
  const unmapNs = nowNs() - t0;
  if (unmapped !== BigInt(pages * 4096))
    throw new Error(`iommu-unmap4k unmapped ${unmapped} bytes, not ${pages * 4096}`);
  core.domainFree(domain);
  return [
    { workload: "iommu-map4k", ops: pages, ns_per_op: mapNs / pages },
    { workload: "iommu-unmap4k", ops: pages, ns_per_op: unmapNs / pages },
  ];
}
