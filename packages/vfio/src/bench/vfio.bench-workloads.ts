/**
 * VFIO benchmark workloads, run by the command-line tool's `bench` on any backend: each takes a
 * backend factory (the shape the end-to-end scenarios take) and reports host nanoseconds per
 * operation. The simulated machine runs on its virtual clock; only the measurement reads the host's.
 */
import { IommuError } from "@iommu-sim/iommu";
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { type VfioScenarioBackendFactory, vfioScenarioMachine } from "../scenarios.js";
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VfioExtension } from "../uapi/constants.js";

/** What a workload reports (the shape every package's workloads share). */
export interface VfioBenchResult {
  /** Workload name. */
  readonly workload: string;
  /** Operations per timed repetition. */
  readonly ops: number;
  /** Host nanoseconds per operation, best repetition. */
  readonly ns_per_op: number;
}

/** Options of the VFIO workloads. */
export interface VfioBenchOptions {
  /** Bytes mapped by one MAP_DMA. @default 1 GiB */
  size?: number;
  /** Timed repetitions; the best is reported. @default 3 */
  reps?: number;
}

const hostClock = (globalThis as unknown as { performance: { now(): number } }).performance;
const TWO_MIB = 2 * 1024 * 1024;

/**
 * `vfio-map-1g` (`pages` "4k") / `vfio-map-1g-2m` (`pages` "2m"): a process maps `size` bytes of its
 * memory at IOVA 1 GiB with one `VFIO_IOMMU_MAP_DMA` and unmaps it with one `VFIO_IOMMU_UNMAP_DMA`
 * (one op = map + unmap: pin every 4 KiB page, map the physically contiguous runs, unmap, unpin).
 * "4k" memory is ordinary anonymous memory; "2m" is `MAP_HUGETLB`, 2 MiB-contiguous, so the domain
 * can use 2 MiB pages: `EOPNOTSUPP` on a backend whose domains lack them. The pages are faulted in
 * by an untimed first round.
 */
export function benchVfioMap(
  factory: VfioScenarioBackendFactory,
  pages: "4k" | "2m",
  options: VfioBenchOptions = {},
): VfioBenchResult {
  const size = options.size ?? 1024 * 1024 * 1024;
  const workload = pages === "4k" ? "vfio-map-1g" : "vfio-map-1g-2m";
  const m = vfioScenarioMachine(factory);
  const dev = m.addDevice(0);
  const proc = m.vfio.createProcess({ capIpcLock: true, rlimitMemlock: Number.POSITIVE_INFINITY });
  const container = m.vfio.openContainer(proc);
  const group = m.vfio.openGroup(proc, m.core.groupGet(dev)!.id);
  group.setContainer(container);
  container.setIommu(VfioExtension.TYPE1v2_IOMMU);
  if (pages === "2m" && (BigInt(container.getInfo().pgsizeBitmap) & BigInt(TWO_MIB)) === 0n) {
    throw new IommuError("EOPNOTSUPP", `${workload}: the backend's domains have no 2 MiB pages`);
  }
  const flags = MAP_ANONYMOUS | MAP_PRIVATE | (pages === "2m" ? MAP_HUGETLB : 0);
  const va = proc.mmap({ length: size, prot: PROT_READ | PROT_WRITE, flags });
  const iova = 1024 * 1024 * 1024;
  const once = (): void => {
    container.mapDma({ flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr: va, iova, size });
    const unmapped = container.unmapDma({ flags: 0, iova, size });
    if (unmapped !== BigInt(size))
      throw new IommuError("EIO", `${workload}: unmapped ${unmapped} of ${size}`);
  };
  once();
  let fastest = Number.POSITIVE_INFINITY;
  for (let r = 0; r < (options.reps ?? 3); r++) {
    const t0 = hostClock.now();
    once();
    fastest = Math.min(fastest, (hostClock.now() - t0) * 1e6);
  }
  m.vfio.exitProcess(proc);
  return { workload, ops: 1, ns_per_op: Math.round(fastest) };
}

/** The VFIO workloads by name, for the `bench` command. */
export const VFIO_BENCH_WORKLOADS: Readonly<
  Record<string, (factory: VfioScenarioBackendFactory, options?: VfioBenchOptions) => VfioBenchResult>
> = {
  "vfio-map-1g": (factory, options) => benchVfioMap(factory, "4k", options),
  "vfio-map-1g-2m": (factory, options) => benchVfioMap(factory, "2m", options),
};
