/**
 * A domain's page table as a tree of the entries the hardware walker reads: for every live mapping,
 * the verbose walk from the root (level, table, index, raw descriptor, decoded fields), merged so
 * each table entry appears once. It shows what the bytes in memory say, not what the driver meant.
 */
import type { PageTable, WalkStep } from "@iommu-sim/hw";
import { protToString } from "@iommu-sim/hw";
import { hex, sizeText } from "./format.js";
import type { MappedRange } from "./mappings.js";

/** One table entry in the tree. */
export interface PageTableEntryNode {
  readonly level: number;
  readonly index: number;
  /** Physical address of the table holding the entry. */
  readonly table: string;
  /** Raw descriptor. */
  readonly descriptor: string;
  /** `table`, `page`, `block`, `section`... */
  readonly type: string;
  /** Next-level table (table entries). */
  readonly next?: string;
  /** IOVA of the leaf's first byte (leaves). */
  readonly iova?: string;
  /** Output address (leaves). */
  readonly output?: string;
  /** Leaf size. */
  readonly size?: string;
  /** Permissions as IOMMU_* names (leaves). */
  readonly prot?: string;
  /** Every architectural field, decoded. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  readonly children: readonly PageTableEntryNode[];
}

/** A page-table dump. */
export interface PageTableDump {
  readonly format: string;
  readonly levels: number;
  readonly granule: number;
  readonly root: string;
  readonly entries: readonly PageTableEntryNode[];
  readonly leaves: number;
  /** True when `limit` leaves were reached before every mapping was walked. */
  readonly truncated: boolean;
}

interface Building {
  readonly step: WalkStep;
  readonly leafIova: bigint | undefined;
  readonly children: Map<string, Building>;
}

const keyOf = (s: WalkStep) => `${s.level}:${s.descriptorAddress}`;

function plainFields(
  fields: Readonly<Record<string, number | bigint | boolean | string>>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === "bigint" ? hex(v) : v;
  return out;
}

function finish(b: Building): PageTableEntryNode {
  const d = b.step.decoded;
  const leaf = d.outputAddress !== undefined && d.type !== "table";
  return {
    level: b.step.level,
    index: b.step.index,
    table: hex(b.step.tableAddress),
    descriptor: hex(b.step.descriptor),
    type: d.type,
    ...(d.nextTable !== undefined && { next: hex(d.nextTable) }),
    ...(leaf && b.leafIova !== undefined && { iova: hex(b.leafIova) }),
    ...(leaf && { output: hex(d.outputAddress!) }),
    ...(leaf && d.pageSize !== undefined && { size: sizeText(d.pageSize) }),
    ...(leaf && d.prot !== undefined && { prot: protToString(d.prot) }),
    fields: plainFields(d.fields),
    children: [...b.children.values()].sort((x, y) => x.step.index - y.step.index).map(finish),
  };
}

/** Walks every page of `ranges` in `table` (up to `limit` leaves) and builds the tree. */
export function dumpPageTable(table: PageTable, ranges: readonly MappedRange[], limit = 4096): PageTableDump {
  const top = new Map<string, Building>();
  const minPage = table.geometry.pgsizeBitmap & -table.geometry.pgsizeBitmap;
  let leaves = 0;
  let truncated = false;
  for (const r of ranges) {
    const end = r.iova + r.size;
    for (let iova = r.iova; iova < end; ) {
      if (leaves >= limit) {
        truncated = true;
        break;
      }
      const trace = table.walk(iova);
      let level = top;
      trace.steps.forEach((s, i) => {
        const k = keyOf(s);
        let node = level.get(k);
        const isLast = i === trace.steps.length - 1;
        if (!node) {
          const leafIova =
            isLast && trace.pageSize !== undefined ? iova - (iova % trace.pageSize) : undefined;
          node = { step: s, leafIova, children: new Map() };
          level.set(k, node);
        }
        level = node.children;
      });
      leaves++;
      const step = trace.pageSize ?? minPage;
      iova = iova - (iova % step) + step;
    }
  }
  const g = table.geometry;
  return {
    format: table.format,
    levels: g.levels,
    granule: g.granule,
    root: hex(table.root),
    entries: [...top.values()].sort((x, y) => x.step.index - y.step.index).map(finish),
    leaves,
    truncated,
  };
}

const LEAF_FIELDS_SHOWN = 12;

/** Renders a dump as an indented tree, one entry per line. */
export function renderPageTableDump(dump: PageTableDump): string {
  const lines = [
    `${dump.format}, ${dump.levels} levels, granule ${sizeText(dump.granule)}, root ${dump.root}${dump.truncated ? " (truncated)" : ""}`,
  ];
  const visit = (n: PageTableEntryNode, depth: number) => {
    const pad = "  ".repeat(depth + 1);
    const head = `${pad}L${n.level}[${n.index}] ${n.descriptor}`;
    if (n.type === "table") lines.push(`${head} table -> ${n.next ?? "?"}`);
    else if (n.output !== undefined) {
      const fields = Object.entries(n.fields)
        .slice(0, LEAF_FIELDS_SHOWN)
        .map(([k, v]) => (v === true ? k : v === false ? undefined : `${k}=${v}`))
        .filter((x) => x !== undefined)
        .join(" ");
      lines.push(
        `${head} ${n.type} ${n.iova ?? "?"} -> ${n.output} ${n.size ?? ""} ${n.prot ?? ""}  [${fields}]`,
      );
    } else lines.push(`${head} ${n.type}`);
    for (const c of n.children) visit(c, depth + 1);
  };
  for (const e of dump.entries) visit(e, 0);
  if (dump.entries.length === 0) lines.push("  (no live mappings)");
  return lines.join("\n");
}
