/**
 * The reference backend: the smallest complete IOMMU backend, in software only (after Linux's
 * iommufd mock driver). Paging domains are flat maps of leaves; the datapath translates through
 * them with no IOTLB, checks permissions, moves bytes in its own sparse memory, and reports faults
 * to the core. It serves the core's tests and documents the narrow waist.
 */
import {
  type DatapathRequest,
  type DmaFaultReason,
  type DmaResult,
  type DomainType,
  type DriverDomain,
  type Errno,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuBackend,
  type IommuBackendFactory,
  type IommuCap,
  type IommuDevice,
  type IommuDriver,
  IommuError,
  type IommuHost,
  pgsizeBitmap as makeBitmap,
  type PageProvider,
  type PhysBus,
  type ResvRegionSpec,
} from "@iommu-sim/iommu";
import { createCountingAllocator } from "./counting-allocator.js";
import {
  createReferencePagingDomain,
  type PartialUnmapPolicy,
  type ReferencePagingDomain,
  type ReferenceStats,
} from "./reference-domain.js";
import { createSparseMemory } from "./sparse-memory.js";

/** Options for {@link createReferenceBackend}. */
export interface ReferenceBackendOptions {
  /** Instance name devices refer to. @default "ref0" */
  name?: string;
  /** Page sizes. Any powers of two, e.g. with 2 KiB as an odd smallest size. @default 4K | 2M | 1G */
  pgsizeBitmap?: number;
  /** IO address width: the aperture is [0, 2^bits - 1]. @default 48 */
  iovaBits?: number;
  /** Unmapping part of a larger page: `refuse` returns 0 (ARM), `whole` tears it all down (x86). @default "refuse" */
  partialUnmap?: PartialUnmapPolicy;
  /** Errno for mapping over a live mapping (`EEXIST` io-pgtable, `EADDRINUSE` generic_pt). @default "EEXIST" */
  overlapErrno?: Errno;
  /** Domain types offered. @default BLOCKED, IDENTITY, UNMANAGED, DMA */
  domainTypes?: readonly DomainType[];
  /** The driver's required default-domain type per device. @default no preference */
  defDomainType?: (device: IommuDevice) => DomainType | undefined;
  /** Reserved regions per device. @default none */
  resvRegions?: (device: IommuDevice) => readonly ResvRegionSpec[];
  /** Capabilities. @default ["cache-coherency", "noexec"] */
  caps?: readonly IommuCap[];
  /** Memory DMA lands in. @default a new sparse memory */
  memory?: PhysBus;
  /** Table-page allocator. @default a new counting allocator */
  allocator?: PageProvider;
  /** Which devices the driver takes. @default every device whose fwspec names this instance */
  accepts?: (device: IommuDevice) => boolean;
}

/** Failures a test can arm on the reference backend; each fires once. */
export interface ReferenceInjection {
  /** The next `attachDevice` throws this errno. */
  attach: Errno | undefined;
  /** The next `domainAlloc` returns null (type not offered) or throws `ENOMEM`. */
  domainAlloc: "null" | "ENOMEM" | undefined;
}

/** The reference backend, with its test hooks. */
export interface ReferenceBackend extends IommuBackend {
  readonly memory: PhysBus;
  readonly tableAllocator: PageProvider;
  /** Failures to inject. */
  readonly inject: ReferenceInjection;
  /** Invalidation counters. */
  readonly stats: ReferenceStats;
  /** The domain a device is attached to in the "hardware" (undefined = none, DMA aborts). */
  attachedDomain(device: IommuDevice): DriverDomain | undefined;
}

interface RefDomain extends DriverDomain {
  readonly kind: DomainType;
  readonly paging: ReferencePagingDomain | undefined;
}

/** Default page sizes of the reference backend: 4 KiB, 2 MiB, 1 GiB. */
export const REFERENCE_PGSIZES = makeBitmap(4096, 2 * 1024 * 1024, 1024 * 1024 * 1024);

/**
 * Creates a reference backend, an {@link IommuBackendFactory}: register the result with
 * `core.registerIommu(backend)`. Devices whose firmware specifier (or PCI `iommu` option) names it
 * are probed by it.
 */
