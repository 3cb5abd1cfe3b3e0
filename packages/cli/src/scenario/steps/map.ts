import { addr, map, prot, size, str } from "../decoders.js";
import { hex, sizeText } from "../format.js";
import { ADDRESS, DOMAIN, object, PROT, SIZE } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string;
  readonly iova: bigint;
  readonly paddr: bigint;
  readonly size: bigint;
  readonly prot: number;
}

/** `map`: `iommu_map()` of a range, split into the domain's page sizes by the core. */
export const mapStep: StepDefinition<Params> = {
  kind: "map",
  summary: "map IOVA -> physical through the IOMMU API (iommu_map)",
  schema: object({ domain: DOMAIN, iova: ADDRESS, paddr: ADDRESS, size: SIZE, prot: PROT }, [
    "domain",
    "iova",
    "paddr",
    "size",
    "prot",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = {
      domain: str(m.req("domain")),
      iova: addr(m.req("iova")),
      paddr: addr(m.req("paddr")),
      size: size(m.req("size")),
      prot: prot(m.req("prot")),
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    ctx.core.map(ctx.domain(p.domain), p.iova, p.paddr, p.size, p.prot);
    return { summary: `${p.domain}: ${hex(p.iova)} -> ${hex(p.paddr)} (${sizeText(p.size)})` };
  },
};
