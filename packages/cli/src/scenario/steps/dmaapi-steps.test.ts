import { describe, expect, it } from "vitest";
import { loadScenario } from "../load.js";
import { runScenario } from "../run.js";

const machine = (backend: string) => `name: t
machine:
  iommus:
    - { name: io0, backend: ${backend} }
  pci:
    - { name: nic, bus: 0, slot: 1 }
    - { name: gpu, bus: 0, slot: 2 }
    - { name: disp, bus: 0, slot: 3 }
steps:
`;
const run = (steps: string, backend = "reference") =>
  runScenario(loadScenario(machine(backend) + steps, "t.yaml"));
const problems = (trace: ReturnType<typeof run>) =>
  trace.steps.filter((s) => s.status !== "ok").map((s) => `${s.path} ${s.kind}: ${s.failures.join("; ")}`);

describe("DMA-API steps", () => {
  it("bind, map, device DMA at the returned address, sync, unmap, then the address faults", () => {
    const trace = run(`  - dmaapi.bind: { device: nic }
  - dmaapi.map: { device: nic, name: rx, size: 4K, dir: from-device }
  - dma.write: { device: nic, iova: "rx.dma + 0x10", data: "ca fe" }
  - dmaapi.sync: { name: rx, for: cpu }
  - expect:
      memory: { paddr: "rx.cpu + 0x10", bytes: "ca fe" }
  - dmaapi.unmap: { name: rx }
  - dma.read: { device: nic, iova: rx.dma, fault: unmapped }
`);
    expect(problems(trace)).toEqual([]);
    expect(trace.steps[1]!.summary).toMatch(/^dma_map_single\(nic, 0x[0-9a-f]+, 4K, DMA_FROM_DEVICE\) = 0x/);
    expect(trace.steps[1]!.detail).toMatchObject({
      buffer: "rx",
      direction: "DMA_FROM_DEVICE",
      ops: "iommu",
    });
  });
  it("refuses the DMA API (EBUSY) while a driver's own domain is attached, and allows it after detach", () => {
    const trace = run(`  - domain.alloc: { name: own, device: nic }
  - attach: { domain: own, device: nic }
  - dmaapi.map: { device: nic, name: a, size: 4K, dir: to-device }
    error: EBUSY
  - detach: { domain: own, device: nic }
  - dmaapi.map: { device: nic, name: a, size: 4K, dir: to-device }
`);
    expect(problems(trace)).toEqual([]);
  });
  it("refuses a name used twice and an unknown buffer", () => {
    const trace = run(`  - dmaapi.map: { device: nic, name: a, size: 4K, dir: to-device }
  - dmaapi.alloc-coherent: { device: nic, name: a, size: 4K }
`);
    expect(trace.steps[1]!.failures[0]).toMatch(/the name "a" is already used/);
    const unknown = run("  - dmaapi.unmap: { name: nope }\n");
    expect(unknown.steps[0]!.failures[0]).toMatch(/no DMA buffer named "nope"/);
    const unresolved = run("  - dma.read: { device: nic, iova: nope.dma }\n");
    expect(unresolved.steps[0]!.failures[0]).toMatch(/"nope.dma" names no DMA buffer/);
  });
  it("coherent buffers are allocated and freed", () => {
    const trace = run(`  - dmaapi.alloc-coherent: { device: nic, name: ring, size: 8K }
  - dma.write: { device: nic, iova: ring.dma, data: "01 02" }
  - expect:
      memory: { paddr: ring.cpu, bytes: "01 02" }
  - dmaapi.free-coherent: { name: ring }
  - dmaapi.free-coherent: { name: ring }
    error: EINVAL
`);
    expect(problems(trace)).toEqual([]);
  });
});

describe("ARM mapping steps", () => {
  it("two masters share one mapping; the last release frees the domain", () => {
    const trace = run(`  - arm.create-mapping: { name: m, device: gpu, base: 0x10000000, size: 1M }
  - arm.attach: { mapping: m, device: gpu }
  - arm.attach: { mapping: m, device: disp }
  - expect:
      domain: [{ device: gpu, is: m }, { device: disp, is: m }]
  - dmaapi.alloc-coherent: { device: gpu, name: fb, size: 64K }
  - dma.write: { device: gpu, iova: fb.dma, data: "ff" }
  - dma.read: { device: disp, iova: 0x10000000, expect: "ff" }
  - dmaapi.free-coherent: { name: fb }
  - arm.detach: { device: gpu }
  - arm.detach: { device: disp }
  - arm.detach: { device: disp }
  - arm.release: { mapping: m }
  - expect:
      domain: [{ device: gpu, default: true }, { device: disp, default: true }]
`);
    expect(problems(trace)).toEqual([]);
    expect(trace.steps[0]!.summary).toMatch(/refcount 1$/);
    expect(trace.steps[2]!.summary).toBe("disp attached to m (refcount 3, 2 devices)");
    expect(trace.steps[10]!.summary).toMatch(/was on no ARM mapping/);
    expect(trace.steps[11]!.summary).toBe("m: last reference dropped, domain freed");
  });
  it("refuses a mapping above 4 GiB with ERANGE", () => {
    const trace = run(`  - arm.create-mapping: { name: m, device: gpu, base: 0, size: 8G }
    error: ERANGE
`);
    expect(problems(trace)).toEqual([]);
  });
});

describe("walk", () => {
  it("records every level of an SMMUv3 walk and checks where it ends", () => {
    const trace = run(
      `  - domain.alloc: { name: d, device: gpu }
  - map: { domain: d, iova: 0x200000, paddr: 0x80000000, size: 4K, prot: rw }
  - walk: { domain: d, iova: 0x200010, expect: 0x80000010 }
  - walk: { domain: d, iova: 0x201000, expect: unmapped }
  - walk: { domain: d, iova: 0x201000, expect: 0x80001000 }
`,
      "arm-smmu-v3",
    );
    expect(trace.steps.map((s) => s.status)).toEqual(["ok", "ok", "ok", "ok", "failed"]);
    const detail = trace.steps[2]!.detail as { steps: { level: number; index: number; type: string }[] };
    expect(detail.steps.map((s) => [s.level, s.index, s.type])).toEqual([
      [0, 0, "table"],
      [1, 0, "table"],
      [2, 1, "table"],
      [3, 0, "page"],
    ]);
    expect(trace.steps[4]!.failures[0]).toMatch(/the walk faulted \(translation\), expected 0x80001000/);
  });
  it("says so for a backend that keeps no page table", () => {
    const trace = run("  - walk: { device: gpu, iova: 0 }\n");
    expect(trace.steps[0]).toMatchObject({ status: "ok" });
    expect(trace.steps[0]!.summary).toMatch(/has no page table in memory/);
  });
});
