import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { createProcess, type SimProcess } from "../process/process.js";
import { createFakeMemory } from "../process/test-memory.js";
import { VFIO_DMA_MAP_FLAG_READ as R, VFIO_DMA_MAP_FLAG_WRITE as W } from "../uapi/constants.js";
import { createDmaList } from "./dma-list.js";
import { createPinningBackend, type DomainMapper } from "./pin-map.js";

const P = 4096;

/** A domain recording iova -> pa per page, failing the n-th map call if told to. */
function fakeDomain() {
  const pages = new Map<number, { pa: number; prot: number }>();
  let failIn = 0;
  const domain: DomainMapper & { pages: typeof pages; failAt(n: number): void; maps: number } = {
    pages,
    maps: 0,
    failAt(n) {
      failIn = n;
    },
    map(iova, pa, size, prot) {
      if (failIn > 0 && --failIn === 0)
        throw Object.assign(new Error("fake map failure"), { code: "ENOMEM" });
      for (let off = 0; off < size; off += P) {
        if (pages.has(iova + off)) throw Object.assign(new Error("already mapped"), { code: "EEXIST" });
        pages.set(iova + off, { pa: pa + off, prot });
      }
      domain.maps++;
    },
    unmap(iova, size) {
      for (let off = 0; off < size; off += P) pages.delete(iova + off);
    },
  };
  return domain;
}

function setup(rlimitMemlock = 8 * 1024 * 1024) {
  const mem = createFakeMemory();
  const proc: SimProcess = createProcess({ memory: mem, phys: mem, rlimitMemlock });
  const domains = [fakeDomain(), fakeDomain()];
  const list = createDmaList<SimProcess>({
    backend: createPinningBackend<SimProcess>({
      processOf: (owner) => owner ?? proc,
      domains: () => domains,
    }),
  });
  return { mem, proc, domains, list };
}

describe("pin-and-map backend", () => {
  it("pins the pages and maps contiguous runs into every domain with IOMMU_CACHE; unmap undoes both", () => {
    const { mem, proc, domains, list } = setup();
    const va = proc.mmap({
      length: 16 * P,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE,
    });
    proc.write(va + BigInt(5 * P), new Uint8Array([9])); // faulted in first: breaks physical contiguity
    list.map({ flags: R | W, iova: 0x10_0000, size: 16 * P, vaddr: va, owner: proc });
    expect(proc.lockedVm).toBe(16 * P);
    for (const domain of domains) {
      expect(domain.pages.size).toBe(16);
      expect(domain.maps).toBeGreaterThan(1);
      for (let i = 0; i < 16; i++) {
        const entry = domain.pages.get(0x10_0000 + i * P)!;
        expect(entry.pa).toBe(proc.translate(va + BigInt(i * P)));
        expect(entry.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
      }
    }
    expect(mem.read(domains[0]!.pages.get(0x10_0000 + 5 * P)!.pa, 1)).toEqual(new Uint8Array([9]));
    list.unmap({ flags: 0, iova: 0x10_0000, size: 16 * P, owner: proc });
    expect(proc.lockedVm).toBe(0);
    for (const domain of domains) expect(domain.pages.size).toBe(0);
  });

  it("a write mapping of read-only memory is EPERM; past RLIMIT_MEMLOCK is ENOMEM; both leave no trace", () => {
    const { proc, domains, list } = setup(8 * P);
    const ro = proc.mmap({ length: 4 * P, prot: PROT_READ, flags: MAP_ANONYMOUS | MAP_PRIVATE });
    expect(() => list.map({ flags: R | W, iova: 0, size: 4 * P, vaddr: ro, owner: proc })).toThrow(
      expect.objectContaining({ code: "EPERM" }),
    );
    list.map({ flags: R, iova: 0, size: 4 * P, vaddr: ro, owner: proc });
    const rw = proc.mmap({ length: 8 * P, prot: PROT_READ | PROT_WRITE, flags: MAP_ANONYMOUS | MAP_PRIVATE });
    expect(() => list.map({ flags: R | W, iova: 0x10_0000, size: 8 * P, vaddr: rw, owner: proc })).toThrow(
      expect.objectContaining({ code: "ENOMEM" }),
    );
    expect(list.count).toBe(1);
    expect(proc.lockedVm).toBe(4 * P);
    expect(domains[0]!.pages.size).toBe(4);
  });

  it("fault injection on page pinning at every step of a large map leaves no mapping, pin or IOMMU entry", () => {
    const { mem, proc, domains, list } = setup();
    const pages = 128;
    const va = proc.mmap({
      length: pages * P,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE,
    });
    for (let n = 1; n <= pages; n++) {
      proc.failPinAt(n);
      expect(() => list.map({ flags: R | W, iova: 0, size: pages * P, vaddr: va, owner: proc })).toThrow(
        expect.objectContaining({ code: "EFAULT" }),
      );
      expect(list.count).toBe(0);
      expect(list.dmaAvail).toBe(65535);
      expect(proc.lockedVm).toBe(0);
      for (const domain of domains) expect(domain.pages.size).toBe(0);
    }
    list.map({ flags: R | W, iova: 0, size: pages * P, vaddr: va, owner: proc });
    expect(proc.lockedVm).toBe(pages * P);
    list.clear();
    proc.exit();
    expect(mem.live).toBe(0);
  });

  it("a domain map failure at any step unmaps the other domains and unpins", () => {
    const { proc, domains, list } = setup();
    const va = proc.mmap({ length: 8 * P, prot: PROT_READ | PROT_WRITE, flags: MAP_ANONYMOUS | MAP_PRIVATE });
    domains[1]!.failAt(1);
    expect(() => list.map({ flags: R | W, iova: 0, size: 8 * P, vaddr: va, owner: proc })).toThrow(
      expect.objectContaining({ code: "ENOMEM" }),
    );
    expect(proc.lockedVm).toBe(0);
    for (const domain of domains) expect(domain.pages.size).toBe(0);
    expect(list.count).toBe(0);
  });
});
