import { describe, expect, it } from "vitest";
import {
  runArmSharedMappingScenario,
  runDmaLazyScenario,
  runDmaStrictScenario,
  runDriverDomainScenario,
} from "./scenarios.js";
import { LAZY_CAPS, referenceFactory } from "./test-machine.js";

describe("end-to-end scenarios on the reference backend", () => {
  it("strict: map, device DMA, CPU sees the bytes after sync; unmap then DMA faults", () => {
    const r = runDmaStrictScenario(referenceFactory());
    expect(r.faultReason).toBe("unmapped");
    expect(r.sgSegments).toBe(1);
  });
  it("lazy: the access after unmap is in the stale window until the flush (EOPNOTSUPP on the reference)", () => {
    const r = runDmaLazyScenario(referenceFactory({ caps: LAZY_CAPS }));
    expect(r).toMatchObject({ demoted: false, staleSupported: false, staleHit: false });
    expect(r.windowNs).toBe(10_000_000);
  });
  it("lazy without deferred-flush: DMA_FQ is demoted to DMA and behaves strictly", () => {
    expect(runDmaLazyScenario(referenceFactory()).demoted).toBe(true);
  });
  it("ARM: two bus masters share one mapping", () => {
    const r = runArmSharedMappingScenario(referenceFactory());
    expect(r.iovas[0]).toBe(0x1000_0000n);
  });
  it("a driver-owned domain makes the DMA API refuse the device until detach", () => {
    expect(runDriverDomainScenario(referenceFactory()).refusal).toBe("EBUSY");
  });
});
