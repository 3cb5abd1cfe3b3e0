import { protToString } from "@iommu-sim/hw";
import { ADDRESS_REF, type AddressRef, addressRef, addressRefText } from "../address-ref.js";
import { addr, fail, map, str } from "../decoders.js";
import { hex, sizeText } from "../format.js";
import { pageTableOf } from "../hardware-view.js";
import { resolve } from "../run-names.js";
import { ADDRESS, DEVICE, DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string | undefined;
  readonly device: string | undefined;
  readonly iova: AddressRef;
  /** The output address the walk must reach; `unmapped` = it must fault. */
  readonly expect: bigint | "unmapped" | undefined;
}

/** One level of a recorded walk (the step's `detail.levels`). */
export interface WalkLevel {
  readonly level: number;
  /** Physical address of the table read. */
  readonly table: string;
  readonly index: number;
  /** Physical address of the descriptor. */
  readonly descriptorAddress: string;
  readonly descriptor: string;
  /** `table`, `page`, `block`, `invalid`... */
  readonly type: string;
  readonly next?: string;
  readonly output?: string;
  readonly size?: string;
  readonly prot?: string;
  /** Every architectural field, by the specification's names. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

/** What a `walk` step records (`detail`). */
export interface WalkDetail {
  readonly domain: string;
  readonly format: string;
  readonly levels: number;
  readonly granule: number;
  readonly root: string;
  readonly iova: string;
  readonly steps: readonly WalkLevel[];
  /** Physical address reached, or absent when the walk faulted. */
  readonly output?: string;
  readonly pageSize?: string;
  readonly prot?: string;
  /** Why the walk stopped (`translation`...), when it faulted. */
  readonly fault?: string;
}

/**
 * `walk`: reads a domain's page table from memory the way the IOMMU's walker does, for one IOVA,
 * and records every level (table, index, raw descriptor, decoded fields). It changes nothing (no
 * IOTLB fill): it is what a viewer shows next to a DMA. `expect` checks where the walk ends.
 * Backends that keep no page-table bytes (the reference backend) record that there is no table.
 */
export const walkStep: StepDefinition<Params> = {
  kind: "walk",
  summary: "record the page-table walk of an IOVA, level by level (changes nothing)",
  schema: {
    ...object({
      domain: DOMAIN,
      device: { ...DEVICE, description: "The domain the device is attached to now." },
      iova: ADDRESS_REF,
      expect: { anyOf: [ADDRESS, { const: "unmapped" }] },
    }),
    required: ["iova"],
    oneOf: [{ required: ["domain"] }, { required: ["device"] }],
  },
  canFail: false,
  decode(at) {
    const m = map(at);
    const d = m.opt("domain");
    const dev = m.opt("device");
    const e = m.opt("expect");
    const p: Params = {
      domain: d ? str(d) : undefined,
      device: dev ? str(dev) : undefined,
      iova: addressRef(m.req("iova")),
      expect: e
        ? e.node.kind === "scalar" && e.node.value === "unmapped"
          ? "unmapped"
          : addr(e)
        : undefined,
    };
    m.done();
    if ((p.domain === undefined) === (p.device === undefined))
      fail(at, 'expected exactly one of "domain" and "device"');
    return p;
  },
  run(p, ctx) {
    const domain = p.domain !== undefined ? ctx.domain(p.domain) : ctx.domain(`current:${p.device}`);
    const label = ctx.domainLabel(domain);
    const iova = resolve(ctx, p.iova);
    const table = pageTableOf(domain);
    if (!table)
      return {
        summary: `${label} has no page table in memory to walk (${addressRefText(p.iova)})`,
        failures: p.expect === undefined ? [] : ["no page table to check the walk against"],
      };
    const trace = table.walk(iova);
    const plain = (v: number | bigint | boolean | string) => (typeof v === "bigint" ? hex(v) : v);
    const steps: WalkLevel[] = trace.steps.map((s) => {
      const d = s.decoded;
      const leaf = d.outputAddress !== undefined && d.type !== "table";
      return {
        level: s.level,
        table: hex(s.tableAddress),
        index: s.index,
        descriptorAddress: hex(s.descriptorAddress),
        descriptor: hex(s.descriptor),
        type: d.type,
        ...(d.nextTable !== undefined && { next: hex(d.nextTable) }),
        ...(leaf && { output: hex(d.outputAddress!) }),
        ...(leaf && d.pageSize !== undefined && { size: sizeText(d.pageSize) }),
        ...(leaf && d.prot !== undefined && { prot: protToString(d.prot) }),
        fields: Object.fromEntries(Object.entries(d.fields).map(([k, v]) => [k, plain(v)])),
      };
    });
    const g = table.geometry;
    const detail: WalkDetail = {
      domain: label,
      format: table.format,
      levels: g.levels,
      granule: g.granule,
      root: hex(table.root),
      iova: hex(iova),
      steps,
      ...(trace.outputAddress !== undefined && { output: hex(trace.outputAddress) }),
      ...(trace.pageSize !== undefined && { pageSize: sizeText(trace.pageSize) }),
      ...(trace.prot !== undefined && { prot: protToString(trace.prot) }),
      ...(trace.fault !== undefined && { fault: trace.fault }),
    };
    const failures: string[] = [];
    if (p.expect === "unmapped" && trace.outputAddress !== undefined)
      failures.push(`the walk reached ${hex(trace.outputAddress)}, expected a fault`);
    if (typeof p.expect === "bigint" && trace.outputAddress !== p.expect)
      failures.push(
        `the walk ${trace.outputAddress === undefined ? `faulted (${trace.fault})` : `reached ${hex(trace.outputAddress)}`}, expected ${hex(p.expect)}`,
      );
    const end =
      trace.outputAddress !== undefined
        ? `-> ${hex(trace.outputAddress)} (${detail.pageSize} ${detail.prot})`
        : `fault (${trace.fault}) at level ${trace.level}`;
    return {
      summary: `${label} ${hex(iova)}: ${steps.length} level${steps.length === 1 ? "" : "s"} of ${table.format}, ${end}`,
      failures,
      detail,
    };
  },
};
