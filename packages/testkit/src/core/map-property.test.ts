import { IOMMU_READ, IOMMU_WRITE, isIommuSimError, pgsizeBitmap } from "@iommu-sim/iommu";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbMapOps } from "../arbitraries.js";
import { createMappingOracle } from "../oracle.js";
import { machine } from "./test-machine.js";

const K4 = 0x1000;
const K64 = 0x1_0000;
const M2 = 0x20_0000;

for (const policy of ["refuse", "whole"] as const) {
  describe(`map/unmap against the oracle (partial unmap: ${policy})`, () => {
    it("translations, errors and unmap results agree after every operation", () => {
      const sizes = [K4, K64, M2];
      const window = 4 * M2;
      fc.assert(
        fc.property(arbMapOps({ pgsizes: sizes, window, maxPages: 700 }), (ops) => {
          const { core, ref } = machine({ pgsizeBitmap: pgsizeBitmap(...sizes), partialUnmap: policy });
          const dev = core.addPciDevice({ bus: 0, slot: 1 });
          const dom = core.domainAlloc(dev);
          const baseline = ref.tableAllocator.pagesInUse;
          const oracle = createMappingOracle(K4);
          const regions: { iova: number; size: number }[] = [];
          for (const op of ops) {
            if (op.op === "map") {
              const want = oracle.map(op.iova, op.paddr, op.size, op.prot);
              let got = "ok";
              try {
                core.map(dom, op.iova, op.paddr, op.size, op.prot);
              } catch (error) {
                got = isIommuSimError(error) ? error.code : String(error);
              }
              expect(got).toBe(want);
              if (want === "ok") regions.push({ iova: op.iova, size: op.size });
            } else if (op.op === "unmap-region") {
              if (regions.length === 0) continue;
              const [r] = regions.splice(op.index % regions.length, 1);
              expect(core.unmap(dom, r!.iova, r!.size)).toBe(BigInt(r!.size));
              oracle.unmap(r!.iova, r!.size);
            } else if (oracle.isFree(op.iova, op.size)) {
              expect(core.unmap(dom, op.iova, op.size)).toBe(0n);
            }
          }
          for (let a = 0; a < window; a += K4) {
            expect(core.iovaToPhys(dom, a + 0x10)).toBe(
              oracle.isMapped(a, K4) ? BigInt(oracle.translate(a + 0x10)) : 0n,
            );
          }
          // DMA permissions agree with the oracle's prot on a sample of pages.
          core.attachDevice(dom, dev);
          for (let a = 0; a < window; a += 61 * K4) {
            const page = oracle.page(a);
            const canWrite = page !== undefined && (page.prot & IOMMU_WRITE) !== 0;
            const canRead = page !== undefined && (page.prot & IOMMU_READ) !== 0;
            expect(core.deviceDma(dev, { iova: a, length: 4, write: false }).ok).toBe(canRead);
            expect(core.deviceDma(dev, { iova: a, length: 4, write: true, data: new Uint8Array(4) }).ok).toBe(
              canWrite,
            );
          }
          core.detachDevice(dom, dev);
          for (const r of regions) core.unmap(dom, r.iova, r.size);
          expect(ref.tableAllocator.pagesInUse).toBe(baseline);
        }),
        { numRuns: 60 },
      );
    });
  });
}
