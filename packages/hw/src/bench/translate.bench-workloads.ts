/**
 * `translate-miss`: the full hardware path of an IOTLB miss through the translation unit - IOTLB
 * lookup (miss), a four-level ARM LPAE walk read from physical memory, the permission check and the
 * IOTLB fill (with an eviction once the IOTLB is full) - for 262144 distinct pages in the native
 * baseline's shuffled order, so no access can hit.
 */
import { createPhysMemory } from "../memory/phys-memory.js";
import { createPageTable } from "../page-table/registry.js";
import { IOMMU_READ, IOMMU_WRITE } from "../prot.js";
import { createTranslationUnit, type TranslationUnit } from "../translation/translation-unit.js";
import { createTranslateOut, DmaAccess, type TranslateOut } from "../translation/types.js";
import { type BenchResult, benchNow, benchSink, nsPerOp } from "./clock.js";
import { xorshiftOrder } from "./page-table.bench-workloads.js";

const PAGES = 262144;
const IOVA_BASE = 0x1_0000_0000;
const PA_BASE = 0x8_0000_0000;
const PAGE = 4096;

function missLoop(tu: TranslationUnit, order: Uint32Array, out: TranslateOut): number {
  let acc = 0;
  for (let i = 0; i < order.length; i++) {
    tu.translate(1, IOVA_BASE + order[i]! * PAGE + 8, DmaAccess.READ, out);
    acc += out.outputAddress;
  }
  return acc;
}

/** Runs `translate-miss` `reps` times (default 5) on fresh IOTLBs and reports the best. */
export function benchTranslateMiss(options: { reps?: number; pages?: number } = {}): BenchResult {
  const pages = options.pages ?? PAGES;
  const memory = createPhysMemory();
  const table = createPageTable("arm-lpae-s1", { memory, ias: 48, oas: 48 });
  for (let i = 0; i < pages; i++)
    table.mapPages(IOVA_BASE + i * PAGE, PA_BASE + i * PAGE, PAGE, 1, IOMMU_READ | IOMMU_WRITE);
  const order = xorshiftOrder(pages);
  const out = createTranslateOut();
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < (options.reps ?? 5); rep++) {
    const tu = createTranslationUnit({ memory, iotlb: { entries: 1024, ways: 4, replacement: "lru" } });
    tu.setStream(1, {
      mode: "translate",
      stage1: { format: "arm-lpae-s1", root: table.root, ias: 48, oas: 48 },
      asid: 1,
    });
    const t0 = benchNow();
    benchSink.value += missLoop(tu, order, out);
    best = Math.min(best, benchNow() - t0);
  }
  table.free();
  return { workload: "translate-miss", ops: pages, ns_per_op: nsPerOp(best, pages) };
}