export function createReferenceBackend(options: ReferenceBackendOptions = {}): ReferenceBackend {
  const name = options.name ?? "ref0";
  const bitmap = options.pgsizeBitmap ?? REFERENCE_PGSIZES;
  const iovaBits = options.iovaBits ?? 48;
  const offered = new Set(
    options.domainTypes ?? [
      IOMMU_DOMAIN_BLOCKED,
      IOMMU_DOMAIN_IDENTITY,
      IOMMU_DOMAIN_UNMANAGED,
      IOMMU_DOMAIN_DMA,
    ],
  );
  const caps = new Set(options.caps ?? ["cache-coherency", "noexec"]);
  const memory = options.memory ?? createSparseMemory();
  const allocator = options.allocator ?? createCountingAllocator();
  const stats: ReferenceStats = { iotlbSyncs: 0, flushAlls: 0, syncMaps: 0 };
  const inject: ReferenceInjection = { attach: undefined, domainAlloc: undefined };
  const attached = new Map<IommuDevice, RefDomain>();
  const owned = new Set<DriverDomain>();
  let host: IommuHost | undefined;

  const makeDomain = (type: DomainType): RefDomain => {
    const paging =
      type === IOMMU_DOMAIN_UNMANAGED || type === IOMMU_DOMAIN_DMA
        ? createReferencePagingDomain({
            pgsizeBitmap: bitmap,
            geometry: { apertureStart: 0, apertureEnd: 2 ** iovaBits - 1, forceAperture: true },
            allocator,
            partialUnmap: options.partialUnmap ?? "refuse",
            overlapErrno: options.overlapErrno ?? "EEXIST",
            stats,
          })
        : undefined;
    const domain: RefDomain = {
      ...(paging ?? {}),
      kind: type,
      paging,
      attachDevice(device) {
        if (inject.attach !== undefined) {
          const code = inject.attach;
          inject.attach = undefined;
          throw new IommuError(code, `${name}: injected attach failure for ${device.name}`);
        }
        if (!owned.has(domain)) throw new IommuError("EINVAL", `${name}: domain is not one of this IOMMU's`);
        if (device.fwspec?.iommu !== name)
          throw new IommuError("ENODEV", `${device.name} is not behind ${name}`);
        attached.set(device, domain);
      },
      free() {
        for (const [device, d] of attached) {
          if (d === domain)
            throw new IommuError("EBUSY", `${name}: freeing a domain ${device.name} still uses`);
        }
        owned.delete(domain);
        paging?.free();
      },
    };
    if (paging) {
      // Spreading copied the methods, which close over the paging domain: keep live getters live.
      Object.defineProperty(domain, "leafCount", { get: () => paging.leafCount });
    }
    owned.add(domain);
    return domain;
  };

  const driver: IommuDriver = {
    name: "reference",
    pgsizeBitmap: bitmap,
    probeDevice(device) {
      if (device.fwspec?.iommu !== name || (options.accepts && !options.accepts(device))) {
        throw new IommuError("ENODEV", `${device.name} is not behind ${name}`);
      }
    },
    releaseDevice(device) {
      attached.delete(device);
    },
    domainAlloc(type) {
      if (inject.domainAlloc !== undefined) {
        const what = inject.domainAlloc;
        inject.domainAlloc = undefined;
        if (what === "null") return null;
        throw new IommuError("ENOMEM", `${name}: injected domain allocation failure`);
      }
      if (!offered.has(type)) return null;
      return makeDomain(type);
    },
    ...(options.defDomainType ? { defDomainType: options.defDomainType } : {}),
    getResvRegions: (device) => options.resvRegions?.(device) ?? [],
    capable: (_device, cap) => caps.has(cap),
  };

  const fault = (
    domain: RefDomain | undefined,
    device: IommuDevice,
    iova: number,
    write: boolean,
    reason: DmaFaultReason,
  ): DmaResult => {
    const flags = write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ;
    // Blocked (abort) transactions are dropped without an event, as an SMMU STE in abort mode does.
    const reported =
      domain === undefined || reason === "blocked"
        ? undefined
        : host?.reportFault(domain, device, iova, flags);
    return { ok: false, iova, flags, reason, reported };
  };

  const dma = (device: IommuDevice, request: DatapathRequest): DmaResult => {
    if (request.pasid !== undefined) throw new IommuError("EOPNOTSUPP", `${name}: no PASID support`);
    const domain = attached.get(device);
    const { iova, length, write } = request;
    if (domain === undefined || domain.kind === IOMMU_DOMAIN_BLOCKED)
      return fault(domain, device, iova, write, "blocked");
    const segments: number[] = [];
    if (domain.kind === IOMMU_DOMAIN_IDENTITY) {
      segments.push(iova, length);
    } else {
      const paging = domain.paging!;
      const need = write ? IOMMU_WRITE : IOMMU_READ;
      let done = 0;
      while (done < length) {
        const at = iova + done;
        if (at > 2 ** iovaBits - 1) return fault(domain, device, at, write, "aperture");
        const leaf = paging.lookup(at);
        if (leaf === undefined) return fault(domain, device, at, write, "unmapped");
        if ((leaf.prot & need) === 0) return fault(domain, device, at, write, "permission");
        const n = Math.min(leaf.iova + leaf.size - at, length - done);
        segments.push(leaf.pa + (at - leaf.iova), n);
        done += n;
      }
    }
    // All pages translated: move the bytes (the transaction is all-or-nothing here).
    if (write) {
      let off = 0;
      for (let i = 0; i < segments.length; i += 2) {
        const n = segments[i + 1]!;
        memory.write(segments[i]!, request.data!.subarray(off, off + n));
        off += n;
      }
      return { ok: true, data: undefined };
    }
    const out = new Uint8Array(length);
    let off = 0;
    for (let i = 0; i < segments.length; i += 2) {
      const n = segments[i + 1]!;
      out.set(memory.read(segments[i]!, n), off);
      off += n;
    }
    return { ok: true, data: out };
  };

  return {
    name,
    driver,
    memory,
    tableAllocator: allocator,
    inject,
    stats,
    connect(h) {
      host = h;
    },
    dma,
    attachedDomain: (device) => attached.get(device),
  };
}

/** The reference backend factory, typed as every backend factory is. */
export const referenceBackendFactory: IommuBackendFactory<ReferenceBackendOptions> = createReferenceBackend;
