/**
 * Faults and events: the faults the IOMMU core counted (report_iommu_fault()), and each fault's
 * record as the hardware wrote it (SMMUv3 event-queue entry, VT-d fault recording register, AMD-Vi
 * event-log entry, SMMU v2 fault syndrome), raw and decoded field by field; then the drivers'
 * kernel log.
 */
import { h, table } from "../dom.js";
import type { FaultRecord, Inspection, MachineView } from "../engine.js";

/** Fault records shown at most (the most recent first). */
const RECORDS_SHOWN = 8;

/** Renders the faults the core counted up to now and the hardware's records of them. */
export function faultsView(m: MachineView | undefined, records: readonly FaultRecord[]): HTMLElement {
  const root = h("div", {});
  const faults = m?.faults ?? [];
  root.append(h("h3", {}, `Faults reported to the core (${m?.faultCount ?? 0})`));
  root.append(
    faults.length === 0
      ? h("p", { class: "muted" }, "None yet.")
      : table(
          "Faults reported to the IOMMU core",
          ["device", "domain", "IOVA", "access", "handler result"],
          faults.map((f) => [
            f.device,
            h("code", {}, f.domain),
            h("code", {}, f.iova),
            f.write ? "write" : "read",
            String(f.result),
          ]),
          { "data-view": "faults" },
        ),
  );
  root.append(
    h(
      "h3",
      {},
      `Fault records written by the hardware (${records.length}${records.length > RECORDS_SHOWN ? `, the last ${RECORDS_SHOWN} shown` : ""})`,
    ),
  );
  if (records.length === 0) root.append(h("p", { class: "muted" }, "None yet."));
  else
    root.append(
      h(
        "ol",
        { class: "events", "data-view": "fault-records" },
        ...records
          .slice(-RECORDS_SHOWN)
          .reverse()
          .map((r) =>
            h(
              "li",
              { "data-event": r.event },
              h("strong", { "data-record": "event" }, r.event),
              ` - ${r.meaning}`,
              h(
                "div",
                { class: "small muted" },
                `step ${r.step + 1}: ${r.record}, ${r.location} on ${r.iommu}; the datapath reported ${r.reason} at ${r.iova}`,
              ),
              h("div", { class: "small" }, h("code", {}, r.words.join(" "))),
              h(
                "dl",
                { class: "fields" },
                ...Object.entries(r.fields).flatMap(([k, v]) => [
                  h("dt", {}, k),
                  h("dd", { "data-field": k }, String(v)),
                ]),
              ),
              r.log.length ? h("pre", { class: "log" }, r.log.join("\n")) : "",
            ),
          ),
      ),
    );
  return root;
}

/** The drivers' kernel log up to the inspected step. */
export function logView(ins: Inspection): HTMLElement {
  const log = ins.log.filter((l) => l.level !== "debug");
  return h(
    "div",
    {},
    h("h3", {}, "Kernel log"),
    log.length === 0
      ? h("p", { class: "muted" }, "Nothing logged.")
      : h(
          "pre",
          { class: "log", "data-view": "log" },
          log.map((l) => `[${l.level}] ${l.message}`).join("\n"),
        ),
  );
}

/**
 * VFIO state when the step's machine snapshot carries it (a `vfio` section: containers with their
 * mappings, processes with their pinned pages), each list of records as a table; otherwise says so.
 */
export function vfioView(vfio: unknown): HTMLElement {
  if (vfio === undefined || vfio === null)
    return h(
      "p",
      { class: "muted" },
      "The machine snapshot carries no VFIO state: no container is open, or the scenario engine does not report it yet.",
    );
  const root = h("div", { "data-view": "vfio" });
  for (const [key, value] of Object.entries(vfio as Record<string, unknown>)) {
    root.append(h("h3", {}, key));
    if (Array.isArray(value) && value.every((v) => typeof v === "object" && v !== null)) {
      const cols = [...new Set(value.flatMap((v) => Object.keys(v as object)))];
      root.append(
        table(
          key,
          cols,
          value.map((v) => cols.map((c) => plain((v as Record<string, unknown>)[c]))),
        ),
      );
    } else root.append(h("pre", {}, plain(value)));
  }
  return root;
}

function plain(v: unknown): string {
  if (typeof v === "string") return v;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x)) ?? "";
}
