/**
 * The playground page: loading scenarios (demo, file picker, drag and drop), the step control and
 * the views. The cheap views (step, machine, IOTLB counters, hit-rate plot) render from the run's
 * per-step records at once; the views that need the live machine (page tables, IOTLB sets, events)
 * render from an inspection that re-runs the scenario up to the step, scheduled after the cheap
 * ones and coalesced, so holding an arrow key over a 1,000-step scenario stays smooth.
 */
import { isScenarioError, loadScenario, type Scenario } from "iommu-sim/scenario";
import { h, replace } from "./dom.js";
import {
  type FaultRecord,
  type Inspection,
  inspectAt,
  runSession,
  type Session,
  type StepRecord,
  summarize,
} from "./engine.js";
import { faultsView, logView, vfioView } from "./views/faults.js";
import { hitRatePlot, setsView, statsList } from "./views/iotlb.js";
import { machineView } from "./views/machine.js";
import { pageTableView } from "./views/page-table.js";
import { createWhatIfPanel } from "./views/whatif.js";

/** Inspections kept for going back and forth. */
const CACHE = 16;

const section = (id: string, title: string, ...rest: HTMLElement[]) =>
  h(
    "section",
    { id, class: "panel", "aria-labelledby": `${id}-h` },
    h("h2", { id: `${id}-h` }, title),
    ...rest,
  );

/** The demo story: the backends it runs on, and the scenario for one of them. */
export interface DemoSource {
  readonly backends: readonly string[];
  story(backend: string): Scenario;
}

