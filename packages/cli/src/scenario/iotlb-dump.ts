/**
 * An IOMMU instance's IOTLB contents and statistics, as data and as text.
 */
import type { IotlbEntrySnapshot, IotlbStats } from "@iommu-sim/hw";
import { protToString } from "@iommu-sim/hw";
import { hex, sizeText } from "./format.js";
import type { IotlbView } from "./hardware-view.js";

/** An IOTLB dump. */
export interface IotlbDump {
  readonly iommu: string;
  readonly entries: readonly {
    readonly iova: string;
    readonly output: string;
    readonly size: string;
    readonly prot: string;
    readonly asid: number;
    readonly vmid: number;
    readonly pasid: number;
    readonly stream: number;
    readonly level: number;
  }[];
  readonly stats: IotlbStats;
}

/** Dumps `tlb` (entries sorted by IOVA). */
export function dumpIotlb(iommu: string, tlb: IotlbView): IotlbDump {
  const entries = [...tlb.snapshot()]
    .sort((a: IotlbEntrySnapshot, b: IotlbEntrySnapshot) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0))
    .map((e) => ({
      iova: hex(e.iova),
      output: hex(e.output),
      size: sizeText(e.size),
      prot: protToString(e.perm),
      asid: e.asid,
      vmid: e.vmid,
      pasid: e.pasid,
      stream: e.stream,
      level: e.level,
    }));
  return { iommu, entries, stats: structuredClone(tlb.stats()) };
}

/** Renders an IOTLB dump: a statistics line, then one line per entry. */
export function renderIotlbDump(dump: IotlbDump): string {
  const s = dump.stats;
  const lines = [
    `IOTLB of ${dump.iommu}: ${dump.entries.length} valid; lookups ${s.lookups}, hits ${s.hits}, misses ${s.misses}, ` +
      `insertions ${s.insertions}, evictions ${s.evictions}; invalidations all ${s.invalidations.all} tag ${s.invalidations.tag} range ${s.invalidations.range}`,
  ];
  for (const e of dump.entries)
    lines.push(
      `  ${e.iova} -> ${e.output} ${e.size} ${e.prot} asid=${e.asid} vmid=${e.vmid} stream=${e.stream}`,
    );
  return lines.join("\n");
}
