import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MMAP_BASE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import { createProcess, type ProcessOptions, type SimProcess } from "./process.js";
import { createFakeMemory, type FakeMemory } from "./test-memory.js";

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANONYMOUS | MAP_PRIVATE;

function setup(options: Partial<ProcessOptions> = {}): { mem: FakeMemory; proc: SimProcess } {
  const mem = createFakeMemory();
  const proc = createProcess({ memory: mem, phys: mem, ...options });
  return { mem, proc };
}

function snapshot(proc: SimProcess) {
  return {
    lockedVm: proc.lockedVm,
    pinnedPages: proc.pinnedPages,
    residentPages: proc.residentPages,
    vmas: proc.vmas(),
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe("mmap placement", () => {
  it("places mappings top-down below the mmap base and merges adjacent anonymous VMAs", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    const b = proc.mmap({ length: P, prot: RW, flags: ANON });
    expect(a).toBe(BigInt(DEFAULT_MMAP_BASE - 2 * P));
    expect(b).toBe(a - BigInt(P));
    expect(proc.vmas()).toEqual([{ start: b, end: a + BigInt(2 * P), prot: RW, flags: ANON }]);
  });

  it("rounds the length up to whole pages", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 1, prot: RW, flags: ANON });
    expect(proc.vmas()[0]?.end).toBe(a + BigInt(P));
  });

  it("uses a free hint and ignores a taken one", () => {
    const { proc } = setup();
    expect(proc.mmap({ length: P, prot: RW, flags: ANON, addr: 0x4000_0000 })).toBe(0x4000_0000n);
    const again = proc.mmap({ length: P, prot: RW, flags: ANON, addr: 0x4000_0000 });
    expect(again).toBe(BigInt(DEFAULT_MMAP_BASE - P));
  });

  it("MAP_FIXED replaces what is mapped there and frees its pages", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.write(a, new Uint8Array([1]));
    expect(mem.live).toBe(1);
    proc.mmap({ length: P, prot: PROT_READ, flags: ANON | MAP_FIXED, addr: a });
    expect(mem.live).toBe(0);
    expect(proc.read(a, 1)).toEqual(new Uint8Array([0]));
    expect(proc.vmas().map((v) => v.prot)).toEqual([PROT_READ, RW]);
  });

  it("finds the highest gap that fits, skipping smaller holes", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 3 * P, prot: RW, flags: ANON });
    proc.munmap(a + BigInt(P), P); // one-page hole in the middle
    const big = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    expect(big).toBe(a - BigInt(2 * P));
    const small = proc.mmap({ length: P, prot: RW, flags: ANON });
    expect(small).toBe(a + BigInt(P));
  });

  it.each([
    ["length 0", { length: 0, prot: RW, flags: ANON }, "EINVAL"],
    [
      "shared and private",
      { length: P, prot: RW, flags: MAP_ANONYMOUS | MAP_SHARED | MAP_PRIVATE },
      "EINVAL",
    ],
    ["neither shared nor private", { length: P, prot: RW, flags: MAP_ANONYMOUS }, "EINVAL"],
    ["unknown flag", { length: P, prot: RW, flags: ANON | 0x100000 }, "EINVAL"],
    ["unknown prot", { length: P, prot: 0x8, flags: ANON }, "EINVAL"],
    ["file mapping", { length: P, prot: RW, flags: MAP_PRIVATE }, "EBADF"],
    ["fixed unaligned", { length: P, prot: RW, flags: ANON | MAP_FIXED, addr: 0x4000_0001 }, "EINVAL"],
    ["fixed below mmap_min_addr", { length: P, prot: RW, flags: ANON | MAP_FIXED, addr: 0x1000 }, "EPERM"],
    [
      "fixed past TASK_SIZE",
      { length: 2 * P, prot: RW, flags: ANON | MAP_FIXED, addr: 2 ** 47 - P },
      "ENOMEM",
    ],
    ["fixed without address", { length: P, prot: RW, flags: ANON | MAP_FIXED }, "EINVAL"],
  ])("refuses %s", (_name, request, code) => {
    const { proc } = setup();
    expect(codeOf(() => proc.mmap(request))).toBe(code);
    expect(proc.vmas()).toEqual([]);
  });

  it("fails with ENOMEM when no gap fits", () => {
    const { proc } = setup({ mmapBase: 0x10000 + 4 * P });
    proc.mmap({ length: 3 * P, prot: RW, flags: ANON });
    expect(codeOf(() => proc.mmap({ length: 2 * P, prot: RW, flags: ANON }))).toBe("ENOMEM");
    expect(proc.mmap({ length: P, prot: RW, flags: ANON })).toBe(0x10000n);
  });
});

