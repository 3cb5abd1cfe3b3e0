/**
 * fast-check arbitraries for IOMMU operation sequences.
 */
import { IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import * as fc from "fast-check";

/** One operation of a generated sequence. */
export type MapOp =
  | {
      readonly op: "map";
      readonly iova: number;
      readonly paddr: number;
      readonly size: number;
      readonly prot: number;
    }
  | { readonly op: "unmap"; readonly iova: number; readonly size: number }
  /** Unmap exactly the `index`-th (modulo count) live region mapped earlier in the sequence. */
  | { readonly op: "unmap-region"; readonly index: number };

/** Options for {@link arbMapOps}. */
export interface ArbMapOpsOptions {
  /** Page sizes to align to (smallest first), e.g. `[4096, 65536, 2097152]`. */
  readonly pgsizes: readonly number[];
  /** Size of the IO address window operations stay in (a multiple of the largest size). */
  readonly window: number;
  /** Base of the window. @default 0 */
  readonly base?: number;
  /** Largest region, in smallest pages. @default 64 */
  readonly maxPages?: number;
  /** Operations per sequence. @default 1..30 */
  readonly minLength?: number;
  readonly maxLength?: number;
}

/**
 * Sequences of map / unmap / unmap-of-a-mapped-region operations inside a window, with addresses
 * and sizes aligned to a randomly chosen page size so large pages get used, and physical addresses
 * sometimes co-aligned with the IO address, sometimes not.
 */
export function arbMapOps(options: ArbMapOpsOptions): fc.Arbitrary<MapOp[]> {
  const { pgsizes, window } = options;
  const base = options.base ?? 0;
  const min = pgsizes[0]!;
  const maxPages = options.maxPages ?? 64;
  const aligned = (align: number, limit: number) =>
    fc.integer({ min: 0, max: Math.max(0, Math.floor(limit / align) - 1) }).map((k) => k * align);
  const region = fc.constantFrom(...pgsizes).chain((align) =>
    fc.record({
      iova: aligned(align, window).map((v) => base + v),
      pages: fc.integer({ min: 1, max: Math.max(1, Math.min(maxPages, Math.floor(window / min))) }),
      paddrAlign: fc.constantFrom(align, min),
      pfn: fc.integer({ min: 1, max: 1 << 20 }),
    }),
  );
  const map = fc
    .tuple(region, fc.constantFrom(IOMMU_READ, IOMMU_WRITE, IOMMU_READ | IOMMU_WRITE))
    .map(([r, prot]): MapOp => {
      const size = Math.min(r.pages * min, base + window - r.iova);
      return { op: "map", iova: r.iova, paddr: r.pfn * r.paddrAlign, size: Math.max(min, size), prot };
    })
    .filter((op) => op.op !== "map" || op.iova + op.size <= base + window);
  const unmap = region.map(
    (r): MapOp => ({
      op: "unmap",
      iova: r.iova,
      size: Math.max(min, Math.min(r.pages * min, base + window - r.iova)),
    }),
  );
  const unmapRegion = fc.nat(1000).map((index): MapOp => ({ op: "unmap-region", index }));
  return fc.array(
    fc.oneof(
      { arbitrary: map, weight: 3 },
      { arbitrary: unmap, weight: 1 },
      { arbitrary: unmapRegion, weight: 2 },
    ),
    {
      minLength: options.minLength ?? 1,
      maxLength: options.maxLength ?? 30,
    },
  );
}
