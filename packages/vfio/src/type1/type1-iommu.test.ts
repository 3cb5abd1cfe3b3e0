import type { ReferenceBackendOptions } from "@iommu-sim/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { errno, machine } from "../test-machine.js";
import {
  VFIO_DMA_MAP_FLAG_READ as R,
  VfioExtension,
  VFIO_DMA_MAP_FLAG_WRITE as W,
} from "../uapi/constants.js";

const P = 4096;
const MiB = 1 << 20;

function container(ref: ReferenceBackendOptions = {}, rlimitMemlock = 256 * MiB) {
  const m = machine({ ref, vfio: { dirtyScope: "written" } });
  const { device, group } = m.addDevice(1);
  const proc = m.vfio.createProcess({ rlimitMemlock });
  const c = m.vfio.openContainer(proc);
  m.vfio.openGroup(proc, group.id).setContainer(c);
  c.setIommu(VfioExtension.TYPE1v2_IOMMU);
  const domain = c.iommu!.domains[0]!;
  const mapped = (iova: number) => m.core.iovaToPhys(domain, iova) !== 0n;
  return { m, device, proc, c, domain, mapped };
}

describe("a large MAP_DMA failing at every step leaves nothing pinned or mapped", () => {
  const pages = 1024; // 4 MiB in 4 KiB pages, physically scattered: one map call per page

  it("page pinning fails at page k, for every k", () => {
    const { proc, c, mapped, m } = container({ pgsizeBitmap: 0x1000 });
    const va = proc.mmap({
      length: pages * P,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE,
    });
    const tables = m.ref.tableAllocator.pagesInUse;
    for (let k = 1; k <= pages; k += k < 8 ? 1 : 37) {
      proc.failPinAt(k);
      expect(errno(() => c.mapDma({ flags: R | W, vaddr: va, iova: 0, size: pages * P }))).toBe("EFAULT");
      expect(proc.lockedVm).toBe(0);
      expect(proc.pinnedPages).toBe(0);
      expect(c.iommu!.list.count).toBe(0);
      expect(c.iommu!.list.dmaAvail).toBe(65535);
      expect(mapped(0) || mapped((k - 1) * P)).toBe(false);
      expect(m.ref.tableAllocator.pagesInUse).toBe(tables);
    }
    proc.failPinAt(0);
    c.mapDma({ flags: R | W, vaddr: va, iova: 0, size: pages * P });
    expect(proc.lockedVm).toBe(pages * P);
  });

  it("table allocation fails at the k-th allocation, for every k until the map succeeds", () => {
    const { proc, c, mapped, m } = container({ pgsizeBitmap: 0x1000 });
    const va = proc.mmap({
      length: pages * P,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE,
    });
    // Touch the pages backwards: no two neighbours physically adjacent, so each page is its own run.
    for (let i = pages - 1; i >= 0; i--) proc.write(va + BigInt(i * P), new Uint8Array([1]));
    const tables = m.ref.tableAllocator.pagesInUse;
    let k = 1;
    for (; ; k++) {
      m.ref.tableAllocator.failAfter(k);
      const code = errno(() => c.mapDma({ flags: R | W, vaddr: va, iova: 0, size: pages * P }));
      m.ref.tableAllocator.failAfter(0);
      if (code === undefined) break;
      expect(code).toBe("ENOMEM");
      expect(proc.lockedVm).toBe(0);
      expect(proc.pinnedPages).toBe(0);
      expect(c.iommu!.list.count).toBe(0);
      expect(mapped(0)).toBe(false);
      expect(m.ref.tableAllocator.pagesInUse).toBe(tables);
    }
    expect(k).toBe(3); // 4 MiB of 4 KiB leaves: two 512-leaf chunks, the third allocation succeeds
    expect(mapped((pages - 1) * P)).toBe(true);
  });
});

describe("huge-page backed mappings", () => {
  it("MAP_HUGETLB memory maps with 2 MiB IOMMU pages and unmaps back to nothing", () => {
    const { proc, c, m, domain } = container();
    const va = proc.mmap({
      length: 4 * MiB,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE | MAP_HUGETLB,
    });
    expect(va % BigInt(2 * MiB)).toBe(0n);
    const ram = m.ram.pagesInUse;
    c.mapDma({ flags: R | W, vaddr: va, iova: 2 * MiB, size: 4 * MiB });
    expect(m.ram.pagesInUse).toBe(ram + 1024);
    const pa = m.core.iovaToPhys(domain, 2 * MiB);
    expect(pa % BigInt(2 * MiB)).toBe(0n);
    expect(m.core.iovaToPhys(domain, 4 * MiB - 1)).toBe(pa + BigInt(2 * MiB - 1));
    c.unmapDma({ flags: 0, iova: 2 * MiB, size: 4 * MiB });
    proc.munmap(va, 4 * MiB);
    expect(m.ram.pagesInUse).toBe(ram);
  });
});

