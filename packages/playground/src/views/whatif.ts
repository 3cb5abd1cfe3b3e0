/**
 * The "what if" panel: change the backend, the IOTLB geometry and policy, strict or lazy
 * invalidation; re-run the loaded scenario with those changes to its machine section and compare
 * the end-of-run statistics side by side with the scenario as written.
 */
import { BACKEND_KINDS, isScenarioError, type Scenario } from "iommu-sim/scenario";
import { h, replace } from "../dom.js";
import { applyWhatIf, type RunSummary, runSession, summarize, type WhatIf } from "../engine.js";

/** One column of the comparison. */
interface Column {
  readonly label: string;
  readonly scenario: Scenario;
  readonly summary: RunSummary | undefined;
  readonly error: string | undefined;
}

const REPLACEMENTS = ["lru", "fifo", "round-robin", "random", "qemu"] as const;

const ROWS: readonly [keyof RunSummary, string][] = [
  ["ok", "steps ok"],
  ["failed", "steps failed"],
  ["errors", "steps in error"],
  ["lookups", "IOTLB lookups"],
  ["hits", "IOTLB hits"],
  ["misses", "IOTLB misses"],
  ["insertions", "insertions"],
  ["evictions", "evictions"],
  ["invalidations", "invalidations"],
  ["faults", "faults"],
  ["runMs", "run time (ms)"],
];

/** The panel; `open` loads a variant into the stepper. */
export interface WhatIfPanel {
  readonly element: HTMLElement;
  /** Starts over with a newly loaded scenario (its first column). */
  reset(scenario: Scenario, summary: RunSummary, geometry: WhatIf["iotlb"] | undefined): void;
}

/** Creates the panel. */
export function createWhatIfPanel(open: (scenario: Scenario, label: string) => void): WhatIfPanel {
  let columns: Column[] = [];
  let base: Scenario | undefined;
  const select = (id: string, label: string, options: readonly (readonly [string, string])[]) => {
    const el = h("select", { id, name: id }, ...options.map(([v, t]) => h("option", { value: v }, t)));
    return { el, row: h("label", { for: id }, label, el) };
  };
  const number = (id: string, label: string, value: number) => {
    const el = h("input", { id, name: id, type: "number", min: 1, max: 65536, step: 1, value });
    return { el, row: h("label", { for: id }, label, el) };
  };
  const backend = select("wi-backend", "Backend", [
    ["", "as written"],
    ...BACKEND_KINDS.map((k) => [k.name, k.name] as const),
  ]);
  const geometry = h("input", { id: "wi-geometry", type: "checkbox" });
  const entries = number("wi-entries", "Entries", 64);
  const ways = number("wi-ways", "Ways", 4);
  const replacement = select(
    "wi-replacement",
    "Replacement",
    REPLACEMENTS.map((r) => [r, r] as const),
  );
  const strict = select("wi-strict", "Invalidation", [
    ["", "as written"],
    ["strict", "strict (iommu.strict=1)"],
    ["lazy", "lazy, flush queue (iommu.strict=0)"],
  ]);
  const run = h("button", { type: "submit", class: "primary" }, "Run and compare");
  const result = h("div", { class: "whatif-result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "whatif-form" },
    backend.row,
    h("label", { for: "wi-geometry", class: "check" }, geometry, "Set the IOTLB geometry"),
    entries.row,
    ways.row,
    replacement.row,
    strict.row,
    run,
  );
  const syncDisabled = () => {
    for (const el of [entries.el, ways.el, replacement.el]) el.disabled = !geometry.checked;
  };
  geometry.addEventListener("change", syncDisabled);
  syncDisabled();

  const render = () => {
    const table = h(
      "table",
      { class: "compare", "data-view": "compare" },
      h("caption", { class: "visually-hidden" }, "End-of-run statistics, side by side"),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, ""), ...columns.map((c) => h("th", { scope: "col" }, c.label))),
      ),
      h(
        "tbody",
        {},
        ...ROWS.map(([key, label]) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, label),
            ...columns.map((c) =>
              h(
                "td",
                { class: "num" },
                c.summary ? (key === "runMs" ? c.summary[key].toFixed(0) : String(c.summary[key])) : "-",
              ),
            ),
          ),
        ),
        h(
          "tr",
          {},
          h("th", { scope: "row" }, ""),
          ...columns.map((c, i) =>
            h("td", {}, c.error ? h("span", { class: "bad small" }, c.error) : i === 0 ? "" : stepThrough(c)),
          ),
        ),
      ),
    );
    replace(
      result,
      columns.length > 1 ? table : h("p", { class: "muted" }, "Change something and run to compare."),
    );
  };
  const stepThrough = (c: Column) => {
    const b = h("button", { type: "button" }, "Step through");
    b.addEventListener("click", () => open(c.scenario, c.label));
    return b;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!base) return;
    const change: {
      backend?: string;
      iotlb?: { entries: number; ways: number; replacement: string };
      strict?: boolean;
    } = {};
    if (backend.el.value) change.backend = backend.el.value;
    if (geometry.checked)
      change.iotlb = {
        entries: Number(entries.el.value),
        ways: Number(ways.el.value),
        replacement: replacement.el.value,
      };
    if (strict.el.value) change.strict = strict.el.value === "strict";
    const label =
      [
        change.backend,
        change.iotlb && `${change.iotlb.entries}x${change.iotlb.ways} ${change.iotlb.replacement}`,
        change.strict === undefined ? undefined : change.strict ? "strict" : "lazy",
      ]
        .filter(Boolean)
        .join(", ") || "as written";
    const scenario = applyWhatIf(base, change);
    try {
      columns.push({ label, scenario, summary: summarize(runSession(scenario)), error: undefined });
    } catch (error) {
      const message = isScenarioError(error)
        ? error.detail
        : error instanceof Error
          ? error.message
          : String(error);
      columns.push({ label, scenario, summary: undefined, error: message });
    }
    render();
  });

  const element = h(
    "div",
    {},
    h(
      "p",
      { class: "small muted" },
      "Edits the loaded scenario's machine section (the steps stay as written) and runs it again. A new backend drops the old one's specific options.",
    ),
    form,
    result,
  );
  return {
    element,
    reset(scenario, summary, geo) {
      base = scenario;
      columns = [{ label: "as written", scenario, summary, error: undefined }];
      if (geo) {
        entries.el.value = String(geo.entries);
        ways.el.value = String(geo.ways);
        replacement.el.value = geo.replacement;
      }
      render();
    },
  };
}
