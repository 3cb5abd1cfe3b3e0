import { bool, map, str } from "../decoders.js";
import { DEVICE, DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string;
  readonly device: string;
  readonly group: boolean;
}

/**
 * `detach`: detaches a device (`iommu_detach_device()`) or its group (`group: true`,
 * `iommu_detach_group()`); the group goes back to its default domain.
 */
export const detachStep: StepDefinition<Params> = {
  kind: "detach",
  summary: "detach a device (iommu_detach_device) or its group; it returns to its default domain",
  schema: object({ domain: DOMAIN, device: DEVICE, group: { type: "boolean" } }, ["domain", "device"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const g = m.opt("group");
    const p = { domain: str(m.req("domain")), device: str(m.req("device")), group: g ? bool(g) : false };
    m.done();
    return p;
  },
  run(p, ctx) {
    const domain = ctx.domain(p.domain);
    const device = ctx.device(p.device);
    if (p.group) {
      const group = ctx.core.groupGet(device);
      if (!group) throw Object.assign(new Error(`${p.device} has no group`), { code: "ENODEV" });
      ctx.core.detachGroup(domain, group);
    } else {
      ctx.core.detachDevice(domain, device);
    }
    return { summary: `${p.device} now on ${ctx.domainLabel(ctx.core.getDomainForDevice(device))}` };
  },
};
