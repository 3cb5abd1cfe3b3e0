/**
 * The IOTLB view: geometry, counters, the occupied sets with their ways, and a small plot of the
 * cumulative hit rate over the steps (inline SVG).
 */
import { h, table } from "../dom.js";
import type { IommuInspection, IotlbSlot, StepIotlbStats, StepRecord } from "../engine.js";

const SVG = "http://www.w3.org/2000/svg";
/** Occupied sets listed at most. */
const SETS_SHOWN = 64;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const rate = (s: StepIotlbStats | undefined) => (s && s.lookups > 0 ? s.hits / s.lookups : undefined);
const pct = (r: number | undefined) => (r === undefined ? "-" : `${(r * 100).toFixed(1)}%`);

/** Counters of one IOMMU after the current step. */
export function statsList(s: StepIotlbStats): HTMLElement {
  const item = (name: string, label: string, value: string | number) => [
    h("dt", {}, label),
    h("dd", { "data-stat": name }, String(value)),
  ];
  return h(
    "dl",
    { class: "stats", "data-iommu": s.iommu },
    ...item("lookups", "lookups", s.lookups),
    ...item("hits", "hits", s.hits),
    ...item("misses", "misses", s.misses),
    ...item("hit-rate", "hit rate", pct(rate(s))),
    ...item("insertions", "insertions", s.insertions),
    ...item("evictions", "evictions", s.evictions),
    ...item("invalidations", "invalidations", s.invalidations),
    ...item("valid", "valid entries", s.validEntries),
  );
}

/**
 * The cumulative hit rate of `iommu` after every step, with a marker that `mark(step)` moves (so
 * stepping redraws one line, not the plot). Long runs are sampled to at most 400 points.
 */
export function hitRatePlot(
  steps: readonly StepRecord[],
  iommu: string,
): { readonly element: SVGSVGElement; mark(step: number): void } {
  const W = 400;
  const H = 80;
  const n = steps.length;
  const plot = svg("svg", {
    viewBox: `0 0 ${W} ${H + 14}`,
    class: "plot",
    role: "img",
    "aria-label": `Cumulative IOTLB hit rate of ${iommu} over ${n} steps`,
  });
  plot.append(svg("rect", { x: 0, y: 0, width: W, height: H, class: "plot-bg" }));
  for (const y of [0, 0.5, 1])
    plot.append(svg("line", { x1: 0, x2: W, y1: H - y * H, y2: H - y * H, class: "plot-grid" }));
  const x = (i: number) => (n <= 1 ? W / 2 : (i / (n - 1)) * W);
  const stride = Math.max(1, Math.ceil(n / 400));
  const pts: string[] = [];
  for (let i = 0; i < n; i += stride) {
    const r = rate(steps[i]!.iotlb.find((t) => t.iommu === iommu));
    if (r !== undefined) pts.push(`${x(i).toFixed(1)},${(H - r * H).toFixed(1)}`);
  }
  if (pts.length) plot.append(svg("polyline", { points: pts.join(" "), class: "plot-line" }));
  const now = svg("line", { x1: 0, x2: 0, y1: 0, y2: H, class: "plot-now" });
  plot.append(now);
  const label = (tx: number, text: string, anchor: string) => {
    const t = svg("text", { x: tx, y: H + 11, "text-anchor": anchor, class: "plot-label" });
    t.textContent = text;
    plot.append(t);
  };
  label(0, "step 1", "start");
  label(W, `step ${n}`, "end");
  label(W / 2, "hit rate 0-100%", "middle");
  return {
    element: plot,
    mark(step) {
      now.style.display = step < 0 ? "none" : "";
      now.setAttribute("x1", x(Math.max(0, step)).toFixed(1));
      now.setAttribute("x2", x(Math.max(0, step)).toFixed(1));
    },
  };
}

/** The sets and ways of one IOMMU's IOTLB (from an inspection). */
export function setsView(i: IommuInspection): HTMLElement {
  const t = i.iotlb;
  if (!t) return h("p", { class: "muted" }, `${i.name} (${i.backend}) has no IOTLB model.`);
  const shape =
    t.replacement === "qemu"
      ? `hash table of ${t.entries} entries, emptied when full (QEMU)`
      : t.ways === t.entries
        ? `${t.entries} entries, fully associative, ${t.replacement}`
        : `${t.entries} entries, ${t.ways}-way x ${t.sets} sets, ${t.replacement}`;
  const bySet = new Map<number, IotlbSlot[]>();
  for (const s of t.slots) bySet.set(s.set, [...(bySet.get(s.set) ?? []), s]);
  const sets = [...bySet.keys()].sort((a, b) => a - b);
  const perRow = t.replacement === "qemu" ? Math.min(8, Math.max(1, t.slots.length)) : Math.min(t.ways, 8);
  const rows = sets.slice(0, SETS_SHOWN).map((set) => {
    const slots = bySet.get(set)!;
    const cells =
      t.replacement === "qemu" || t.ways > 8
        ? slots.map((s) => slotCell(s))
        : Array.from({ length: t.ways }, (_, w) => {
            const s = slots.find((x) => x.way === w);
            return s ? slotCell(s) : h("span", { class: "way empty" }, "-");
          });
    return [
      t.replacement === "qemu" ? "hash" : String(set),
      h("div", { class: "ways", style: `--ways:${perRow}` }, ...cells),
    ];
  });
  return h(
    "div",
    { class: "sets" },
    h("p", { class: "small" }, `${i.name}: ${shape}; ${t.slots.length} valid`),
    t.slots.length === 0
      ? h("p", { class: "muted" }, "Empty.")
      : table(
          `Occupied sets of ${i.name}`,
          ["set", "ways (IOVA -> output, size, perm, ASID, stream, age)"],
          rows,
        ),
    sets.length > SETS_SHOWN
      ? h("p", { class: "muted small" }, `... ${sets.length - SETS_SHOWN} more occupied sets`)
      : "",
  );
}

const perm = (p: number) => `${p & 1 ? "r" : "-"}${p & 2 ? "w" : "-"}`;

function slotCell(s: IotlbSlot): HTMLElement {
  return h(
    "span",
    { class: "way", title: `set ${s.set}, way ${s.way}` },
    h("code", {}, `${s.iova}->${s.output}`),
    ` ${Number.parseInt(s.size, 16) >= 1 << 20 ? `${Number.parseInt(s.size, 16) / (1 << 20)}M` : `${Number.parseInt(s.size, 16) / 1024}K`} ${perm(s.perm)} asid ${s.asid} sid ${s.stream} age ${s.age}`,
  );
}