describe("munmap and mprotect", () => {
  it("munmap splits a VMA and accepts holes", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.munmap(a + BigInt(P), 2 * P);
    proc.munmap(a + BigInt(P), 2 * P);
    expect(proc.vmas().map((v) => [v.start - a, v.end - a])).toEqual([
      [0n, BigInt(P)],
      [BigInt(3 * P), BigInt(4 * P)],
    ]);
    expect(codeOf(() => proc.munmap(a + 1n, P))).toBe("EINVAL");
    expect(codeOf(() => proc.munmap(a, 0))).toBe("EINVAL");
  });

  it("mprotect changes the middle of a VMA and refuses a range with a hole (ENOMEM, unchanged)", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.mprotect(a + BigInt(P), P, PROT_READ);
    expect(proc.vmas().map((v) => v.prot)).toEqual([RW, PROT_READ, RW]);
    proc.mprotect(a + BigInt(P), P, RW);
    expect(proc.vmas()).toHaveLength(1);
    proc.munmap(a + BigInt(2 * P), P);
    const before = snapshot(proc);
    expect(codeOf(() => proc.mprotect(a, 4 * P, PROT_READ))).toBe("ENOMEM");
    expect(snapshot(proc)).toEqual(before);
    expect(codeOf(() => proc.mprotect(a + 2n, P, PROT_READ))).toBe("EINVAL");
  });
});

describe("CPU access", () => {
  it("reads untouched memory as zero without allocating, writes fault pages in", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    expect(proc.read(a, 16)).toEqual(new Uint8Array(16));
    expect(mem.live).toBe(0);
    const data = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
    proc.write(a + BigInt(P - 5), data); // straddles the page boundary
    expect(mem.live).toBe(2);
    expect(proc.read(a + BigInt(P - 5), 10)).toEqual(data);
    const pa = proc.translate(a + BigInt(P - 5));
    expect(pa).toBeDefined();
    expect(mem.read(pa!, 5)).toEqual(data.subarray(0, 5));
  });

  it("refuses a write to read-only memory with EFAULT and writes nothing", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    proc.mprotect(a + BigInt(P), P, PROT_READ);
    expect(codeOf(() => proc.write(a + BigInt(P - 1), new Uint8Array([1, 2])))).toBe("EFAULT");
    expect(mem.live).toBe(0);
    expect(codeOf(() => proc.read(a + BigInt(2 * P), 1))).toBe("EFAULT");
  });
});

