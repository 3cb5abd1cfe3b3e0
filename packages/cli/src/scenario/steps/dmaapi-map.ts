import { type At, addr, fail, map, oneOf, size, str } from "../decoders.js";
import { DIRECTION_NAMES, directionOf, directionText, dmaApiState } from "../dma-api-state.js";
import { hex, sizeText } from "../format.js";
import { hasName, nameAddresses } from "../run-names.js";
import { ADDRESS, DEVICE, object, SIZE } from "../schema-parts.js";
import type { StepDefinition } from "./step.js";

interface Params {
  readonly device: string;
  readonly name: string;
  readonly size: bigint;
  readonly dir: (typeof DIRECTION_NAMES)[number];
  readonly paddr: bigint | undefined;
}

/** Schema of a buffer name. */
export const BUFFER_NAME = {
  type: "string",
  pattern: "^[A-Za-z_][\\w-]*$",
  description: "A name for the buffer; later steps use NAME.dma and NAME.cpu.",
} as const;

/** Decodes a buffer name (letters, digits, `_`, `-`; not starting with a digit). */
export function bufferName(at: At): string {
  const name = str(at);
  if (!/^[A-Za-z_][\w-]*$/.test(name))
    fail(
      at,
      `expected a name of letters, digits, "_" and "-" (used as NAME.dma), got ${JSON.stringify(name)}`,
    );
  return name;
}

/**
 * `dmaapi.map`: `dma_map_single()` of a buffer (at `paddr`, or a fresh one from the run's RAM)
 * for `dir`; names it so later steps can use `NAME.dma` (the DMA address the driver programs into
 * its device) and `NAME.cpu`. A `DMA_MAPPING_ERROR` fails the step with `ENOMEM`; a refused call
 * (the device is not on its default domain) fails with `EBUSY`.
 */
export const dmaApiMapStep: StepDefinition<Params> = {
  kind: "dmaapi.map",
  summary: "dma_map_single() of a buffer for a direction; names the buffer (NAME.dma, NAME.cpu)",
  schema: object(
    {
      device: DEVICE,
      name: BUFFER_NAME,
      size: SIZE,
      dir: { enum: [...DIRECTION_NAMES], description: "DMA direction as the device sees it." },
      paddr: ADDRESS,
    },
    ["device", "name", "size", "dir"],
  ),
  canFail: true,
  decode(at) {
    const m = map(at);
    const pa = m.opt("paddr");
    const p = {
      device: str(m.req("device")),
      name: bufferName(m.req("name")),
      size: size(m.req("size")),
      dir: oneOf(m.req("dir"), DIRECTION_NAMES),
      paddr: pa ? addr(pa) : undefined,
    };
    m.done();
    return p;
  },
  run(p, ctx) {
    if (hasName(ctx, p.name)) throw new Error(`the name "${p.name}" is already used in this run`);
    const device = ctx.device(p.device);
    const s = dmaApiState(ctx);
    const handle = s.handle(device);
    const dir = directionOf(p.dir);
    let cpuAddr = p.paddr;
    if (cpuAddr === undefined) {
      let block = 4096;
      while (BigInt(block) < p.size) block *= 2;
      cpuAddr = BigInt(s.ram.alloc(block));
    }
    const dmaAddr = handle.mapSingle(cpuAddr, p.size, dir);
    if (handle.mappingError(dmaAddr)) {
      const error = new Error(`dma_map_single(${p.name}) returned DMA_MAPPING_ERROR`);
      throw Object.assign(error, { code: "ENOMEM" });
    }
    s.buffers.set(p.name, {
      name: p.name,
      device,
      kind: "single",
      cpuAddr,
      dmaAddr,
      size: p.size,
      direction: dir,
      live: true,
    });
    nameAddresses(ctx, p.name, { dma: dmaAddr, cpu: cpuAddr });
    return {
      summary: `dma_map_single(${p.device}, ${hex(cpuAddr)}, ${sizeText(p.size)}, ${directionText(dir)}) = ${hex(dmaAddr)}`,
      detail: {
        buffer: p.name,
        device: p.device,
        cpuAddr: hex(cpuAddr),
        dmaAddr: hex(dmaAddr),
        size: hex(p.size),
        direction: directionText(dir),
        ops: handle.opsKind,
      },
    };
  },
};
