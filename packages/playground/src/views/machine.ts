/** The machine view: IOMMU instances, groups, devices and domains after the current step. */
import type { Scenario } from "iommu-sim/scenario";
import { h, table } from "../dom.js";
import type { MachineView } from "../engine.js";

/** Renders the machine after a step (or before the first). */
export function machineView(scenario: Scenario, m: MachineView | undefined): HTMLElement {
  if (!m) return h("p", { class: "muted" }, "No snapshot: the run stopped before this step.");
  const iommus = table(
    "IOMMU instances",
    ["IOMMU", "backend", "options"],
    scenario.machine.iommus.map((i) => [
      h("code", {}, i.name),
      i.backend,
      h("code", { class: "small" }, optionsText(i.options)),
    ]),
  );
  const groups = table(
    "IOMMU groups",
    ["group", "IOMMU", "devices", "domain", "default domain", "ownership"],
    m.groups.map((g) => [
      String(g.id),
      g.iommu,
      g.devices.join(", "),
      h("span", { class: g.domain === g.defaultDomain ? "" : "changed" }, g.domain),
      g.defaultDomain,
      g.owned ? "user (VFIO)" : g.ownerCount > 0 ? `${g.ownerCount} kernel driver(s)` : "none",
    ]),
    { "data-view": "groups" },
  );
  const devices = table(
    "Devices",
    ["device", "name", "group", "domain", "default", "DMA API"],
    m.devices.map((d) => [
      h("code", {}, d.name),
      d.deviceName === d.name ? "" : h("code", { class: "small" }, d.deviceName),
      d.group === undefined ? "-" : String(d.group),
      h("span", { class: d.domain === d.defaultDomain ? "" : "changed" }, d.domain),
      d.defaultDomain,
      d.dmaApiUsable ? "usable" : h("strong", { class: "bad" }, "off limits"),
    ]),
    { "data-view": "devices" },
  );
  const domains = table(
    "Domains",
    ["domain", "type", "IOMMU", "groups", "mappings"],
    m.domains.map((d) => [
      h("code", {}, d.label),
      d.type,
      d.iommu,
      d.groups.join(", ") || "-",
      d.mappingCount === 0
        ? "none"
        : h(
            "span",
            {},
            d.mappings.map((r) => `${r.iova} -> ${r.paddr} (${r.size})`).join("; "),
            d.mappingCount > d.mappings.length ? ` ... ${d.mappingCount} in all` : "",
          ),
    ]),
    { "data-view": "domains" },
  );
  return h(
    "div",
    {},
    h("h3", {}, "IOMMUs"),
    iommus,
    h("h3", {}, "Groups"),
    groups,
    h("h3", {}, "Devices"),
    devices,
    h("h3", {}, "Domains"),
    domains,
    h("p", { class: "muted small" }, `virtual time ${m.time} ns, ${m.faultCount} fault(s) so far`),
  );
}

function optionsText(options: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(options);
  if (keys.length === 0) return "defaults";
  return JSON.stringify(options, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v));
}