describe("pinning", () => {
  it("faults pages in, returns their physical addresses and counts them once in lockedVm", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.write(a, new Uint8Array([7]));
    const pas = proc.pin(a, 4, { write: true });
    expect(pas).toHaveLength(4);
    expect(pas[0]).toBe(proc.translate(a));
    expect(mem.read(pas[0]!, 1)).toEqual(new Uint8Array([7]));
    expect(proc.lockedVm).toBe(4 * P);
    const again = proc.pin(a, 2, { write: false });
    expect(again).toEqual(pas.slice(0, 2));
    expect(proc.pinCount(pas[0]!)).toBe(2);
    expect(proc.lockedVm).toBe(4 * P);
    proc.unpin(pas);
    expect(proc.lockedVm).toBe(2 * P);
    proc.unpin(again);
    expect(proc.lockedVm).toBe(0);
    expect(mem.live).toBe(4);
  });

  it("refuses an unmapped page with EFAULT and pins nothing", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.munmap(a + BigInt(3 * P), P);
    const before = snapshot(proc);
    expect(codeOf(() => proc.pin(a, 4, { write: false }))).toBe("EFAULT");
    expect(snapshot(proc)).toEqual(before);
    expect(codeOf(() => proc.pin(0x5000_0000, 1, { write: false }))).toBe("EFAULT");
  });

  it("refuses a write pin of read-only memory with EPERM, allows a read pin", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 2 * P, prot: PROT_READ, flags: ANON });
    expect(codeOf(() => proc.pin(a, 2, { write: true }))).toBe("EPERM");
    expect(proc.lockedVm).toBe(0);
    expect(proc.pin(a, 2, { write: false })).toHaveLength(2);
  });

  it("refuses PROT_NONE with EFAULT and an unaligned address with EINVAL", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: P, prot: PROT_NONE, flags: ANON });
    expect(codeOf(() => proc.pin(a, 1, { write: false }))).toBe("EFAULT");
    expect(codeOf(() => proc.pin(a + 8n, 1, { write: false }))).toBe("EINVAL");
  });

  it("enforces RLIMIT_MEMLOCK in pages: exactly the limit pins, one more is ENOMEM with nothing pinned", () => {
    const { proc, mem } = setup({ rlimitMemlock: 8 * P + 100 });
    const a = proc.mmap({ length: 16 * P, prot: RW, flags: ANON });
    const first = proc.pin(a, 5, { write: true });
    const before = snapshot(proc);
    const allocs = mem.allocs;
    expect(codeOf(() => proc.pin(a + BigInt(5 * P), 4, { write: true }))).toBe("ENOMEM");
    expect(snapshot(proc)).toEqual(before);
    expect(mem.allocs).toBe(allocs);
    // Re-pinning already pinned pages costs nothing.
    proc.pin(a, 5, { write: true });
    proc.pin(a + BigInt(5 * P), 3, { write: true });
    expect(proc.lockedVm).toBe(8 * P);
    proc.unpin(first);
    expect(proc.lockedVm).toBe(8 * P);
  });

  it("the default limit is 8 MiB", () => {
    const { proc } = setup();
    expect(proc.rlimitMemlock).toBe(8 * 1024 * 1024);
    const a = proc.mmap({ length: 8 * 1024 * 1024 + P, prot: RW, flags: ANON });
    expect(codeOf(() => proc.pin(a, 2049, { write: true }))).toBe("ENOMEM");
    expect(proc.pin(a, 2048, { write: true })).toHaveLength(2048);
  });

  it("CAP_IPC_LOCK bypasses the limit but is still accounted", () => {
    const { proc } = setup({ rlimitMemlock: 0, capIpcLock: true });
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    proc.pin(a, 4, { write: true });
    expect(proc.lockedVm).toBe(4 * P);
  });

  it("an injected fault at every step of a large pin leaves no pin and no accounting", () => {
    const { proc, mem } = setup();
    const pages = 64;
    const a = proc.mmap({ length: pages * P, prot: RW, flags: ANON });
    for (let n = 1; n <= pages; n++) {
      proc.failPinAt(n, "EFAULT");
      expect(codeOf(() => proc.pin(a, pages, { write: true }))).toBe("EFAULT");
      expect(proc.lockedVm).toBe(0);
      expect(proc.pinnedPages).toBe(0);
    }
    const pas = proc.pin(a, pages, { write: true });
    expect(proc.lockedVm).toBe(pages * P);
    proc.unpin(pas);
    proc.exit();
    expect(mem.live).toBe(0);
  });

  it("an allocator failure mid-pin leaves no pin behind", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 8 * P, prot: RW, flags: ANON });
    mem.failAllocAt(5);
    expect(codeOf(() => proc.pin(a, 8, { write: true }))).toBe("ENOMEM");
    expect(proc.pinnedPages).toBe(0);
    expect(proc.lockedVm).toBe(0);
  });

  it("unpin of an unpinned page is EINVAL and changes nothing", () => {
    const { proc } = setup();
    const a = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    const pas = proc.pin(a, 1, { write: true });
    const before = snapshot(proc);
    expect(codeOf(() => proc.unpin([pas[0]!, pas[0]!]))).toBe("EINVAL");
    expect(snapshot(proc)).toEqual(before);
    expect(proc.pinCount(pas[0]!)).toBe(1);
  });

  it("munmap keeps pinned pages alive until the last unpin (a device still reaches them)", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 2 * P, prot: RW, flags: ANON });
    proc.write(a, new Uint8Array([42]));
    const pas = proc.pin(a, 2, { write: true });
    proc.munmap(a, 2 * P);
    expect(mem.live).toBe(2);
    expect(proc.lockedVm).toBe(2 * P);
    expect(mem.read(pas[0]!, 1)).toEqual(new Uint8Array([42]));
    proc.unpin(pas);
    expect(mem.live).toBe(0);
    expect(proc.lockedVm).toBe(0);
  });
});

