/**
 * The playground in a real browser: builds the production page (the same Vite config as
 * `pnpm build`), serves it with the command line's static server (`iommu-sim playground`), and
 * drives Debian's Chromium with playwright-core. Skipped, saying why, only when /usr/bin/chromium
 * is missing (`.ci/run` installs it when it runs as root).
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type StaticServer, serveStatic } from "iommu-sim";
import { demoScenario, loadScenario } from "iommu-sim/scenario";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyWhatIf, runSession, summarize } from "./engine.js";
import { bigScenarioText } from "./test-big-scenario.js";

const CHROMIUM = "/usr/bin/chromium";
const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..");
const out = join(pkg, "test-results");
const site = join(out, "site");
const haveChromium = existsSync(CHROMIUM);
const SKIP_REASON = `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it as root)`;

describe("the playground in Chromium", () => {
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    if (!haveChromium) return;
    mkdirSync(out, { recursive: true });
    await build({
      root: pkg,
      configFile: join(pkg, "vite.config.ts"),
      logLevel: "warn",
      build: { outDir: site, emptyOutDir: true },
    });
    server = await serveStatic(site);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('main[data-inspected="-1"]');
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Goes to step `index` (0-based) with the keyboard from the start, and waits for every view. */
  const keyTo = async (index: number) => {
    await page.keyboard.press("Home");
    for (let i = 0; i <= index; i++) await page.keyboard.press("ArrowRight");
    await page.waitForSelector(`main[data-inspected="${index}"]`);
  };
  const stat = (name: string) => page.locator(`#iotlb dl.stats [data-stat="${name}"]`).first().textContent();

  it("steps through the demo: a walked descriptor, an IOTLB hit, a decoded fault record", async (ctx) => {
    if (!haveChromium) ctx.skip(SKIP_REASON);
    await expect(page.locator('[data-view="scenario-name"]').textContent()).resolves.toContain(
      "The IOMMU story (arm-smmu-v3)",
    );
    // The first device write: the DMA API gave the NIC's buffer IOVA 0xfffff000 (the top page
    // below 4 GiB), the IOTLB misses and the walk fills it.
    const kinds = await page.locator("nav.steps button[data-index]").allTextContents();
    const firstWrite = kinds.findIndex((k) => k.endsWith("dma.write"));
    expect(firstWrite).toBeGreaterThan(0);
    await keyTo(firstWrite);
    await expect(page.locator('[data-view="step-info"]').textContent()).resolves.toContain(
      "nic wrote 45 00 00 54 at 0xfffff000",
    );
    expect(await stat("lookups")).toBe("1");
    expect(await stat("hits")).toBe("0");
    expect(await stat("misses")).toBe("1");

    // The page table: the four LPAE stage-1 descriptors the walk reads are highlighted, down to
    // the 4K leaf 0x80000f47 = output 0x80000000 | nG | AF | SH=3 (inner shareable) | AP=1 | AttrIndx=1 | page.
    const walked = page.locator("#pagetables .pt-entry.on-path > summary");
    await expect(walked.count()).resolves.toBe(4);
    const leaf = await walked.nth(3).textContent();
    expect(leaf).toContain("L3[511] 0x80000f47 page 0xfffff000 -> 0x80000000 4K READ|WRITE|CACHE");
    const leafFields = page.locator("#pagetables .pt-entry.on-path").nth(3).locator("> .pt-body dl.fields");
    await expect(leafFields.locator('[data-field="OutputAddress"]').textContent()).resolves.toBe(
      "0x80000000",
    );
    await expect(leafFields.locator('[data-field="AF"]').textContent()).resolves.toBe("1");
    await expect(leafFields.locator('[data-field="SH"]').textContent()).resolves.toBe("3");

    // The next write to the same page hits in the IOTLB: no walk.
    await page.getByRole("button", { name: "Next step" }).click();
    await page.waitForSelector(`main[data-inspected="${firstWrite + 1}"]`);
    expect(await stat("lookups")).toBe("2");
    expect(await stat("hits")).toBe("1");
    expect(await stat("hit-rate")).toBe("50.0%");
    await expect(page.locator("#iotlb .sets").textContent()).resolves.toContain("0xfffff000->0x80000000");
    await page.screenshot({ path: join(out, "playground-iotlb-hit.png") });

    // Run to the end: the NIC reads rx.dma after dma_unmap_single() and the SMMU writes an
    // F_TRANSLATION event record: StreamID 0x8 (PCI 00:01.0), a read, InputAddr 0xfffff000.
    await page.keyboard.press("End");
    const last = (await page.locator("nav.steps button[data-index]").count()) - 1;
    await page.waitForSelector(`main[data-inspected="${last}"]`);
    const record = page.locator('#faults [data-view="fault-records"] li').first();
    await expect(record.locator('[data-record="event"]').textContent()).resolves.toBe("F_TRANSLATION");
    await expect(record.locator('[data-field="StreamID"]').textContent()).resolves.toBe("0x8");
    await expect(record.locator('[data-field="RnW"]').textContent()).resolves.toBe("1 (read)");
    await expect(record.locator('[data-field="InputAddr"]').textContent()).resolves.toBe("0xfffff000");
    const fault = await page.locator('#faults [data-view="faults"] tbody tr').first().allTextContents();
    expect(fault[0]).toBe("nicdefault:nic0xfffff000readENOSYS");
    await page.locator("#faults").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(out, "playground-fault.png") });
  });

  it("has a keyboard step control with labelled buttons", async (ctx) => {
    if (!haveChromium) ctx.skip(SKIP_REASON);
    await page.keyboard.press("Home");
    await expect(page.locator("main").getAttribute("data-step")).resolves.toBe("-1");
    await expect(page.getByRole("button", { name: "Back one step" }).isDisabled()).resolves.toBe(true);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowLeft");
    await expect(page.locator("main").getAttribute("data-step")).resolves.toBe("0");
    await page.keyboard.press("End");
    await expect(page.getByRole("button", { name: "Run to the end" }).isDisabled()).resolves.toBe(true);
    await page.getByRole("button", { name: "Reset to before the first step" }).click();
    await expect(page.locator("main").getAttribute("data-step")).resolves.toBe("-1");
  });

  it("compares a what-if run side by side", async (ctx) => {
    if (!haveChromium) ctx.skip(SKIP_REASON);
    await page.selectOption("#wi-backend", "intel-vtd");
    await page.selectOption("#wi-strict", "lazy");
    await page.getByRole("button", { name: "Run and compare" }).click();
    const head = await page.locator('[data-view="compare"] thead th').allTextContents();
    expect(head).toEqual(["", "as written", "intel-vtd, lazy"]);
    const row = async (name: string) =>
      page
        .locator('[data-view="compare"] tbody tr')
        .filter({ has: page.getByRole("rowheader", { name, exact: true }) })
        .locator("td")
        .allTextContents();
    // What the engine computes in Node for the same two runs.
    const base = summarize(runSession(demoScenario("arm-smmu-v3")));
    const lazy = summarize(
      runSession(applyWhatIf(demoScenario("arm-smmu-v3"), { backend: "intel-vtd", strict: false })),
    );
    expect(await row("steps ok")).toEqual([String(base.ok), String(lazy.ok)]);
    expect(await row("IOTLB hits")).toEqual([String(base.hits), String(lazy.hits)]);
    expect(await row("invalidations")).toEqual([String(base.invalidations), String(lazy.invalidations)]);
    // Lazy invalidation leaves the unmapped buffer's entry in the IOTLB: the stray read hits it
    // (one more hit) and the steps that expect strict behaviour fail.
    expect(lazy.hits).toBe(base.hits + 1);
    expect(lazy.failed).toBeGreaterThan(0);
  });

  it("shows a scenario's mistake with its file, line and field", async (ctx) => {
    if (!haveChromium) ctx.skip(SKIP_REASON);
    await page.setInputFiles("#file", {
      name: "bad.yaml",
      mimeType: "text/yaml",
      buffer: Buffer.from(
        [
          "name: broken",
          "machine:",
          "  iommus: [{ name: smmu0, backend: arm-smmu-v3 }]",
          "  platform: [{ name: dev, iommu: smmu0, streamIds: [1] }]",
          "steps:",
          "  - domain.alloc: { name: d, device: dev }",
          "  - attach: { domain: d, devcie: dev }",
        ].join("\n"),
      ),
    });
    const error = page.locator('[data-view="error"]');
    await error.waitFor({ state: "visible" });
    await expect(error.locator('[data-error="file"]').textContent()).resolves.toBe("bad.yaml");
    await expect(error.locator('[data-error="line"]').textContent()).resolves.toBe("7");
    await expect(error.locator('[data-error="field"]').textContent()).resolves.toBe("steps[1].attach.devcie");
  });

  it("loads a generated 1,000-step scenario and steps through it", async (ctx) => {
    if (!haveChromium) ctx.skip(SKIP_REASON);
    await page.setInputFiles("#file", {
      name: "big.yaml",
      mimeType: "text/yaml",
      buffer: Buffer.from(bigScenarioText(1000)),
    });
    await page.waitForSelector('main[data-inspected="-1"]');
    await expect(page.locator('[data-view="error"]').isHidden()).resolves.toBe(true);
    await expect(page.locator("nav.steps button[data-index]").count()).resolves.toBe(1000);
    await page.keyboard.press("End");
    await page.waitForSelector('main[data-inspected="999"]');
    await expect(page.locator('[data-view="position"]').textContent()).resolves.toBe("step 1000 of 1000");
    for (let i = 0; i < 25; i++) await page.keyboard.press("ArrowLeft");
    await page.waitForSelector('main[data-inspected="974"]');
    await expect(page.locator('[data-view="position"]').textContent()).resolves.toBe("step 975 of 1000");
    // The page shows what the engine computes for the same scenario in Node.
    const expected = runSession(loadScenario(bigScenarioText(1000), "big.yaml")).steps[974]!.iotlb[0]!;
    expect(await stat("lookups")).toBe(String(expected.lookups));
    expect(await stat("hits")).toBe(String(expected.hits));
    expect(await stat("misses")).toBe(String(expected.misses));
    expect(expected.hits).toBeGreaterThan(0);
  });
});
