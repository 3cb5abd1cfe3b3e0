/**
 * Page tables as trees that expand level by level: each entry shows its raw descriptor and, when
 * opened, every field decoded plus the next level (built only then, so a large table costs nothing
 * until someone looks). The entries the last translation's walk read are highlighted and opened.
 */
import type { DomainDump, PageTableEntryNode } from "iommu-sim/scenario";
import { h } from "../dom.js";
import type { LastTranslation } from "../engine.js";

const keyOf = (n: PageTableEntryNode) => `${n.level}:${n.table}:${n.index}`;

function fieldsList(fields: PageTableEntryNode["fields"]): HTMLElement {
  return h(
    "dl",
    { class: "fields" },
    ...Object.entries(fields).flatMap(([k, v]) => [
      h("dt", {}, k),
      h(
        "dd",
        { class: v === true ? "on" : v === false ? "off" : undefined, "data-field": k },
        v === true ? "1" : v === false ? "0" : String(v),
      ),
    ]),
  );
}

function entry(n: PageTableEntryNode, path: ReadonlySet<string>): HTMLElement {
  const onPath = path.has(keyOf(n));
  const head = [
    h("span", { class: "lvl" }, `L${n.level}[${n.index}]`),
    " ",
    h("code", { class: "desc", "data-descriptor": n.descriptor }, n.descriptor),
    " ",
    h("span", { class: `type type-${n.type}` }, n.type),
    n.next !== undefined ? ` -> ${n.next}` : "",
    n.output !== undefined ? ` ${n.iova ?? "?"} -> ${n.output} ${n.size ?? ""} ${n.prot ?? ""}` : "",
    onPath ? h("span", { class: "path-mark", title: "read by the last translation" }, " (walked)") : "",
  ];
  const details = h(
    "details",
    { class: onPath ? "pt-entry on-path" : "pt-entry", "data-key": keyOf(n) },
    h("summary", {}, ...head),
  );
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    details.append(
      h(
        "div",
        { class: "pt-body" },
        h("div", { class: "small muted" }, `descriptor at table ${n.table}, index ${n.index}`),
        fieldsList(n.fields),
      ),
    );
    if (n.children.length)
      details.append(h("div", { class: "pt-children" }, ...n.children.map((c) => entry(c, path))));
  };
  details.addEventListener("toggle", () => {
    if (details.open) build();
  });
  if (onPath) {
    build();
    details.open = true;
  }
  return details;
}

/** Renders every paging domain's table; `last` highlights the walk of the last DMA transaction. */
export function pageTableView(
  domains: readonly DomainDump[],
  last: LastTranslation | undefined,
): HTMLElement {
  const root = h("div", {});
  if (last)
    root.append(
      h(
        "p",
        { class: "last-translation", "data-view": "last-translation" },
        `Last translation (step ${last.step + 1}): ${last.device} ${last.write ? "writes" : "reads"} ${last.iova} in `,
        h("code", {}, last.domain),
        `: ${last.outcome}. Highlighted: the ${last.path.length} descriptor(s) a walk reads now.`,
      ),
    );
  if (domains.length === 0) root.append(h("p", { class: "muted" }, "No paging domains yet."));
  for (const d of domains) {
    const pt = d.pageTable;
    const path = new Set(last && last.domain === d.domain ? last.path : []);
    const box = h(
      "details",
      { class: "pt-domain", open: path.size > 0 || domains.length <= 2, "data-domain": d.domain },
      h(
        "summary",
        {},
        h("strong", {}, d.domain),
        ` on ${d.iommu}`,
        pt
          ? ` - ${pt.format}, ${pt.levels} levels, granule ${pt.granule / 1024}K, root ${pt.root}, ${pt.leaves} leaf entr${pt.leaves === 1 ? "y" : "ies"}${pt.truncated ? " (truncated)" : ""}`
          : " - no page-table bytes a viewer can read",
      ),
    );
    if (pt) {
      if (pt.entries.length === 0) box.append(h("p", { class: "muted" }, "(no live mappings)"));
      else
        box.append(h("div", { class: "pt-tree", role: "group" }, ...pt.entries.map((e) => entry(e, path))));
    }
    root.append(box);
  }
  return root;
}
