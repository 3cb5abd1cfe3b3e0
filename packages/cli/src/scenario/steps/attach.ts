import { bool, map, str } from "../decoders.js";
import { DEVICE, DOMAIN, object } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly domain: string;
  readonly device: string;
  readonly group: boolean;
}

/**
 * `attach`: attaches a device (`iommu_attach_device()`, which refuses a device that is not alone in
 * its group with `EINVAL`) or, with `group: true`, its whole group (`iommu_attach_group()`).
 */
export const attachStep: StepDefinition<Params> = {
  kind: "attach",
  summary: "attach a device (iommu_attach_device) or its group (group: true) to a domain",
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
      ctx.core.attachGroup(domain, group);
      return { summary: `group ${group.id} of ${p.device} -> ${ctx.domainLabel(domain)}` };
    }
    ctx.core.attachDevice(domain, device);
    return { summary: `${p.device} -> ${ctx.domainLabel(domain)}` };
  },
};
