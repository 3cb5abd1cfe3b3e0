import { describe, expect, it } from "vitest";
import { loadScenario } from "./load.js";

const machine = `machine:
  iommus:
    - { name: smmu0, backend: arm-smmu-v3 }
  platform:
    - { name: gpu, iommu: smmu0, streamIds: [1] }
`;

const errorOf = (text: string, file = "s.yaml"): string => {
  try {
    loadScenario(text, file);
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
};

describe("loadScenario", () => {
  it("decodes sizes, addresses, prot names and bytes", () => {
    const s = loadScenario(
      `name: x\n${machine}steps:\n  - map: { domain: d, iova: 0xffff_0000_0000_1000, paddr: 4096, size: 2M, prot: "read|write|cache" }\n  - dma.write: { device: gpu, iova: 0, data: [1, 2, 255] }\n`,
      "s.yaml",
    );
    expect(s.steps[0]!.params).toEqual({
      domain: "d",
      iova: 0xffff_0000_0000_1000n,
      paddr: 4096n,
      size: 0x200000n,
      prot: 7,
    });
    expect((s.steps[1]!.params as { data: Uint8Array }).data).toEqual(Uint8Array.from([1, 2, 255]));
  });
  it("reads JSON with line numbers too", () => {
    const json = JSON.stringify(
      { name: "j", machine: { iommus: [{ backend: "reference" }] }, steps: [{ "clock.advance": "1ms" }] },
      null,
      2,
    );
    expect(loadScenario(json, "s.json").steps[0]!.params).toBe(1_000_000);
    expect(errorOf(json.replace('"1ms"', '"1 fortnight"'), "s.json")).toMatch(
      /^s\.json:\d+: steps\[0\]\.clock\.advance: expected a duration/,
    );
  });
  it("names unknown fields with the known ones", () => {
    expect(errorOf(`name: x\n${machine}steps:\n  - attach: { domain: d, devcie: gpu }\n`)).toBe(
      's.yaml:8: steps[0].attach.devcie: unknown field "devcie" (did you mean "device"?)',
    );
  });
  it("lists the known fields for an extra one", () => {
    expect(errorOf(`name: x\n${machine}steps:\n  - attach: { domain: d, device: gpu, force: true }\n`)).toBe(
      's.yaml:8: steps[0].attach.force: unknown field "force" (known: device, domain, group)',
    );
  });
  it("names unknown step kinds and lists the known ones", () => {
    expect(errorOf(`name: x\n${machine}steps:\n  - mapp: { domain: d }\n`)).toMatch(
      /^s\.yaml:8: steps\[0\]\.mapp: unknown step kind "mapp" \(known: domain\.alloc, /,
    );
  });
  it("refuses an error expectation on a step that cannot fail", () => {
    expect(errorOf(`name: x\n${machine}steps:\n  - clock.advance: 10\n    error: EINVAL\n`)).toBe(
      "s.yaml:9: steps[0].error: a clock.advance step cannot fail, so it cannot expect an error",
    );
  });
  it("refuses an unknown backend and an unknown prot flag", () => {
    expect(errorOf("name: x\nmachine:\n  iommus:\n    - { backend: smmu-v9 }\nsteps: []\n")).toMatch(
      /^s\.yaml:4: machine\.iommus\[0\]\.backend: expected one of arm-smmu-v3, /,
    );
    expect(
      errorOf(
        `name: x\n${machine}steps:\n  - map: { domain: d, iova: 0, paddr: 0, size: 4K, prot: [read, exec] }\n`,
      ),
    ).toBe(
      's.yaml:8: steps[0].map.prot: unknown prot flag "exec" (known: read, write, cache, noexec, mmio, priv)',
    );
  });
  it("reports YAML syntax errors with their line", () => {
    expect(errorOf("name: x\nmachine: [\nsteps: {\n")).toMatch(/^s\.yaml:\d+: syntax error: /);
  });
  it("refuses a step with two kinds", () => {
    expect(
      errorOf(`name: x\n${machine}steps:\n  - flush: { domain: d }\n    invalidate: { domain: d }\n`),
    ).toBe("s.yaml:8: steps[0]: a step has one kind, got flush and invalidate");
  });
});
