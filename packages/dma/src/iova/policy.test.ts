import { isIommuSimError } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { createIovaDomain } from "./iova-domain.js";
import { type IovaPolicyDevice, iommuDmaAllocIova, iommuDmaLimit } from "./policy.js";
import { createIovaRcache } from "./rcache.js";

const MASK48 = (1n << 48n) - 1n;
const MASK32 = 0xffff_ffffn;

function setup(startPfn = 1) {
  const domain = createIovaDomain({ granule: 4096, startPfn });
  return { domain, rc: createIovaRcache(domain, { cpus: 1 }) };
}

function pciDevice(): IovaPolicyDevice & { notices: string[] } {
  const notices: string[] = [];
  return { pci32bitWorkaround: true, notices, notice: (m) => notices.push(m) };
}

describe("iommuDmaLimit", () => {
  it("takes min_not_zero(mask, bus limit), then the aperture end when forced", () => {
    expect(iommuDmaLimit({ dmaMask: MASK48 }, 12)).toMatchObject({
      dmaLimit: MASK48,
      limitPfn: 2 ** 36 - 1,
      limit32Pfn: 0xfffff,
      above4G: true,
      bits: 48,
    });
    expect(iommuDmaLimit({ dmaMask: MASK48, busDmaLimit: 0n }, 12).dmaLimit).toBe(MASK48);
    expect(iommuDmaLimit({ dmaMask: MASK48, busDmaLimit: (1n << 40n) - 1n }, 12).bits).toBe(40);
    const ap = iommuDmaLimit({ dmaMask: MASK48, forceAperture: true, apertureEnd: (1n << 39n) - 1n }, 12);
    expect(ap.dmaLimit).toBe((1n << 39n) - 1n);
    expect(iommuDmaLimit({ dmaMask: MASK48, apertureEnd: 1n << 20n }, 12).dmaLimit).toBe(MASK48);
    expect(iommuDmaLimit({ dmaMask: MASK32 }, 12).above4G).toBe(false);
    // A 64-bit mask with 512-byte granules exceeds exact pfns: clamped.
    expect(Number.isSafeInteger(iommuDmaLimit({ dmaMask: (1n << 64n) - 1n }, 9).limitPfn)).toBe(true);
    expect(() => iommuDmaLimit({ dmaMask: 0n }, 12)).toThrow(/DMA mask 0/);
  });
});

describe("iommu_dma_alloc_iova", () => {
  it("a PCI device gets 32-bit IOVAs until they run out, then says so once and stays above", () => {
    // Only pfns 0xffffe and 0xfffff exist below 4 GiB.
    const { rc } = setup(0xffffe);
    const dev = pciDevice();
    const limit = iommuDmaLimit({ dmaMask: MASK48 }, 12);
    expect(iommuDmaAllocIova(rc, 4096n, limit, dev, 0)).toBe(0xffff_f000n);
    expect(iommuDmaAllocIova(rc, 4096n, limit, dev, 0)).toBe(0xffff_e000n);
    expect(dev.notices).toEqual([]);
    expect(iommuDmaAllocIova(rc, 4096n, limit, dev, 0)).toBe(0xffff_ffff_f000n);
    expect(dev.pci32bitWorkaround).toBe(false);
    expect(dev.notices).toEqual(["Using 48-bit DMA addresses"]);
    // Space below 4 GiB again is not tried any more.
    rc.freeIovaFast(0xfffff, 1, 0);
    rc.freeCpuCachedIovas(0);
    expect(iommuDmaAllocIova(rc, 4096n, limit, dev, 0)).toBe(0xffff_ffff_e000n);
    expect(dev.notices).toHaveLength(1);
  });

  it("a non-PCI device goes straight to the top of its mask", () => {
    const { rc } = setup();
    const dev: IovaPolicyDevice = { pci32bitWorkaround: false };
    expect(iommuDmaAllocIova(rc, 8192n, iommuDmaLimit({ dmaMask: MASK48 }, 12), dev, 0)).toBe(
      0xffff_ffff_e000n,
    );
  });

  it("rounds cacheable sizes to a power of two and aligns them; larger sizes stay exact", () => {
    const { rc, domain } = setup();
    const dev: IovaPolicyDevice = { pci32bitWorkaround: false };
    const limit = iommuDmaLimit({ dmaMask: MASK32 }, 12);
    expect(iommuDmaAllocIova(rc, 3n * 4096n, limit, dev, 0)).toBe(0xffff_c000n);
    expect(domain.findIova(0xffffc)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
    // 33 pages: not rounded, but size-aligned to 64 pages: (0xffffc - 33) & ~63 = 0xfffc0.
    expect(iommuDmaAllocIova(rc, 33n * 4096n, limit, dev, 0)).toBe(0xfffc0n * 4096n);
  });

  it("returns 0 when nothing fits, after flushing the caches", () => {
    const { rc } = setup(0xffff0);
    const dev: IovaPolicyDevice = { pci32bitWorkaround: false };
    const limit = iommuDmaLimit({ dmaMask: MASK32 }, 12);
    expect(iommuDmaAllocIova(rc, 64n * 4096n, limit, dev, 0)).toBe(0n);
    expect(rc.stats().flushes).toBe(1);
  });

  it("rejects a size that is not a multiple of the granule, naming it", () => {
    const { rc, domain } = setup();
    const before = domain.snapshot();
    try {
      iommuDmaAllocIova(rc, 100n, iommuDmaLimit({ dmaMask: MASK32 }, 12), { pci32bitWorkaround: false }, 0);
      expect.unreachable();
    } catch (error) {
      expect(isIommuSimError(error) && error.code).toBe("EINVAL");
      expect((error as Error).message).toMatch(/100/);
    }
    expect(domain.snapshot()).toEqual(before);
  });
});
