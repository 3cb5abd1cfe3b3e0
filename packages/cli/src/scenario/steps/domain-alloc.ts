import {
  type DomainType,
  domainTypeName,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
} from "@iommu-sim/iommu";
import { fail, map, oneOf, str } from "../decoders.js";
import { DEVICE, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

/** Domain type names a scenario may use, with their `IOMMU_DOMAIN_*` values. */
export const DOMAIN_TYPE_NAMES: Readonly<Record<string, DomainType>> = {
  unmanaged: IOMMU_DOMAIN_UNMANAGED,
  dma: IOMMU_DOMAIN_DMA,
  "dma-fq": IOMMU_DOMAIN_DMA_FQ,
  identity: IOMMU_DOMAIN_IDENTITY,
  blocked: IOMMU_DOMAIN_BLOCKED,
};
const TYPES = Object.keys(DOMAIN_TYPE_NAMES);

interface Params {
  readonly name: string;
  readonly device: string;
  readonly type: DomainType;
}

/** `domain.alloc`: allocates a domain on a device's IOMMU and names it (`iommu_paging_domain_alloc()`). */
export const domainAllocStep: StepDefinition<Params> = {
  kind: "domain.alloc",
  summary: "allocate a domain on a device's IOMMU and name it (iommu_domain_alloc)",
  schema: object({ name: { type: "string", minLength: 1 }, device: DEVICE, type: { enum: TYPES } }, [
    "name",
    "device",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const name = str(m.req("name"));
    if (/^(default|current):/.test(name))
      fail(m.req("name"), `"${name}" is reserved: default: and current: name device domains`);
    const device = str(m.req("device"));
    const t = m.opt("type");
    const type = DOMAIN_TYPE_NAMES[t ? oneOf(t, TYPES) : "unmanaged"]!;
    m.done();
    return { name, device, type };
  },
  run(p, ctx) {
    const domain = ctx.core.domainAlloc(ctx.device(p.device), p.type);
    ctx.nameDomain(p.name, domain);
    return { summary: `${p.name} = ${domainTypeName(domain.type)} domain #${domain.id} on ${domain.iommu}` };
  },
};
