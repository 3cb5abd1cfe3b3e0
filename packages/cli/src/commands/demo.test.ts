import { describe, expect, it } from "vitest";
import { capture } from "./test-capture.js";

const EVENTS: Record<string, RegExp> = {
  "arm-smmu-v3": /^F_TRANSLATION$/,
  "intel-vtd": /^fault reason 0x0[56]$/,
  "amd-vi": /^IO_PAGE_FAULT$/,
  "arm-smmu": /^TF$/,
};

interface DemoJson {
  backend: string;
  ok: boolean;
  acts: {
    title: string;
    steps: { kind: string; status: string; detail?: { fault?: { record?: Record<string, unknown> } } }[];
  }[];
}

describe("iommu-sim demo", () => {
  for (const [backend, event] of Object.entries(EVENTS)) {
    it(`runs the story on ${backend}: acts, and the fault record decoded with the architecture's names`, async () => {
      const { code, out, err } = await capture(["demo", "--backend", backend, "--json"]);
      expect(err).toBe("");
      expect(code).toBe(0);
      const doc = JSON.parse(out) as DemoJson;
      expect(doc).toMatchObject({ backend, ok: true });
      expect(doc.acts.map((a) => a.title)).toEqual([
        "Probe: every device gets a group and a default DMA domain",
        "A driver uses the DMA API, unaware of the IOMMU",
        "Two bus masters share one ARM-style mapping",
        "A driver takes its device into its own domain",
        "A process maps its memory for a device through VFIO",
        "A stray access faults",
      ]);
      const record = doc.acts
        .flatMap((a) => a.steps)
        .map((s) => s.detail?.fault?.record)
        .find((r) => r !== undefined);
      expect(record?.event).toMatch(event);
      expect((record?.words as string[] | undefined)?.length).toBeGreaterThanOrEqual(2);
      expect(Object.keys((record?.fields as object | undefined) ?? {}).length).toBeGreaterThan(3);
    });
  }
  it("narrates in plain text when standard output is not a terminal", async () => {
    const { code, out } = await capture(["demo"]);
    expect(code).toBe(0);
    expect(out.includes(`${String.fromCharCode(27)}[`)).toBe(false);
    expect(out).toMatch(/^Act 1\. Probe/m);
    expect(out).toMatch(/L3 +\[20:12\] +511 /);
    expect(out).toMatch(/IOTLB: 1 lookup, 1 hit, 0 misses/);
    expect(out).toContain("F_TRANSLATION: translation fault");
    expect(out).toMatch(/The story ran: \d+ steps, all as expected\.\n$/);
  });
  it("is deterministic: two runs print the same", async () => {
    const a = await capture(["demo", "--backend", "intel-vtd"]);
    const b = await capture(["demo", "--backend", "intel-vtd"]);
    expect(a.out).toBe(b.out);
    const j1 = await capture(["demo", "--json"]);
    const j2 = await capture(["demo", "--json"]);
    expect(j1.out).toBe(j2.out);
  });
  it("exits 2 with one line for an unknown backend", async () => {
    const { code, out, err } = await capture(["demo", "--backend", "riscv"]);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toBe(
      'iommu-sim: demo: unknown backend "riscv" (known: arm-smmu-v3, intel-vtd, amd-vi, arm-smmu)\n',
    );
  });
});
