import { VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE, VfioExtension } from "@iommu-sim/vfio";
import { map, str } from "../decoders.js";
import { hex } from "../format.js";
import { DEVICE, object } from "../schema-parts.js";
import { vfioState } from "../vfio-state.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly process: string;
  readonly device: string;
}

/**
 * `vfio.open`: a new user-space process takes a device through VFIO, as QEMU or DPDK do: it opens
 * a container and the device's group (which must be viable: `EPERM` while a kernel driver uses the
 * DMA API in it), adds the group to the container, selects the type1 (v2) IOMMU model, which
 * claims DMA ownership and attaches the group to a new unmanaged domain, and opens the device.
 */
export const vfioOpenStep: StepDefinition<Params> = {
  kind: "vfio.open",
  summary: "a process opens a device through VFIO (container, group, TYPE1v2, device file)",
  schema: object(
    {
      process: {
        type: "string",
        minLength: 1,
        description: "A name for the new process, used by the later vfio steps",
      },
      device: DEVICE,
    },
    ["process", "device"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { process: str(m.req("process")), device: str(m.req("device")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const s = vfioState(ctx);
    if (s.users.has(p.process)) throw new Error(`a process named "${p.process}" already exists`);
    const device = ctx.device(p.device);
    const group = ctx.core.groupGet(device);
    if (!group) throw Object.assign(new Error(`${p.device} has no IOMMU group`), { code: "ENODEV" });
    const proc = s.vfio.createProcess({ rlimitMemlock: 64 << 20 });
    const container = s.vfio.openContainer(proc);
    const gfile = s.vfio.openGroup(proc, group.id);
    const viable = (gfile.getStatus() & VFIO_GROUP_FLAGS_VIABLE) !== 0;
    gfile.setContainer(container);
    container.setIommu(VfioExtension.TYPE1v2_IOMMU);
    const dfile = gfile.getDeviceFd(device.name);
    const status = gfile.getStatus();
    const info = container.getInfo();
    s.users.set(p.process, {
      proc,
      container,
      group: gfile,
      device,
      regions: new Map(),
      close() {
        dfile.close();
        gfile.close();
        container.close();
      },
    });
    const label = ctx.domainLabel(ctx.core.getDomainForDevice(device));
    const on = label.startsWith("#") ? `the container's domain ${label}` : label;
    const ranges = info.iovaRanges.map((r) => `${hex(BigInt(r.start))}..${hex(BigInt(r.end))}`);
    return {
      summary: `${p.process} opened /dev/vfio/${group.id} (${viable ? "viable" : "not viable"}${status & VFIO_GROUP_FLAGS_CONTAINER_SET ? ", container set" : ""}), TYPE1v2, device ${device.name}; ${p.device} now on ${on}`,
      detail: {
        process: p.process,
        group: group.id,
        iovaRanges: ranges,
        pgsizes: hex(BigInt(info.pgsizeBitmap)),
        domain: label,
      },
    };
  },
};
