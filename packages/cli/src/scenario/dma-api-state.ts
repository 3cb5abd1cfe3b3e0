/**
 * The DMA API of a scenario run (`@iommu-sim/dma` over the run's core), created on first use, and
 * what the DMA-API steps named: buffers and ARM mappings. Its RAM (coherent buffers, buffers a step
 * does not place itself) is the run's (`run-ram.ts`); no swiotlb, DMA-API debug on.
 */
import {
  type ArmIommuMapping,
  createDmaApi,
  type DmaApi,
  type DmaDevice,
  DmaDirection,
} from "@iommu-sim/dma";
import type { IommuDevice, PageProvider } from "@iommu-sim/iommu";
import type { RunContext } from "./context.js";
import { runRam } from "./run-ram.js";

/** A buffer a DMA-API step mapped or allocated. */
export interface DmaBuffer {
  readonly name: string;
  readonly device: IommuDevice;
  readonly kind: "single" | "coherent";
  readonly cpuAddr: bigint;
  readonly dmaAddr: bigint;
  readonly size: bigint;
  readonly direction: DmaDirection;
  /** Whether it is still mapped (unmapped buffers keep their name: a later access may fault). */
  live: boolean;
}

/** The DMA-API state of one run. */
export interface DmaApiState {
  readonly api: DmaApi;
  readonly ram: PageProvider;
  readonly buffers: Map<string, DmaBuffer>;
  readonly mappings: Map<string, ArmIommuMapping>;
  /** The driver's handle of a device (`dma.device(dev)`), binding it when asked the first time. */
  handle(device: IommuDevice): DmaDevice;
  /** A named buffer; throws for an unknown name. */
  buffer(name: string): DmaBuffer;
  /** A named ARM mapping; throws for an unknown name. */
  mapping(name: string): ArmIommuMapping;
}

const states = new WeakMap<RunContext, DmaApiState>();

/** The run's DMA-API state, created on first use over the first IOMMU's memory. */
export function dmaApiState(ctx: RunContext): DmaApiState {
  let s = states.get(ctx);
  if (s) return s;
  const { memory, ram } = runRam(ctx);
  const api = createDmaApi(ctx.core, { memory, ram, swiotlb: false, debug: true });
  const buffers = new Map<string, DmaBuffer>();
  const mappings = new Map<string, ArmIommuMapping>();
  s = {
    api,
    ram,
    buffers,
    mappings,
    handle: (device) => api.device(device),
    buffer(name) {
      const b = buffers.get(name);
      if (!b)
        throw new Error(`no DMA buffer named "${name}" (known: ${[...buffers.keys()].join(", ") || "none"})`);
      return b;
    },
    mapping(name) {
      const m = mappings.get(name);
      if (!m)
        throw new Error(
          `no ARM mapping named "${name}" (known: ${[...mappings.keys()].join(", ") || "none"})`,
        );
      return m;
    },
  };
  states.set(ctx, s);
  return s;
}

/** Scenario names of the DMA directions. */
export const DIRECTION_NAMES = ["bidirectional", "to-device", "from-device"] as const;
/** A direction name. */
export type DirectionName = (typeof DIRECTION_NAMES)[number];

/** The `enum dma_data_direction` value of a name. */
export function directionOf(name: DirectionName): DmaDirection {
  return name === "to-device"
    ? DmaDirection.TO_DEVICE
    : name === "from-device"
      ? DmaDirection.FROM_DEVICE
      : DmaDirection.BIDIRECTIONAL;
}

/** Linux's name of a direction (`DMA_FROM_DEVICE`). */
export function directionText(dir: DmaDirection): string {
  return dir === DmaDirection.TO_DEVICE
    ? "DMA_TO_DEVICE"
    : dir === DmaDirection.FROM_DEVICE
      ? "DMA_FROM_DEVICE"
      : dir === DmaDirection.BIDIRECTIONAL
        ? "DMA_BIDIRECTIONAL"
        : "DMA_NONE";
}
