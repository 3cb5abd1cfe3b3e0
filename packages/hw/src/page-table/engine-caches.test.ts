/**
 * The engine's caches (the cached leaf table of the one-page fast paths, the previous descent's
 * tables, the table a descent ended at) must never change an answer: a table that uses them and one
 * that forgets them before every operation, fed the same operations and the same writes to memory
 * behind their backs (a descriptor cleared, or redirected to a copy of its table), must return the
 * same results and leave byte-identical memory.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPageAllocator } from "../memory/page-allocator.js";
import { createPhysMemory, type PhysMemory } from "../memory/phys-memory.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createPageTable } from "./registry.js";
import type { FormatName, PageTable } from "./types.js";

const G = 2 ** 30;

type Op =
  | { kind: "map"; size: number; slot: number; count: number }
  | { kind: "unmap"; size: number; slot: number; count: number }
  | { kind: "clear" | "redirect"; slot: number; level: number };

function outcome(f: () => unknown): string {
  try {
    return String(f());
  } catch (e) {
    return (e as { code?: string }).code ?? "throw";
  }
}

/** A descriptor on `iova`'s walk at step `level` (if the walk gets there): cleared or redirected. */
function writeBehind(
  pt: PageTable,
  memory: PhysMemory,
  op: Op & { slot: number; level: number },
  iova: number,
): void {
  const steps = pt.walk(iova).steps;
  const step = steps[Math.min(op.level, steps.length - 1)]!;
  const ea = Number(step.descriptorAddress);
  if (op.kind === "clear") {
    memory.writeU64(ea, 0n);
    return;
  }
  // Redirect a table descriptor to a copy of its table (a leaf or invalid entry is left alone).
  const next = steps[Math.min(op.level, steps.length - 1) + 1];
  if (next === undefined) return;
  const old = Number(next.tableAddress);
  const copy = 0x7000_0000 + op.slot * 4096;
  memory.write(copy, memory.read(old, 4096));
  const d = memory.readU64(ea);
  memory.writeU64(ea, (d & ~0xffff_ffff_f000n) | BigInt(copy));
}

describe("the engine's caches never change an answer", () => {
  const configs: FormatName[] = ["arm-lpae-s1", "amd-v1", "intel-vtd-ss"];
  for (const format of configs) {
    it(`${format}: cached and forgetful tables agree under maps, unmaps and writes behind their backs`, () => {
      const sizes = [4096, 2 ** 21, G];
      const op: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant("map" as const),
            size: fc.nat(2),
            slot: fc.nat(1023),
            count: fc.integer({ min: 1, max: 3 }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant("unmap" as const),
            size: fc.nat(2),
            slot: fc.nat(1023),
            count: fc.integer({ min: 1, max: 2 }),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constantFrom("clear" as const, "redirect" as const),
            slot: fc.nat(1023),
            level: fc.nat(3),
          }),
        },
      );
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
          const make = () => {
            const memory = createPhysMemory();
            const pt = createPageTable(format, {
              memory,
              allocator: createPageAllocator(memory),
              ias: 48,
              oas: 48,
              granule: 4096,
            });
            return { memory, pt };
          };
          const a = make();
          const b = make();
          // Addresses over 4 GiB in two 2 GiB windows, so tables are shared and replaced.
          const iovaOf = (slot: number, size: number) => {
            const raw = (slot % 512) * 4096 * 2 ** (slot >> 9 ? 9 : 0) + (slot >> 9) * 2 * G;
            return raw - (raw % size);
          };
          for (const o of ops) {
            (b.pt as unknown as { forgetTable(): void }).forgetTable();
            if (o.kind === "map" || o.kind === "unmap") {
              const size = sizes[o.size]!;
              const iova = iovaOf(o.slot, size);
              const run = (t: PageTable) =>
                o.kind === "map"
                  ? outcome(() => t.mapPages(iova, iova + 8 * G, size, o.count, IOMMU_READ | IOMMU_WRITE))
                  : outcome(() => t.unmapPages(iova, size, o.count));
              expect(run(a.pt)).toBe(run(b.pt));
            } else {
              const iova = iovaOf(o.slot, 4096);
              writeBehind(a.pt, a.memory, o, iova);
              writeBehind(b.pt, b.memory, o, iova);
            }
            expect(a.memory.contentHash()).toBe(b.memory.contentHash());
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