describe("property: random map/unmap/dirty sequences against an oracle", () => {
  type Op =
    | { kind: "map"; slot: number; pages: number; vslot: number }
    | { kind: "unmap"; slot: number; pages: number }
    | { kind: "dirty"; slot: number }
    | { kind: "track"; on: boolean };
  const SLOTS = 32; // IOVA slots of 8 pages
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("map" as const),
      slot: fc.nat(SLOTS - 1),
      pages: fc.integer({ min: 1, max: 12 }),
      vslot: fc.nat(15),
    }),
    fc.record({
      kind: fc.constant("unmap" as const),
      slot: fc.nat(SLOTS - 1),
      pages: fc.integer({ min: 1, max: 40 }),
    }),
    fc.record({ kind: fc.constant("dirty" as const), slot: fc.nat(SLOTS * 8 - 1) }),
    fc.record({ kind: fc.constant("track" as const), on: fc.boolean() }),
  );

  it("mappings, pins and dirty bits follow the oracle; locked memory always equals pages pinned", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { proc, c, device, m, domain } = container({}, 64 * P);
        const va = proc.mmap({
          length: (16 * 8 + 16) * P,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_ANONYMOUS | MAP_PRIVATE,
        });
        // Oracle: mapping start page -> { pages, vpage }, plus pins by virtual page.
        const oracle = new Map<number, { pages: number; vpage: number }>();
        const dirty = new Set<number>();
        let tracking = false;
        const pinsOf = () => {
          const pins = new Map<number, number>();
          for (const { pages, vpage } of oracle.values())
            for (let i = 0; i < pages; i++) pins.set(vpage + i, (pins.get(vpage + i) ?? 0) + 1);
          return pins;
        };
        const find = (page: number) => [...oracle].find(([s, d]) => s <= page && page < s + d.pages);
        for (const o of ops) {
          if (o.kind === "map") {
            const start = o.slot * 8;
            const vpage = o.vslot * 8;
            const overlap = [...oracle].some(([s, d]) => s < start + o.pages && start < s + d.pages);
            const pins = pinsOf();
            let fresh = 0;
            for (let i = 0; i < o.pages; i++) if (!pins.has(vpage + i)) fresh++;
            const expected = overlap ? "EEXIST" : pins.size + fresh > 64 ? "ENOMEM" : undefined;
            const got = errno(() =>
              c.mapDma({ flags: R | W, vaddr: va + BigInt(vpage * P), iova: start * P, size: o.pages * P }),
            );
            expect(got).toBe(expected);
            if (!got) oracle.set(start, { pages: o.pages, vpage });
          } else if (o.kind === "unmap") {
            const start = o.slot * 8;
            const end = start + o.pages;
            const head = find(start);
            const tail = find(end - 1);
            const bisect = (head && head[0] !== start) || (tail && tail[0] + tail[1].pages !== end);
            const got = errno(() => c.unmapDma({ flags: 0, iova: start * P, size: o.pages * P }));
            expect(got).toBe(bisect ? "EINVAL" : undefined);
            if (!bisect)
              for (const [s, d] of [...oracle]) {
                if (s >= start && s < end) {
                  oracle.delete(s);
                  for (const p of [...dirty]) if (p >= s && p < s + d.pages) dirty.delete(p);
                }
              }
          } else if (o.kind === "dirty") {
            const r = m.vfio.deviceDma(device, {
              iova: o.slot * P,
              length: 1,
              write: true,
              data: new Uint8Array(1),
            });
            expect(r.ok).toBe(find(o.slot) !== undefined);
            if (r.ok && tracking) dirty.add(o.slot);
          } else {
            if (o.on) {
              if (!tracking) dirty.clear();
              c.dirtyStart();
            } else {
              c.dirtyStop();
              dirty.clear();
            }
            tracking = o.on;
          }
          // Invariants after every step.
          const pins = pinsOf();
          expect(proc.lockedVm).toBe(pins.size * P);
          expect(proc.pinnedPages).toBe(pins.size);
          expect(c.iommu!.list.mappings().map((d) => [d.iova / P, d.size / P])).toEqual(
            [...oracle].sort((a, b) => a[0] - b[0]).map(([s, d]) => [s, d.pages]),
          );
          for (const [s, d] of oracle) expect(m.core.iovaToPhys(domain, (s + d.pages - 1) * P)).not.toBe(0n);
        }
        if (tracking) {
          for (const [s, d] of oracle) {
            const out = new Uint8Array(8);
            c.dirtyGetBitmap({ iova: s * P, size: d.pages * P, bitmap: { pgsize: P, size: 8 } }, out);
            for (let i = 0; i < d.pages; i++) {
              const bit = ((out[i >> 3]! >> (i & 7)) & 1) === 1;
              expect(bit).toBe(dirty.has(s + i));
            }
          }
        }
        m.vfio.exitProcess(proc);
        expect(m.ram.pagesInUse).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});
