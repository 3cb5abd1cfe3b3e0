import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_BACKENDS, demoScenarioDocument } from "./demo-story.js";
import { loadScenario } from "./load.js";
import { scenarioJsonSchema } from "./schema.js";
import { exampleFiles, PACKAGE_DIR } from "./test-helpers.js";

const published = JSON.parse(readFileSync(join(PACKAGE_DIR, "scenario.schema.json"), "utf8"));
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(published);

const head = `name: x
machine:
  iommus:
    - { name: smmu0, backend: arm-smmu-v3 }
  platform:
    - { name: gpu, iommu: smmu0, streamIds: [1] }
steps:
`;

/** Fixtures both the decoders and the schema must refuse. */
const REFUSED: Record<string, string> = {
  "size with a bad unit": "  - map: { domain: d, iova: 0, paddr: 0, size: 4Q, prot: rw }\n",
  "unknown step field": "  - attach: { domain: d, devcie: gpu }\n",
  "unknown step kind": "  - mapp: { domain: d }\n",
  "two step kinds": "  - flush: { domain: d }\n    invalidate: { domain: d }\n",
  "unknown prot flag": "  - map: { domain: d, iova: 0, paddr: 0, size: 4K, prot: [read, exec] }\n",
  "error on a step that cannot fail": "  - clock.advance: 10\n    error: EINVAL\n",
  "unknown errno": "  - attach: { domain: d, device: gpu }\n    error: EWHATEVER\n",
  "odd hex bytes": "  - dma.write: { device: gpu, iova: 0, data: 'abc' }\n",
  "bad duration": "  - clock.advance: 1 fortnight\n",
  "bad comparison": "  - expect:\n      iotlb: { hits: 'about 3' }\n",
  "empty expect": "  - expect: {}\n",
  "unknown expectation": "  - expect:\n      vibes: good\n",
  "bad fault reason": "  - dma.read: { device: gpu, iova: 0, fault: maybe }\n",
  "missing map field": "  - map: { domain: d, iova: 0, paddr: 0, prot: rw }\n",
  "bad domain type": "  - domain.alloc: { name: d, device: gpu, type: paging }\n",
  "bad DMA direction": "  - dmaapi.map: { device: gpu, name: rx, size: 4K, dir: sideways }\n",
  "bad buffer name": "  - dmaapi.map: { device: gpu, name: 'r x', size: 4K, dir: to-device }\n",
  "walk with domain and device": "  - walk: { domain: d, device: gpu, iova: 0 }\n",
  "bad address reference": "  - dma.read: { device: gpu, iova: rx.phys }\n",
  "act without a title": "  - act: {}\n",
};

/** Fixtures both must accept. */
const ACCEPTED: Record<string, string> = {
  "sizes in every spelling":
    "  - map: { domain: d, iova: 0x1000, paddr: 4096, size: 0x1000, prot: r }\n  - map: { domain: d, iova: 0, paddr: 0, size: 2MiB, prot: 'read|write' }\n",
  "byte lists and hex":
    "  - dma.write: { device: gpu, iova: 0, data: [1, 2] }\n  - memory.write: { paddr: 0, data: '0xdeadbeef' }\n",
  "comparisons and lists":
    "  - expect:\n      iotlb: { hits: '>= 1', misses: 0 }\n      stale: [{ device: gpu, iova: 0, is: false }]\n",
  "errors and notes": "  - attach: { domain: d, device: gpu }\n    error: EINVAL\n    note: why\n",
  "DMA-API and ARM steps":
    "  - dmaapi.map: { device: gpu, name: rx, size: 4K, dir: from-device }\n  - dma.write: { device: gpu, iova: 'rx.dma + 0x10', data: '01' }\n  - arm.create-mapping: { name: m, device: gpu, base: 0x10000000, size: 1M }\n  - arm.attach: { mapping: m, device: gpu }\n",
  "named addresses":
    "  - walk: { device: gpu, iova: rx.dma, expect: unmapped }\n  - expect:\n      memory: { paddr: rx.cpu, bytes: '00' }\n",
};

describe("scenario.schema.json", () => {
  it("is the schema the step registry builds (regenerate it when a step changes)", () => {
    expect(published).toEqual(JSON.parse(JSON.stringify(scenarioJsonSchema())));
  });
  it("accepts every example", () => {
    for (const file of exampleFiles()) {
      const ok = validate(parse(readFileSync(file, "utf8")));
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok).toBe(true);
    }
  });
  it("accepts the demo story on every backend", () => {
    for (const backend of DEMO_BACKENDS) {
      const ok = validate(demoScenarioDocument(backend));
      expect(validate.errors ?? [], backend).toEqual([]);
      expect(ok).toBe(true);
    }
  });
  for (const [what, steps] of Object.entries(REFUSED)) {
    it(`and the decoders both refuse: ${what}`, () => {
      expect(validate(parse(head + steps))).toBe(false);
      expect(() => loadScenario(head + steps, "f.yaml")).toThrow(/^f\.yaml:\d+: /);
    });
  }
  for (const [what, steps] of Object.entries(ACCEPTED)) {
    it(`and the decoders both accept: ${what}`, () => {
      const ok = validate(parse(head + steps));
      expect(validate.errors ?? [], what).toEqual([]);
      expect(ok).toBe(true);
      expect(() => loadScenario(head + steps, "f.yaml")).not.toThrow();
    });
  }
});