/** Mounts the playground in `root` and loads the demo story. */
export function mountApp(root: HTMLElement, demo: DemoSource): void {
  // Header: what is loaded, and the ways to load something else.
  const title = h("span", { class: "scenario-name", "data-view": "scenario-name" });
  const fileInput = h("input", {
    type: "file",
    id: "file",
    accept: ".yaml,.yml,.json,application/json,text/yaml",
    class: "visually-hidden",
  });
  const openLabel = h("label", { for: "file", class: "button" }, "Open scenario...");
  const demoButton = h("button", { type: "button" }, "Demo story");
  const demoBackend = h(
    "select",
    { id: "demo-backend", "aria-label": "Backend of the demo story" },
    ...demo.backends.map((b) => h("option", { value: b }, b)),
  );
  const errorBox = h("div", { class: "error", role: "alert", hidden: true, "data-view": "error" });
  const header = h(
    "header",
    {},
    h("h1", {}, "iommu-sim playground"),
    title,
    h(
      "div",
      { class: "loaders" },
      demoButton,
      h("label", { for: "demo-backend", class: "small" }, "on"),
      demoBackend,
      fileInput,
      openLabel,
      h("span", { class: "small muted" }, "or drop a scenario file on the page"),
    ),
  );

  // Step control.
  const btn = (label: string, text: string, keys: string) =>
    h(
      "button",
      { type: "button", "aria-label": label, title: `${label} (${keys})`, "aria-keyshortcuts": keys },
      text,
    );
  const resetBtn = btn("Reset to before the first step", "|< Reset", "Home");
  const backBtn = btn("Back one step", "< Back", "ArrowLeft");
  const nextBtn = btn("Next step", "Next >", "ArrowRight");
  const endBtn = btn("Run to the end", "Run to end >|", "End");
  const slider = h("input", { type: "range", min: -1, max: 0, value: -1, step: 1, "aria-label": "Step" });
  const position = h("span", { class: "position", "data-view": "position", "aria-live": "polite" });
  const stepInfo = h("div", { class: "step-info", "aria-live": "polite", "data-view": "step-info" });
  const control = h(
    "section",
    { class: "control", "aria-label": "Step control" },
    h("div", { class: "buttons" }, resetBtn, backBtn, nextBtn, endBtn, slider, position),
    stepInfo,
  );

  // Views.
  const stepList = h("ol", { class: "step-list" });
  const machine = h("div", {});
  const iotlbStats = h("div", {});
  const iotlbSets = h("div", {});
  const pageTables = h("div", {});
  const faults = h("div", {});
  const kernelLog = h("div", {});
  const vfio = h("div", {});
  const main = h(
    "main",
    { id: "main", "data-step": -1, "data-inspected": "" },
    control,
    h(
      "div",
      { class: "grid" },
      section("machine", "Machine", machine),
      section("iotlb", "IOTLB", iotlbStats, iotlbSets),
      section("pagetables", "Page tables", pageTables),
      section("faults", "Faults and events", faults, kernelLog),
      section("vfio", "VFIO", vfio),
    ),
  );
  let session: Session | undefined;
  let pos = -1;
  const cache = new Map<number, Inspection>();
  let inspectToken = 0;
  let lastInspectMs = 0;
  let stepButtons: HTMLButtonElement[] = [];
  let currentButton: HTMLButtonElement | undefined;
  let plots = new Map<string, ReturnType<typeof hitRatePlot>>();

  const whatIf = createWhatIfPanel((scenario, label) =>
    show(scenario, `${scenario.name} (what if: ${label})`, false),
  );
  main.querySelector(".grid")!.append(section("whatif", "What if", whatIf.element));
  const nav = h(
    "nav",
    { class: "steps", "aria-label": "Steps" },
    h("h2", { class: "steps-title" }, "Steps"),
    stepList,
  );
  root.append(header, errorBox, h("div", { class: "layout" }, nav, main));

  const showError = (error: unknown) => {
    errorBox.hidden = false;
    if (isScenarioError(error)) {
      replace(
        errorBox,
        h("strong", {}, "This scenario cannot be loaded"),
        h("code", { class: "error-line" }, error.message),
        h(
          "dl",
          {},
          h("dt", {}, "file"),
          h("dd", { "data-error": "file" }, error.file),
          h("dt", {}, "line"),
          h("dd", { "data-error": "line" }, String(error.line)),
          h("dt", {}, "field"),
          h("dd", { "data-error": "field" }, error.path || "(the document)"),
          h("dt", {}, "problem"),
          h("dd", { "data-error": "detail" }, error.detail),
        ),
      );
    } else {
      replace(errorBox, h("strong", {}, "Error: "), error instanceof Error ? error.message : String(error));
    }
  };

  const record = (i: number): StepRecord | undefined => session?.steps[i];
  let faultRecords: FaultRecord[] = [];
  const faultRecordsUpTo = (i: number) => faultRecords.filter((r) => r.step <= i);

  const renderCheap = () => {
    if (!session) return;
    const n = session.steps.length;
    const rec = record(pos);
    main.dataset.step = String(pos);
    slider.value = String(pos);
    position.textContent = pos < 0 ? `before step 1 of ${n}` : `step ${pos + 1} of ${n}`;
    resetBtn.disabled = backBtn.disabled = pos < 0;
    nextBtn.disabled = endBtn.disabled = pos >= n - 1;
    currentButton?.removeAttribute("aria-current");
    currentButton = stepButtons[pos];
    if (currentButton) {
      currentButton.setAttribute("aria-current", "step");
      const list = nav.getBoundingClientRect();
      const item = currentButton.getBoundingClientRect();
      if (item.top < list.top || item.bottom > list.bottom)
        currentButton.scrollIntoView({ block: "nearest" });
    }
    if (!rec) {
      replace(
        stepInfo,
        h(
          "p",
          { class: "note" },
          session.scenario.description ?? "The machine after probing, before the first step.",
        ),
        h("p", { class: "small muted" }, `${n} steps; press Next (right arrow) to run the first.`),
      );
    } else {
      replace(
        stepInfo,
        h(
          "p",
          { class: "summary" },
          h("span", { class: `status status-${rec.status}`, "data-status": rec.status }, rec.status),
          " ",
          h("code", {}, rec.kind),
          ` (line ${rec.line}): `,
          rec.summary,
          rec.iotlbActivity
            ? h(
                "span",
                { class: "small muted", "data-view": "iotlb-activity" },
                ` (IOTLB: ${rec.iotlbActivity.lookups} lookup(s), ${rec.iotlbActivity.hits} hit(s), ${rec.iotlbActivity.misses} miss(es))`,
              )
            : "",
        ),
        rec.note
          ? h("p", { class: "note", "data-view": "note" }, rec.note)
          : h("p", { class: "note muted" }, "(no note)"),
        rec.failures.length ? h("ul", { class: "failures" }, ...rec.failures.map((f) => h("li", {}, f))) : "",
      );
    }
    const m = rec ? rec.machine : session.initial;
    replace(machine, machineView(session.scenario, m));
    // The fault view changes only when a fault happened: keep it otherwise.
    const shown = faultRecordsUpTo(pos);
    const key = `${m?.faultCount ?? 0}/${shown.length}/${m === undefined}`;
    if (faults.dataset.key !== key) {
      faults.dataset.key = key;
      replace(faults, faultsView(m, shown));
    }
    const stats = rec?.iotlb ?? [];
    replace(
      iotlbStats,
      stats.length === 0
        ? h(
            "p",
            { class: "muted" },
            pos < 0 ? "Counters start with the first step." : "No IOTLB model on this machine.",
          )
        : stats.map((s) => {
            let plot = plots.get(s.iommu);
            if (!plot) {
              plot = hitRatePlot(session!.steps, s.iommu);
              plots.set(s.iommu, plot);
            }
            plot.mark(pos);
            return h("div", { class: "tlb" }, h("h3", {}, s.iommu), statsList(s), plot.element);
          }),
    );
  };

  const renderInspection = (ins: Inspection) => {
    main.dataset.inspected = String(ins.step);
    for (const el of [iotlbSets, pageTables, kernelLog, vfio]) el.removeAttribute("aria-busy");
    replace(iotlbSets, h("h3", {}, "Sets and ways"), ins.iommus.map(setsView));
    replace(pageTables, pageTableView(ins.domains, ins.lastTranslation));
    replace(kernelLog, logView(ins));
    replace(vfio, vfioView((record(pos)?.machine as { vfio?: unknown } | undefined)?.vfio));
  };

  const inspect = () => {
    if (!session) return;
    const token = ++inspectToken;
    for (const el of [iotlbSets, pageTables, kernelLog, vfio]) el.setAttribute("aria-busy", "true");
    // Coalesce: a burst of steps (a held arrow key) inspects only where it stops.
    const delay = lastInspectMs > 30 ? 60 : 0;
    setTimeout(() => {
      if (token !== inspectToken || !session) return;
      const at = pos;
      let ins = cache.get(at);
      try {
        if (!ins) {
          ins = inspectAt(session.scenario, at);
          lastInspectMs = ins.ms;
          cache.set(at, ins);
          if (cache.size > CACHE) cache.delete(cache.keys().next().value!);
        }
        renderInspection(ins);
      } catch (error) {
        showError(error);
      }
    }, delay);
  };

  const go = (to: number) => {
    if (!session) return;
    const clamped = Math.max(-1, Math.min(session.steps.length - 1, to));
    if (clamped === pos && main.dataset.inspected !== "") return;
    pos = clamped;
    renderCheap();
    inspect();
  };

  const renderStepList = () => {
    if (!session) return;
    stepButtons = session.steps.map((s) =>
      h(
        "button",
        { type: "button", "data-index": s.index, class: `status-${s.status}`, title: s.note ?? s.summary },
        h("span", { class: "num" }, String(s.index + 1)),
        " ",
        s.kind,
      ),
    );
    replace(stepList, ...stepButtons.map((b) => h("li", {}, b)));
  };

  /** Shows a loaded scenario; `fresh` = a newly loaded one (resets the "what if" comparison). */
  const show = (scenario: Scenario, label: string, fresh: boolean) => {
    let next: Session;
    try {
      next = runSession(scenario);
    } catch (error) {
      showError(error);
      return;
    }
    errorBox.hidden = true;
    session = next;
    plots = new Map();
    delete faults.dataset.key;
    currentButton = undefined;
    faultRecords = next.steps.flatMap((s) => (s.faultRecord ? [s.faultRecord] : []));
    cache.clear();
    pos = -1;
    main.dataset.inspected = "";
    slider.max = String(next.steps.length - 1);
    replace(
      title,
      h("strong", {}, label),
      ` - ${next.steps.length} steps, ${next.ok ? "all ok" : "some steps failed"}, run in ${next.runMs.toFixed(0)} ms`,
    );
    document.title = `${scenario.name} - iommu-sim playground`;
    renderStepList();
    if (fresh) {
      let geometry: { entries: number; ways: number; replacement: string } | undefined;
      try {
        const first = inspectAt(scenario, -1).iommus.find((i) => i.iotlb)?.iotlb;
        if (first) geometry = { entries: first.entries, ways: first.ways, replacement: first.replacement };
      } catch {
        // The run above already built this machine; nothing new to report.
      }
      whatIf.reset(scenario, summarize(next), geometry);
    }
    go(-1);
  };

  const load = (text: string, file: string) => {
    let scenario: Scenario;
    try {
      scenario = loadScenario(text, file);
    } catch (error) {
      showError(error);
      return;
    }
    show(scenario, scenario.name, true);
  };

  const loadFile = async (file: File) => load(await file.text(), file.name);

  const loadDemo = () => {
    let scenario: Scenario;
    try {
      scenario = demo.story(demoBackend.value);
    } catch (error) {
      showError(error);
      return;
    }
    show(scenario, `${scenario.name} (${demoBackend.value})`, true);
  };

  // Wiring.
  resetBtn.addEventListener("click", () => go(-1));
  backBtn.addEventListener("click", () => go(pos - 1));
  nextBtn.addEventListener("click", () => go(pos + 1));
  endBtn.addEventListener("click", () => go(Number.MAX_SAFE_INTEGER));
  slider.addEventListener("input", () => go(Number(slider.value)));
  stepList.addEventListener("click", (event) => {
    const b = (event.target as Element).closest("button[data-index]");
    if (b) go(Number(b.getAttribute("data-index")));
  });
  demoButton.addEventListener("click", loadDemo);
  demoBackend.addEventListener("change", loadDemo);
  fileInput.addEventListener("change", () => {
    const f = fileInput.files?.[0];
    if (f) void loadFile(f);
    fileInput.value = "";
  });
  document.addEventListener("keydown", (event) => {
    const t = event.target as HTMLElement | null;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName))) return;
    const moves: Record<string, () => void> = {
      ArrowLeft: () => go(pos - 1),
      ArrowRight: () => go(pos + 1),
      Home: () => go(-1),
      End: () => go(Number.MAX_SAFE_INTEGER),
    };
    const move = moves[event.key];
    if (move) {
      event.preventDefault();
      move();
    }
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    const f = event.dataTransfer?.files[0];
    if (f) void loadFile(f);
  });
  loadDemo();
}
