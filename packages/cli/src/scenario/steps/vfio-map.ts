import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
} from "@iommu-sim/vfio";
import { addr, map, size, str } from "../decoders.js";
import { hex, sizeText } from "../format.js";
import { hasName, nameAddresses } from "../run-names.js";
import { ADDRESS, object, SIZE } from "../schema-parts.js";
import { vfioState } from "../vfio-state.js";
import { BUFFER_NAME, bufferName } from "./dmaapi-map.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly process: string;
  readonly name: string;
  readonly iova: bigint;
  readonly size: bigint;
}

/**
 * `vfio.map`: the process mmap()s anonymous memory and maps it for its device at an IOVA it chooses
 * (`VFIO_IOMMU_MAP_DMA`, read and write): type1 pins the pages, charging RLIMIT_MEMLOCK, and maps
 * them in the container's domain. Names the region: `NAME.vaddr`, `NAME.iova`.
 */
export const vfioMapStep: StepDefinition<Params> = {
  kind: "vfio.map",
  summary: "a process maps its memory for its device (mmap + VFIO_IOMMU_MAP_DMA); names the region",
  schema: object(
    { process: { type: "string", minLength: 1 }, name: BUFFER_NAME, iova: ADDRESS, size: SIZE },
    ["process", "name", "iova", "size"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = {
      process: str(m.req("process")),
      name: bufferName(m.req("name")),
      iova: addr(m.req("iova")),
      size: size(m.req("size")),
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    if (hasName(ctx, p.name)) throw new Error(`the name "${p.name}" is already used in this run`);
    const u = vfioState(ctx).user(p.process);
    const vaddr = u.proc.mmap({
      length: p.size,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_ANONYMOUS | MAP_PRIVATE,
    });
    const locked = u.proc.lockedVm;
    u.container.mapDma({
      flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
      vaddr,
      iova: p.iova,
      size: p.size,
    });
    u.regions.set(p.name, { vaddr, iova: p.iova, size: p.size, live: true });
    nameAddresses(ctx, p.name, { vaddr, iova: p.iova });
    return {
      summary: `${p.process}: mmap ${sizeText(p.size)} at ${hex(vaddr)}, MAP_DMA iova ${hex(p.iova)}; ${sizeText(BigInt(u.proc.lockedVm - locked))} pinned`,
      detail: {
        region: p.name,
        vaddr: hex(vaddr),
        iova: hex(p.iova),
        size: hex(p.size),
        lockedVm: u.proc.lockedVm,
      },
    };
  },
};
