import { addr, map, size, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { hex, sizeText } from "../format.js";
import { ADDRESS, DEVICE, object, SIZE } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly name: string;
  readonly device: string;
  readonly base: bigint;
  readonly size: bigint;
}

/**
 * `arm.create-mapping`: `arm_iommu_create_mapping(dev, base, size)`: an unmanaged domain on the
 * device's IOMMU plus a bitmap IOVA allocator over `[base, base + size)`, reference count 1. The
 * mapping and its domain take `name` (so `walk`, `dump` and `map` can use it). `ERANGE` above
 * 4 GiB, `EINVAL` under a page.
 */
export const armCreateMappingStep: StepDefinition<Params> = {
  kind: "arm.create-mapping",
  summary: "arm_iommu_create_mapping(): one IO address space several bus masters can share",
  schema: object(
    {
      name: { type: "string", minLength: 1, description: "Names the mapping and its domain." },
      device: DEVICE,
      base: ADDRESS,
      size: SIZE,
    },
    ["name", "device", "base", "size"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = {
      name: str(m.req("name")),
      device: str(m.req("device")),
      base: addr(m.req("base")),
      size: size(m.req("size")),
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = dmaApiState(ctx);
    if (s.mappings.has(p.name)) throw new Error(`an ARM mapping named "${p.name}" already exists`);
    const mapping = s.api.armIommuCreateMapping(ctx.device(p.device), p.base, p.size);
    s.mappings.set(p.name, mapping);
    ctx.nameDomain(p.name, mapping.domain);
    return {
      summary: `${p.name}: IOVA ${hex(p.base)}..${hex(p.base + p.size - 1n)} (${sizeText(p.size)}), domain #${mapping.domain.id}, refcount ${mapping.refcount}`,
      detail: { mapping: p.name, domain: mapping.domain.id, refcount: mapping.refcount },
    };
  },
};
