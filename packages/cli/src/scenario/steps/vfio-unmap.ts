import { map, str } from "../decoders.js";
import { hex, sizeText } from "../format.js";
import { object } from "../schema-parts.js";
import { vfioState } from "../vfio-state.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly process: string;
  readonly name: string;
}

/** `vfio.unmap`: `VFIO_IOMMU_UNMAP_DMA` of a region `vfio.map` named: unmapped, IOTLB flushed, pages unpinned. */
export const vfioUnmapStep: StepDefinition<Params> = {
  kind: "vfio.unmap",
  summary: "VFIO_IOMMU_UNMAP_DMA of a named region (unmap, flush, unpin)",
  schema: object({ process: { type: "string", minLength: 1 }, name: { type: "string", minLength: 1 } }, [
    "process",
    "name",
  ]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { process: str(m.req("process")), name: str(m.req("name")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    const u = vfioState(ctx).user(p.process);
    const r = u.regions.get(p.name);
    if (!r) throw new Error(`${p.process} mapped no region named "${p.name}"`);
    const unmapped = u.container.unmapDma({ flags: 0, iova: r.iova, size: r.size });
    r.live = false;
    return {
      summary: `${p.process}: UNMAP_DMA iova ${hex(r.iova)}, ${sizeText(unmapped)} unmapped; locked memory now ${u.proc.lockedVm} bytes`,
    };
  },
};
