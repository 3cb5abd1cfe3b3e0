/**
 * The backend conformance suite: one `describe` block every backend's test file calls, proving the
 * backend honours the narrow waist the way the core and the layers above rely on.
 */
import {
  createIommuCore,
  DOMAIN_TYPES,
  type DomainType,
  domainTypeName,
  type Errno,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuBackend,
  type IommuCore,
  type IommuCoreOptions,
  type IommuDevice,
  type IommuDomain,
  isIommuSimError,
  pgsizesOf,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";

/** Per-backend declarations for {@link runBackendConformance}. */
export interface ConformanceOptions {
  /**
   * What unmapping the first smallest page of a larger page does: `refuse` returns 0 and keeps it
   * (ARM io-pgtable), `whole` tears the large page down and returns its size (x86, AMD, generic_pt).
   */
  readonly partialUnmap: "refuse" | "whole";
  /** Domain types the backend offers. @default BLOCKED, IDENTITY, UNMANAGED, DMA */
  readonly domainTypes?: readonly DomainType[];
  /** Errnos accepted for mapping over a live mapping. @default ["EEXIST", "EADDRINUSE"] */
  readonly overlapErrnos?: readonly Errno[];
  /** Largest page size exercised. @default 1 GiB */
  readonly maxPgsize?: number;
  /** Base of the IO addresses used (inside the aperture). @default 0x10_0000_0000 */
  readonly iovaBase?: number;
  /** Base of the physical addresses mapped (inside the backend's memory). @default 0x8000_0000 */
  readonly paBase?: number;
  /** Core options. @default strict, translated */
  readonly coreOptions?: IommuCoreOptions;
  /**
   * Adds a device behind `backend` to `core`. @default a PCI endpoint on bus `index + 1`, with
   * `iommu: backend.name`
   */
  readonly addDevice?: (core: IommuCore, backend: IommuBackend, index: number) => IommuDevice;
}

const SZ_1G = 1024 * 1024 * 1024;

/**
 * Registers a vitest suite named `name` that checks a backend: the domain types it offers,
 * map / unmap / iova-to-phys over every page size, the unmap return rules, default domains and
 * attach/detach, faults through the datapath, rollback under injected allocation failure, and no
 * leaked table pages. `makeBackend` must return a fresh backend on every call.
 */
export function runBackendConformance(
  name: string,
  makeBackend: () => IommuBackend,
  options: ConformanceOptions,
): void {
  const offered = options.domainTypes ?? [
    IOMMU_DOMAIN_BLOCKED,
    IOMMU_DOMAIN_IDENTITY,
    IOMMU_DOMAIN_UNMANAGED,
    IOMMU_DOMAIN_DMA,
  ];
  const overlapErrnos = options.overlapErrnos ?? ["EEXIST", "EADDRINUSE"];
  const maxPgsize = options.maxPgsize ?? SZ_1G;
  const iovaBase = options.iovaBase ?? 0x10_0000_0000;
  const paBase = options.paBase ?? 0x8000_0000;

  const addDevice =
    options.addDevice ??
    ((core: IommuCore, backend: IommuBackend, index: number) =>
      core.addPciDevice({ bus: index + 1, slot: 0, iommu: backend.name }));

  const setup = (devices = 1) => {
    const backend = makeBackend();
    const core = createIommuCore(options.coreOptions ?? {});
    core.registerIommu(backend);
    const devs = Array.from({ length: devices }, (_, i) => addDevice(core, backend, i));
    return { backend, core, devs, dev: devs[0]! };
  };

  const unmanaged = (core: IommuCore, dev: IommuDevice): IommuDomain =>
    core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);

  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (error) {
      return isIommuSimError(error) ? error.code : `not an iommu-sim error: ${String(error)}`;
    }
    return undefined;
  };

  describe(`${name}: IOMMU backend conformance`, () => {
    it("offers exactly the declared domain types", () => {
      const { core, dev } = setup();
      for (const type of DOMAIN_TYPES) {
        // DMA_FQ is a DMA domain the core marks; drivers are never asked for it.
        if (type === IOMMU_DOMAIN_DMA_FQ) continue;
        const want = offered.includes(type);
        let got: IommuDomain | undefined;
        const code = codeOf(() => {
          got = core.domainAlloc(dev, type);
        });
        expect({ type: domainTypeName(type), offered: code === undefined }).toEqual({
          type: domainTypeName(type),
          offered: want,
        });
        if (got) core.domainFree(got);
      }
    });

    it("gives a probed device a group and an attached default domain", () => {
      const { core, dev } = setup();
      const group = core.groupGet(dev);
      expect(group).toBeDefined();
      expect(group!.devices).toEqual([dev]);
      expect(group!.defaultDomain).toBeDefined();
      expect(group!.domain).toBe(group!.defaultDomain);
      if (offered.includes(IOMMU_DOMAIN_DMA)) expect(group!.defaultDomain!.type).toBe(core.defaultDomainType);
      expect(core.dmaApiUsable(dev)).toBe(true);
    });

    it("maps, translates and unmaps every page size of the bitmap", () => {
      const { core, dev } = setup();
      const domain = unmanaged(core, dev);
      for (const size of pgsizesOf(domain.pgsizeBitmap).filter((s) => s <= maxPgsize)) {
        const iova = Math.ceil(iovaBase / size) * size + size;
        const pa = Math.ceil(paBase / size) * size;
        core.map(domain, iova, pa, size, IOMMU_READ | IOMMU_WRITE);
        for (const off of [0, Math.floor(size / 2), size - 1]) {
          expect(core.iovaToPhys(domain, iova + off)).toBe(BigInt(pa + off));
        }
        expect(core.iovaToPhys(domain, iova + size)).toBe(0n);
        expect(core.unmap(domain, iova, size)).toBe(BigInt(size));
        expect(core.iovaToPhys(domain, iova)).toBe(0n);
      }
      core.domainFree(domain);
    });

    it("refuses to map over a live mapping and leaves it intact", () => {
      const { core, dev } = setup();
      const domain = unmanaged(core, dev);
      const min = pgsizesOf(domain.pgsizeBitmap)[0]!;
      core.map(domain, iovaBase + min, paBase, min, IOMMU_READ);
      const code = codeOf(() => core.map(domain, iovaBase, paBase + 16 * min, 4 * min, IOMMU_READ));
      expect(overlapErrnos).toContain(code);
      expect(core.iovaToPhys(domain, iovaBase)).toBe(0n);
      expect(core.iovaToPhys(domain, iovaBase + min)).toBe(BigInt(paBase));
      expect(core.unmap(domain, iovaBase + min, min)).toBe(BigInt(min));
      core.domainFree(domain);
    });

    it(`follows the unmap return rules (partial unmap of a large page: ${options.partialUnmap})`, () => {
      const { core, dev } = setup();
      const domain = unmanaged(core, dev);
      const sizes = pgsizesOf(domain.pgsizeBitmap);
      const min = sizes[0]!;
      // A hole unmaps nothing; misaligned requests unmap nothing.
      expect(core.unmap(domain, iovaBase, min)).toBe(0n);
      core.map(domain, iovaBase, paBase, 2 * min, IOMMU_READ);
      if (min > 1) expect(core.unmap(domain, iovaBase + 1, min)).toBe(0n);
      // A range running into a hole stops there.
      expect(core.unmap(domain, iovaBase, 4 * min)).toBe(BigInt(2 * min));
      const large = sizes[1];
      if (large !== undefined && large <= maxPgsize) {
        const iova = Math.ceil(iovaBase / large) * large;
        const pa = Math.ceil(paBase / large) * large;
        core.map(domain, iova, pa, large, IOMMU_READ);
        const got = core.unmap(domain, iova, min);
        if (options.partialUnmap === "refuse") {
          expect(got).toBe(0n);
          expect(core.iovaToPhys(domain, iova + min)).toBe(BigInt(pa + min));
          expect(core.unmap(domain, iova, large)).toBe(BigInt(large));
        } else {
          expect(got).toBe(BigInt(large));
          expect(core.iovaToPhys(domain, iova + min)).toBe(0n);
        }
      }
      core.domainFree(domain);
    });

    it("attaches an unmanaged domain and detaches back to the default domain", () => {
      const { core, dev } = setup();
      const group = core.groupGet(dev)!;
      const def = group.defaultDomain;
      const domain = unmanaged(core, dev);
      core.attachDevice(domain, dev);
      expect(core.getDomainForDevice(dev)).toBe(domain);
      expect(core.dmaApiUsable(dev)).toBe(false);
      expect(codeOf(() => core.domainFree(domain))).toBe("EBUSY");
      core.detachDevice(domain, dev);
      expect(core.getDomainForDevice(dev)).toBe(def);
      expect(core.dmaApiUsable(dev)).toBe(true);
      core.domainFree(domain);
    });

    it("moves DMA through mappings and faults on unmapped and read-only addresses", () => {
      const { core, backend, dev } = setup();
      const domain = unmanaged(core, dev);
      const min = pgsizesOf(domain.pgsizeBitmap)[0]!;
      core.attachDevice(domain, dev);
      core.map(domain, iovaBase, paBase, min, IOMMU_READ | IOMMU_WRITE);
      core.map(domain, iovaBase + min, paBase + min, min, IOMMU_READ);
      const data = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
      expect(core.deviceDma(dev, { iova: iovaBase + 8, length: 16, write: true, data })).toEqual({
        ok: true,
        data: undefined,
      });
      expect(backend.memory.read(paBase + 8, 16)).toEqual(data);
      const read = core.deviceDma(dev, { iova: iovaBase + 8, length: 16, write: false });
      expect(read.ok && read.data).toEqual(data);

      const seen: [bigint, number][] = [];
      const unmappedFault = core.deviceDma(dev, { iova: iovaBase + 4 * min, length: 4, write: false });
      expect(unmappedFault).toMatchObject({
        ok: false,
        iova: BigInt(iovaBase + 4 * min),
        flags: IOMMU_FAULT_READ,
        reported: "ENOSYS",
      });
      core.setFaultHandler(domain, (_d, device, iova, flags) => {
        expect(device).toBe(dev);
        seen.push([iova, flags]);
        return 0;
      });
      const roFault = core.deviceDma(dev, {
        iova: iovaBase + min,
        length: 4,
        write: true,
        data: new Uint8Array(4),
      });
      expect(roFault).toMatchObject({ ok: false, flags: IOMMU_FAULT_WRITE, reported: 0 });
      expect(seen).toEqual([[BigInt(iovaBase + min), IOMMU_FAULT_WRITE]]);
      expect(backend.memory.read(paBase + min, 4)).toEqual(new Uint8Array(4));
      core.detachDevice(domain, dev);
      core.unmap(domain, iovaBase, 2 * min);
      core.domainFree(domain);
    });

    it("isolates devices: one device's DMA cannot use another's mappings", () => {
      const { core, devs } = setup(2);
      const [a, b] = devs as [IommuDevice, IommuDevice];
      const domain = unmanaged(core, a);
      const min = pgsizesOf(domain.pgsizeBitmap)[0]!;
      core.attachDevice(domain, a);
      core.map(domain, iovaBase, paBase, min, IOMMU_READ | IOMMU_WRITE);
      expect(core.deviceDma(a, { iova: iovaBase, length: 4, write: false }).ok).toBe(true);
      expect(core.deviceDma(b, { iova: iovaBase, length: 4, write: false }).ok).toBe(false);
      if (offered.includes(IOMMU_DOMAIN_BLOCKED)) {
        const owner = {};
        core.detachDevice(domain, a);
        core.groupClaimDmaOwner(core.groupGet(a)!, owner);
        const blocked = core.deviceDma(a, { iova: iovaBase, length: 4, write: false });
        expect(blocked.ok).toBe(false);
        core.groupReleaseDmaOwner(core.groupGet(a)!);
      } else {
        core.detachDevice(domain, a);
      }
      core.unmap(domain, iovaBase, min);
      core.domainFree(domain);
    });

    it("rolls back a map that fails on an injected allocation failure", () => {
      const { core, backend, dev } = setup();
      const allocator = backend.tableAllocator;
      if (allocator === undefined) return;
      const domain = unmanaged(core, dev);
      const min = pgsizesOf(domain.pgsizeBitmap)[0]!;
      // Spans several leaf tables so failures can land mid-way.
      const size = 4096 * min;
      const iova = iovaBase + 4 * min;
      let failures = 0;
      for (let n = 1; n <= 12; n++) {
        const before = allocator.pagesInUse;
        allocator.failAfter(n);
        const code = codeOf(() => core.map(domain, iova, paBase, size, IOMMU_READ));
        allocator.failAfter(0);
        if (code === undefined) {
          expect(core.unmap(domain, iova, size)).toBe(BigInt(size));
          continue;
        }
        failures++;
        expect(code).toBe("ENOMEM");
        for (let off = 0; off < size; off += 64 * min) expect(core.iovaToPhys(domain, iova + off)).toBe(0n);
        expect(allocator.pagesInUse).toBe(before);
      }
      expect(failures).toBeGreaterThan(0);
      core.domainFree(domain);
    });

    it("leaks no table pages once domains are freed", () => {
      const { core, backend, dev } = setup();
      const allocator = backend.tableAllocator;
      if (allocator === undefined) return;
      const before = allocator.pagesInUse;
      const domain = unmanaged(core, dev);
      const sizes = pgsizesOf(domain.pgsizeBitmap).filter((s) => s <= maxPgsize);
      let iova = Math.ceil(iovaBase / sizes.at(-1)!) * sizes.at(-1)!;
      for (const size of sizes) {
        iova = Math.ceil(iova / size) * size;
        core.map(domain, iova, Math.ceil(paBase / size) * size, 3 * size, IOMMU_READ);
        iova += 4 * size;
      }
      core.unmap(domain, Math.ceil(iovaBase / sizes.at(-1)!) * sizes.at(-1)!, sizes[0]!);
      expect(allocator.pagesInUse).toBeGreaterThan(before);
      core.domainFree(domain);
      expect(allocator.pagesInUse).toBe(before);
    });

    it("reports no stale translation after a strict unmap", () => {
      const { core, backend, dev } = setup();
      if (backend.staleTranslation === undefined) {
        expect(codeOf(() => core.staleTranslation(dev, iovaBase))).toBe("EOPNOTSUPP");
        return;
      }
      const domain = unmanaged(core, dev);
      const min = pgsizesOf(domain.pgsizeBitmap)[0]!;
      core.attachDevice(domain, dev);
      core.map(domain, iovaBase, paBase, min, IOMMU_READ);
      expect(core.deviceDma(dev, { iova: iovaBase, length: 4, write: false }).ok).toBe(true);
      core.unmap(domain, iovaBase, min);
      expect(core.staleTranslation(dev, iovaBase)).toBe(false);
      core.detachDevice(domain, dev);
      core.domainFree(domain);
    });
  });
}
