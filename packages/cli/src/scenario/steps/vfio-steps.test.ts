import { describe, expect, it } from "vitest";
import { loadScenario } from "../load.js";
import { runScenario } from "../run.js";

const head = `name: t
machine:
  iommus:
    - { name: smmu0, backend: arm-smmu-v3 }
  pci:
    - { name: nic, bus: 0, slot: 1 }
    - { name: dev, bus: 0, slot: 2 }
steps:
`;

describe("VFIO steps", () => {
  it("a process maps its memory, the device reads it, a kernel driver is refused, close returns the group", () => {
    const trace = runScenario(
      loadScenario(
        `${head}  - vfio.open: { process: vmm, device: dev }
  - expect:
      domain: { device: dev, type: unmanaged, default: false }
  - vfio.map: { process: vmm, name: g, iova: 0x10000000, size: 16K }
  - vfio.write: { process: vmm, vaddr: "g.vaddr + 0x1000", data: "11 22" }
  - dma.read: { device: dev, iova: "g.iova + 0x1000", expect: "11 22" }
  - dmaapi.bind: { device: dev }
    error: EBUSY
  - vfio.unmap: { process: vmm, name: g }
  - dma.read: { device: dev, iova: g.iova, fault: unmapped }
  - vfio.close: { process: vmm }
  - expect:
      domain: { device: dev, type: DMA, default: true }
`,
        "t.yaml",
      ),
    );
    expect(trace.steps.filter((s) => s.status !== "ok").map((s) => `${s.path}: ${s.failures}`)).toEqual([]);
    expect(trace.steps[2]!.summary).toMatch(/MAP_DMA iova 0x10000000; 16K pinned$/);
  });
  it("refuses a group a kernel driver uses (EPERM)", () => {
    const trace = runScenario(
      loadScenario(
        `${head}  - dmaapi.bind: { device: nic }\n  - vfio.open: { process: p, device: nic }\n    error: EPERM\n`,
        "t.yaml",
      ),
    );
    expect(trace.steps.map((s) => s.status)).toEqual(["ok", "ok"]);
  });
});
