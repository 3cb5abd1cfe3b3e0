/**
 * The checks an `expect` step can make, one per key: translation results, faults, groups, domains,
 * IOTLB statistics, stale IOTLB entries, memory contents and DMA-API usability. Each decodes its
 * body into a closure that returns the failures it finds.
 */
import { domainTypeName, type IommuDomain } from "@iommu-sim/iommu";
import { ADDRESS_REF, addressRef } from "./address-ref.js";
import type { RunContext } from "./context.js";
import {
  type At,
  addr,
  bool,
  bytes,
  compare,
  comparison,
  fail,
  list,
  map,
  oneOf,
  showComparison,
  str,
} from "./decoders.js";
import { bytesText, hex } from "./format.js";
import { iotlbOf } from "./hardware-view.js";
import { resolve } from "./run-names.js";
import { ADDRESS, BYTES, COMPARISON, DEVICE, DOMAIN, object } from "./schema-parts.js";
import type { JsonSchema } from "./steps/step.js";

/** A decoded check: run it to get its failures. */
export type Check = (ctx: RunContext) => string[];

/** One kind of expectation. */
export interface Expectation {
  readonly key: string;
  readonly summary: string;
  readonly schema: JsonSchema;
  decode(at: At): Check;
}

const oneOrMany = (schema: JsonSchema): JsonSchema => ({
  anyOf: [schema, { type: "array", items: schema, minItems: 1 }],
});
const each = (at: At, decode: (at: At) => Check): Check => {
  const checks = at.node.kind === "seq" ? list(at, decode) : [decode(at)];
  return (ctx) => checks.flatMap((c) => c(ctx));
};

const DOMAIN_TYPES = ["DMA", "DMA-FQ", "unmanaged", "identity", "blocked"] as const;

const iovaToPhys: Expectation = {
  key: "iovaToPhys",
  summary: "iommu_iova_to_phys() of an IOVA: an address, or unmapped",
  schema: oneOrMany(
    object({ domain: DOMAIN, iova: ADDRESS, is: { anyOf: [ADDRESS, { const: "unmapped" }] } }, [
      "domain",
      "iova",
      "is",
    ]),
  ),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const domain = str(m.req("domain"));
      const iova = addr(m.req("iova"));
      const isAt = m.req("is");
      const is = isAt.node.kind === "scalar" && isAt.node.value === "unmapped" ? 0n : addr(isAt);
      m.done();
      return (ctx) => {
        const pa = ctx.core.iovaToPhys(ctx.domain(domain), iova);
        const show = (v: bigint) => (v === 0n ? "unmapped" : hex(v));
        return pa === is ? [] : [`iovaToPhys(${domain}, ${hex(iova)}) is ${show(pa)}, expected ${show(is)}`];
      };
    }),
};

const faults: Expectation = {
  key: "faults",
  summary: "faults reported to the core: how many, and fields of the last one",
  schema: object({
    count: COMPARISON,
    last: object({ device: DEVICE, domain: DOMAIN, iova: ADDRESS, write: { type: "boolean" } }),
  }),
  decode(at) {
    const m = map(at);
    const c = m.opt("count");
    const count = c ? comparison(c) : undefined;
    const l = m.opt("last");
    let last: { device?: string; domain?: string; iova?: bigint; write?: boolean } | undefined;
    if (l) {
      const lm = map(l);
      const d = lm.opt("device");
      const dom = lm.opt("domain");
      const i = lm.opt("iova");
      const w = lm.opt("write");
      last = {
        ...(d && { device: str(d) }),
        ...(dom && { domain: str(dom) }),
        ...(i && { iova: addr(i) }),
        ...(w && { write: bool(w) }),
      };
      lm.done();
    }
    m.done();
    return (ctx) => {
      const out: string[] = [];
      if (count && !compare(ctx.core.faultCount, count))
        out.push(`fault count is ${ctx.core.faultCount}, expected ${showComparison(count)}`);
      if (last) {
        const f = ctx.core.faults.at(-1);
        if (!f) return [...out, "no fault was reported"];
        if (last.device !== undefined && f.device !== ctx.device(last.device))
          out.push(`last fault came from ${ctx.deviceLabel(f.device)}, expected ${last.device}`);
        if (last.domain !== undefined && f.domain !== ctx.domain(last.domain))
          out.push(`last fault was in ${ctx.domainLabel(f.domain)}, expected ${last.domain}`);
        if (last.iova !== undefined && f.iova !== last.iova)
          out.push(`last fault at ${hex(f.iova)}, expected ${hex(last.iova)}`);
        if (last.write !== undefined && ((f.flags & 1) === 1) !== last.write)
          out.push(
            `last fault was a ${f.flags & 1 ? "write" : "read"}, expected a ${last.write ? "write" : "read"}`,
          );
      }
      return out;
    };
  },
};

const group: Expectation = {
  key: "group",
  summary: "the members of a device's IOMMU group (exactly these devices)",
  schema: oneOrMany(
    object({ of: DEVICE, members: { type: "array", items: DEVICE, minItems: 1 } }, ["of", "members"]),
  ),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const of = str(m.req("of"));
      const members = list(m.req("members"), (x) => str(x));
      m.done();
      return (ctx) => {
        const g = ctx.core.groupGet(ctx.device(of));
        if (!g) return [`${of} has no IOMMU group`];
        const want = new Set(members.map((n) => ctx.device(n)));
        const have = new Set(g.devices);
        const same = want.size === have.size && [...want].every((d) => have.has(d));
        return same
          ? []
          : [
              `group ${g.id} of ${of} holds ${g.devices.map((d) => ctx.deviceLabel(d)).join(", ")}, expected ${members.join(", ")}`,
            ];
      };
    }),
};

