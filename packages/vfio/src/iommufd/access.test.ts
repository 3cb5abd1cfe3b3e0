import { describe, expect, it } from "vitest";
import { errno } from "../test-machine.js";
import { IOMMU_IOAS_MAP_READABLE } from "../uapi/iommufd-structs.js";
import type { Iommufd } from "./iommufd.js";
import { iommufdSetup, P } from "./test-iommufd.js";

/**
 * The selftest's mock access (`IOMMU_TEST_OP_ACCESS_PAGES`): numbered pin items, and an unmap
 * callback that unpins and forgets every item inside the range.
 */
function mockAccess(fd: Iommufd, ioas: number) {
  const items = new Map<number, { iova: bigint; length: bigint }>();
  let next = 1;
  const unmapped: [bigint, bigint][] = [];
  const id = fd.accessCreate(ioas, {
    unmap(iova, length) {
      unmapped.push([iova, length]);
      for (const [k, item] of [...items]) {
        if (item.iova >= iova && item.iova + item.length <= iova + length) {
          fd.accessUnpin(id, item.iova, item.length);
          items.delete(k);
        }
      }
    },
  });
  return {
    id,
    unmapped,
    pin(iova: bigint, length: bigint, write = true): number {
      fd.accessPin(id, iova, length, { write });
      items.set(next, { iova, length });
      return next++;
    },
    destroyPin(item: number): string | undefined {
      const found = items.get(item);
      if (!found) return "ENOENT";
      fd.accessUnpin(id, found.iova, found.length);
      items.delete(item);
      return undefined;
    },
  };
}

describe("ACCESS objects (5.10.20)", () => {
  it("an IOAS unmap of a pinned range calls the access's unmap, which unpins; the pin is gone afterwards (ENOENT)", () => {
    const { fd, ioas, map, proc } = iommufdSetup({ domain: false });
    map(16n * P, 4n * P);
    expect(proc.pinnedPages).toBe(0); // no domain: nothing pinned yet
    const access = mockAccess(fd, ioas);
    const item = access.pin(17n * P, 2n * P);
    expect(proc.pinnedPages).toBe(2);
    expect(fd.ioasUnmap(ioas, 16n * P, 4n * P)).toBe(4n * P);
    expect(access.unmapped).toEqual([[16n * P, 4n * P]]);
    expect(proc.pinnedPages).toBe(0);
    expect(access.destroyPin(item)).toBe("ENOENT");
  });

  it("pins are shared with a domain's (pinned once) and returned as the pages' physical addresses", () => {
    const { fd, ioas, map, proc, buffer, devId } = iommufdSetup();
    map(16n * P, 4n * P);
    expect(proc.pinnedPages).toBe(4);
    const access = mockAccess(fd, ioas);
    const pas = fd.accessPin(access.id, 16n * P, 2n * P, { write: false });
    expect(pas).toEqual([proc.translate(buffer), proc.translate(buffer + P)]);
    expect(proc.pinnedPages).toBe(4);
    expect(proc.pinCount(pas[0]!)).toBe(1);
    fd.accessUnpin(access.id, 16n * P, 2n * P);
    expect(proc.pinnedPages).toBe(4);
    // With the domain gone, only the access keeps its two pages pinned.
    fd.accessPin(access.id, 16n * P, 2n * P, { write: false });
    fd.detach(devId!);
    expect(proc.pinnedPages).toBe(2);
    fd.accessUnpin(access.id, 16n * P, 2n * P);
    expect(proc.pinnedPages).toBe(0);
  });

  it("an access that keeps its pin makes the unmap EBUSY and leaves the area; unpinning lets it go", () => {
    const { fd, ioas, map, proc } = iommufdSetup({ domain: false });
    map(16n * P, 4n * P);
    const stubborn = fd.accessCreate(ioas, { unmap: () => {} });
    fd.accessPin(stubborn, 16n * P, P, { write: true });
    expect(errno(() => fd.ioasUnmap(ioas, 16n * P, 4n * P))).toBe("EBUSY");
    expect(errno(() => fd.ioasUnmap(ioas, 0n, 2n ** 64n - 1n))).toBe("EBUSY");
    expect(fd.ioas(ioas).areas()).toEqual([[16 * 4096, 4 * 4096]]);
    expect(proc.pinnedPages).toBe(1);
    fd.accessUnpin(stubborn, 16n * P, P);
    expect(fd.ioasUnmap(ioas, 16n * P, 4n * P)).toBe(4n * P);
  });

  it("pin errors: nothing mapped ENOENT, write pin of a read-only area EPERM, unknown unpin EINVAL; state unchanged", () => {
    const { fd, ioas, map, proc, buffer } = iommufdSetup({ domain: false });
    map(16n * P, 2n * P, buffer, IOMMU_IOAS_MAP_READABLE);
    const access = fd.accessCreate(ioas, { unmap: () => {} });
    expect(errno(() => fd.accessPin(access, 16n * P, 3n * P, { write: false }))).toBe("ENOENT");
    expect(errno(() => fd.accessPin(access, 16n * P, P, { write: true }))).toBe("EPERM");
    expect(errno(() => fd.accessPin(access, 16n * P, 0n, { write: false }))).toBe("EINVAL");
    expect(errno(() => fd.accessUnpin(access, 16n * P, P))).toBe("EINVAL");
    expect(errno(() => fd.accessPin(ioas, 16n * P, P, { write: false }))).toBe("ENOENT");
    expect(proc.pinnedPages).toBe(0);
  });

  it("an IOAS with an access cannot be destroyed (EBUSY); destroying the access drops its pins", () => {
    const { fd, ioas, map, proc } = iommufdSetup({ domain: false });
    map(16n * P, 2n * P);
    const access = fd.accessCreate(ioas, { unmap: () => {} });
    fd.accessPin(access, 16n * P, 2n * P, { write: true });
    expect(errno(() => fd.destroy(ioas))).toBe("EBUSY");
    fd.destroy(access);
    expect(proc.pinnedPages).toBe(0);
    fd.destroy(ioas);
    expect(errno(() => fd.accessCreate(ioas, { unmap: () => {} }))).toBe("ENOENT");
  });
});

describe("mappings of an exited process (5.10.21)", () => {
  it("attaching the first domain, which must pin, is EFAULT and leaves no page table behind", () => {
    const { fd, ioas, map, proc, device } = iommufdSetup({ domain: false });
    map(16n * P, 4n * P);
    proc.exit();
    const dev = fd.bindDevice(device);
    expect(errno(() => fd.attach(dev, ioas))).toBe("EFAULT");
    expect(fd.ioas(ioas).domains).toEqual([]);
    expect(fd.ioasIovaRanges(ioas).ranges).toEqual([{ start: 0n, last: 2n ** 64n - 1n }]);
    // The IOAS still works once the stale area is gone.
    expect(fd.ioasUnmap(ioas, 16n * P, 4n * P)).toBe(4n * P);
    expect(fd.attach(dev, ioas)).toBeGreaterThan(0);
  });
});