describe("exit", () => {
  it("releases pins, pages and VMAs; later calls fail with ENODEV, unpin is a no-op", () => {
    const { proc, mem } = setup();
    const a = proc.mmap({ length: 4 * P, prot: RW, flags: ANON });
    const pas = proc.pin(a, 4, { write: true });
    proc.munmap(a, P);
    proc.exit();
    expect(mem.live).toBe(0);
    expect(mem.allocs).toBe(mem.frees);
    expect(proc.lockedVm).toBe(0);
    expect(proc.vmas()).toEqual([]);
    expect(codeOf(() => proc.pin(a, 1, { write: false }))).toBe("ENODEV");
    expect(codeOf(() => proc.mmap({ length: P, prot: RW, flags: ANON }))).toBe("ENODEV");
    expect(() => proc.unpin(pas)).not.toThrow();
    proc.exit();
  });
});

describe("property: lockedVm and page balance", () => {
  type Op =
    | { kind: "mmap"; pages: number }
    | { kind: "munmap"; region: number; first: number; pages: number }
    | { kind: "pin"; region: number; first: number; pages: number; write: boolean }
    | { kind: "unpin"; index: number }
    | { kind: "mprotect"; region: number; first: number; pages: number; ro: boolean }
    | { kind: "touch"; region: number; first: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("mmap" as const), pages: fc.integer({ min: 1, max: 8 }) }),
    fc.record({
      kind: fc.constant("munmap" as const),
      region: fc.nat(7),
      first: fc.nat(7),
      pages: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({
      kind: fc.constant("pin" as const),
      region: fc.nat(7),
      first: fc.nat(7),
      pages: fc.integer({ min: 1, max: 8 }),
      write: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("unpin" as const), index: fc.nat(20) }),
    fc.record({
      kind: fc.constant("mprotect" as const),
      region: fc.nat(7),
      first: fc.nat(7),
      pages: fc.integer({ min: 1, max: 4 }),
      ro: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("touch" as const), region: fc.nat(7), first: fc.nat(7) }),
  );

  it("lockedVm always equals distinct pinned pages (oracle) times the page size; exit balances memory", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 4, max: 40 }), (ops, limitPages) => {
        const { proc, mem } = setup({ rlimitMemlock: limitPages * P });
        const regions: bigint[] = [];
        // Oracle: multiset of pins by physical address, and the list of successful pin calls.
        const pinCounts = new Map<number, number>();
        const pinCalls: number[][] = [];
        const at = (region: number, first: number): bigint | undefined => {
          const base = regions[region % Math.max(regions.length, 1)];
          return base === undefined ? undefined : base + BigInt(first * P);
        };
        for (const o of ops) {
          try {
            if (o.kind === "mmap") regions.push(proc.mmap({ length: o.pages * P, prot: RW, flags: ANON }));
            else if (o.kind === "munmap") {
              const va = at(o.region, o.first);
              if (va !== undefined) proc.munmap(va, o.pages * P);
            } else if (o.kind === "mprotect") {
              const va = at(o.region, o.first);
              if (va !== undefined) proc.mprotect(va, o.pages * P, o.ro ? PROT_READ : RW);
            } else if (o.kind === "touch") {
              const va = at(o.region, o.first);
              if (va !== undefined) proc.write(va, new Uint8Array([1]));
            } else if (o.kind === "pin") {
              const va = at(o.region, o.first);
              if (va === undefined) continue;
              const before = pinCounts.size;
              const pas = proc.pin(va, o.pages, { write: o.write });
              for (const pa of pas) pinCounts.set(pa, (pinCounts.get(pa) ?? 0) + 1);
              expect(pinCounts.size).toBeLessThanOrEqual(limitPages);
              expect(pinCounts.size).toBeGreaterThanOrEqual(before);
              pinCalls.push(pas);
            } else {
              const call = pinCalls.splice(o.index % Math.max(pinCalls.length, 1), 1)[0];
              if (call === undefined) continue;
              proc.unpin(call);
              for (const pa of call) {
                const c = pinCounts.get(pa)! - 1;
                if (c === 0) pinCounts.delete(pa);
                else pinCounts.set(pa, c);
              }
            }
          } catch (error) {
            const code = (error as { code?: string }).code;
            expect(["EFAULT", "EPERM", "ENOMEM", "EINVAL"]).toContain(code);
          }
          expect(proc.lockedVm).toBe(pinCounts.size * P);
          expect(proc.pinnedPages).toBe(pinCounts.size);
          for (const [pa, count] of pinCounts) expect(proc.pinCount(pa)).toBe(count);
          expect(mem.live).toBe(proc.residentPages);
        }
        proc.exit();
        expect(mem.live).toBe(0);
        expect(mem.allocs).toBe(mem.frees);
        expect(proc.lockedVm).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