const domain: Expectation = {
  key: "domain",
  summary: "the domain a device is attached to now: its type, which one, whether it is the default",
  schema: oneOrMany(
    object({ device: DEVICE, type: { enum: [...DOMAIN_TYPES] }, is: DOMAIN, default: { type: "boolean" } }, [
      "device",
    ]),
  ),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const device = str(m.req("device"));
      const t = m.opt("type");
      const type = t ? oneOf(t, DOMAIN_TYPES) : undefined;
      const i = m.opt("is");
      const is = i ? str(i) : undefined;
      const d = m.opt("default");
      const isDefault = d ? bool(d) : undefined;
      m.done();
      if (type === undefined && is === undefined && isDefault === undefined)
        fail(one, 'expected at least one of "type", "is", "default"');
      return (ctx) => {
        const dev = ctx.device(device);
        const cur: IommuDomain | undefined = ctx.core.getDomainForDevice(dev);
        if (!cur) return [`${device} is attached to no domain`];
        const out: string[] = [];
        const curType = domainTypeName(cur.type);
        if (type !== undefined && curType !== type)
          out.push(`${device} is on a ${curType} domain, expected ${type}`);
        if (is !== undefined && cur !== ctx.domain(is))
          out.push(`${device} is on ${ctx.domainLabel(cur)}, expected ${is}`);
        if (isDefault !== undefined && (cur === dev.group?.defaultDomain) !== isDefault)
          out.push(
            `${device} is ${isDefault ? "not " : ""}on its default domain (on ${ctx.domainLabel(cur)})`,
          );
        return out;
      };
    }),
};

const IOTLB_COUNTERS = ["lookups", "hits", "misses", "insertions", "evictions", "entries"] as const;

const iotlb: Expectation = {
  key: "iotlb",
  summary: "IOTLB statistics and occupancy of an IOMMU instance (backends with an IOTLB model)",
  schema: object(
    { iommu: { type: "string" }, ...Object.fromEntries(IOTLB_COUNTERS.map((k) => [k, COMPARISON])) },
    [],
  ),
  decode(at) {
    const m = map(at);
    const i = m.opt("iommu");
    const iommu = i ? str(i) : undefined;
    const wanted: [string, ReturnType<typeof comparison>][] = [];
    for (const k of IOTLB_COUNTERS) {
      const c = m.opt(k);
      if (c) wanted.push([k, comparison(c)]);
    }
    m.done();
    return (ctx) => {
      const name = iommu ?? ctx.machine.backends.keys().next().value;
      const backend = name === undefined ? undefined : ctx.machine.backends.get(name);
      if (!backend) return [`no IOMMU named "${String(name)}"`];
      const tlb = iotlbOf(backend);
      if (!tlb) return [`${name} has no IOTLB model to check`];
      const s = tlb.stats();
      const values: Record<string, number> = { ...s, entries: tlb.snapshot().length } as unknown as Record<
        string,
        number
      >;
      return wanted
        .filter(([k, c]) => !compare(values[k] ?? 0, c))
        .map(([k, c]) => `${name} IOTLB ${k} is ${values[k]}, expected ${showComparison(c)}`);
    };
  },
};

const stale: Expectation = {
  key: "stale",
  summary: "whether a stale IOTLB entry still translates an IOVA for a device",
  schema: oneOrMany(
    object({ device: DEVICE, iova: ADDRESS, is: { type: "boolean" } }, ["device", "iova", "is"]),
  ),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const device = str(m.req("device"));
      const iova = addr(m.req("iova"));
      const is = bool(m.req("is"));
      m.done();
      return (ctx) => {
        const s = ctx.core.staleTranslation(ctx.device(device), iova);
        return s === is ? [] : [`${device} ${s ? "still has" : "has no"} stale IOTLB entry for ${hex(iova)}`];
      };
    }),
};

const memory: Expectation = {
  key: "memory",
  summary: "bytes in physical memory",
  schema: oneOrMany(
    object({ paddr: ADDRESS_REF, bytes: BYTES, iommu: { type: "string" } }, ["paddr", "bytes"]),
  ),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const ref = addressRef(m.req("paddr"));
      const want = bytes(m.req("bytes"));
      const i = m.opt("iommu");
      const iommu = i ? str(i) : undefined;
      m.done();
      return (ctx) => {
        const paddr = resolve(ctx, ref);
        const have = ctx.memory(iommu).read(paddr, want.length);
        return bytesText(have, 1 << 20) === bytesText(want, 1 << 20)
          ? []
          : [`memory at ${hex(paddr)} holds ${bytesText(have)}, expected ${bytesText(want)}`];
      };
    }),
};

const dmaApi: Expectation = {
  key: "dmaApi",
  summary: "whether the DMA API may be used for a device now (its group is on its default domain)",
  schema: oneOrMany(object({ device: DEVICE, usable: { type: "boolean" } }, ["device", "usable"])),
  decode: (at) =>
    each(at, (one) => {
      const m = map(one);
      const device = str(m.req("device"));
      const usable = bool(m.req("usable"));
      m.done();
      return (ctx) =>
        ctx.core.dmaApiUsable(ctx.device(device)) === usable
          ? []
          : [`the DMA API is ${usable ? "not " : ""}usable for ${device}`];
    }),
};

/** Every expectation, by key. */
export const EXPECTATIONS: readonly Expectation[] = [
  iovaToPhys,
  faults,
  group,
  domain,
  iotlb,
  stale,
  memory,
  dmaApi,
];
