import { encodeAmdCommand } from "@iommu-sim/hw";
import { createIommuCore, IOMMU_DOMAIN_UNMANAGED, IOMMU_READ, IOMMU_WRITE } from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { MMIO_CMD_TAIL_OFFSET } from "./arch/registers.js";
import { createAmdVi } from "./backend.js";

const CMD_BUF = 0x4020_0000; // the command buffer of the default layout (amd-vi.test.ts)
const RW = IOMMU_READ | IOMMU_WRITE;

// 03:00.0 on a new paging domain (DomainID 2; the default domain holds 1), 4-level v1 tables. 8 KiB
// at 0x4020_0000, read once: the walk caches hold the level-3, 2 and 1 PDEs above it.
function setup() {
  const backend = createAmdVi({ walkCache: {} });
  const core = createIommuCore({});
  core.registerIommu(backend);
  const dev = core.addPciDevice({ bus: 3, slot: 0, iommu: backend.name });
  const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  core.attachDevice(domain, dev);
  core.map(domain, 0x4020_0000, 0x8000_0000, 0x2000, RW);
  expect(core.deviceDma(dev, { iova: 0x4020_0000, length: 4, write: false }).ok).toBe(true);
  const wc = backend.hardware.translationUnit.walkCache!;
  const entries = () => wc.snapshot().map((e) => `L${e.level}/dom${e.asid}`);
  // Queues one command behind the driver's and lets the hardware run it (the driver does not know).
  const run = (command: Uint8Array) => {
    const tail = Number(backend.hardware.readMmio(MMIO_CMD_TAIL_OFFSET));
    backend.memory.write(CMD_BUF + tail, command);
    backend.hardware.writeMmio(MMIO_CMD_TAIL_OFFSET, (tail + 16) % 8192);
    backend.hardware.drainCommands();
  };
  return { backend, core, dev, domain, wc, entries, run };
}

describe("amd-vi: page-directory caches (walk caches)", () => {
  it("are off by default", () => {
    expect(createAmdVi().hardware.translationUnit.walkCache).toBeNull();
  });

  it("INVALIDATE_IOMMU_PAGES with PDE = 0 keeps the cached PDEs, PDE = 1 drops those over its range", () => {
    const { entries, run, wc } = setup();
    expect(entries()).toEqual(["L1/dom2", "L2/dom2", "L3/dom2"]);
    run(encodeAmdCommand("INVALIDATE_IOMMU_PAGES", { domainId: 2, pde: false, addr: 0x4020_0000n }));
    expect(entries()).toHaveLength(3);
    run(encodeAmdCommand("INVALIDATE_IOMMU_PAGES", { domainId: 3, pde: true, addr: 0x4020_0000n }));
    expect(entries()).toHaveLength(3);
    run(encodeAmdCommand("INVALIDATE_IOMMU_PAGES", { domainId: 2, pde: true, addr: 0x4020_0000n }));
    expect(entries()).toEqual([]);
    expect(wc.stats().total).toMatchObject({ invalidations: { range: 3 }, dropped: { range: 3 } });
  });

  it("the driver's flushes set PDE: an unmap drops the entries over it, a full flush the domain's", () => {
    const { backend, core, dev, domain, entries, run } = setup();
    // The two pages are one 8 KiB leaf (NextLevel = 7); its unmap frees no table, but Linux sets PDE.
    expect(core.unmap(domain, 0x4020_0000, 0x2000)).toBe(0x2000n);
    expect(entries()).toEqual([]);
    core.map(domain, 0x4020_0000, 0x8000_0000, 0x1000, RW);
    expect(core.deviceDma(dev, { iova: 0x4020_0000, length: 4, write: false }).ok).toBe(true);
    expect(entries()).toHaveLength(3);
    core.flushIotlbAll(domain);
    expect(entries()).toEqual([]);
    // The all-pages address with PDE = 0: every PTE of the domain, no PDE. (Raw commands last: the
    // driver keeps its own copy of the tail.)
    expect(core.deviceDma(dev, { iova: 0x4020_0000, length: 4, write: false }).ok).toBe(true);
    expect(backend.hardware.iotlb!.snapshot().filter((e) => e.asid === 2)).toHaveLength(1);
    run(encodeAmdCommand("INVALIDATE_IOMMU_PAGES", { domainId: 2, s: true, addr: 0x7fff_ffff_ffff_f000n }));
    expect(entries()).toHaveLength(3);
    expect(backend.hardware.iotlb!.snapshot().filter((e) => e.asid === 2)).toEqual([]); // PTEs: gone
  });
});
