import { DmaDirection } from "@iommu-sim/dma";
import { map, size, str } from "../decoders.js";
import { dmaApiState } from "../dma-api-state.js";
import { hex, sizeText } from "../format.js";
import { hasName, nameAddresses } from "../run-names.js";
import { DEVICE, object, SIZE } from "../schema-parts.js";
import { BUFFER_NAME, bufferName } from "./dmaapi-map.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
  readonly name: string;
  readonly size: bigint;
}

/**
 * `dmaapi.alloc-coherent`: `dma_alloc_coherent()`: zeroed memory mapped for the device both ways
 * for as long as it lives; names it (`NAME.dma`, `NAME.cpu`). `ENOMEM` when it returns NULL.
 */
export const dmaApiAllocCoherentStep: StepDefinition<Params> = {
  kind: "dmaapi.alloc-coherent",
  summary: "dma_alloc_coherent(); names the buffer (NAME.dma, NAME.cpu)",
  schema: object({ device: DEVICE, name: BUFFER_NAME, size: SIZE }, ["device", "name", "size"]),
  canFail: true,
  decode(at) {
    const m = map(at);
    const p = { device: str(m.req("device")), name: bufferName(m.req("name")), size: size(m.req("size")) };
    m.done();
    return p;
  },
  run(p, ctx) {
    if (hasName(ctx, p.name)) throw new Error(`the name "${p.name}" is already used in this run`);
    const device = ctx.device(p.device);
    const s = dmaApiState(ctx);
    const handle = s.handle(device);
    const buf = handle.allocCoherent(p.size);
    if (!buf)
      throw Object.assign(new Error(`dma_alloc_coherent(${p.name}) returned NULL`), { code: "ENOMEM" });
    s.buffers.set(p.name, {
      name: p.name,
      device,
      kind: "coherent",
      cpuAddr: buf.cpuAddr,
      dmaAddr: buf.dmaAddr,
      size: p.size,
      direction: DmaDirection.BIDIRECTIONAL,
      live: true,
    });
    nameAddresses(ctx, p.name, { dma: buf.dmaAddr, cpu: buf.cpuAddr });
    return {
      summary: `dma_alloc_coherent(${p.device}, ${sizeText(p.size)}) = ${hex(buf.dmaAddr)} (CPU ${hex(buf.cpuAddr)})`,
      detail: {
        buffer: p.name,
        device: p.device,
        cpuAddr: hex(buf.cpuAddr),
        dmaAddr: hex(buf.dmaAddr),
        size: hex(p.size),
        ops: handle.opsKind,
      },
    };
  },
};
