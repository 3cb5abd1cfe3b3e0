import type { DeviceDmaResult, IommuBackend } from "@iommu-sim/iommu";
import type { RunContext } from "../context.js";
import { type FaultRecordView, faultRecordSince, markFaultRecords } from "../fault-record.js";
import { hex } from "../format.js";
import { iotlbOf } from "../hardware-view.js";

/** What the IOTLB did during one transaction (differences of its counters). */
export interface IotlbActivity {
  readonly lookups: number;
  readonly hits: number;
  readonly misses: number;
}

/** A device transaction and what the hardware showed of it. */
export interface DmaTransaction {
  readonly result: DeviceDmaResult;
  readonly iova: bigint;
  /** IOTLB activity, for backends with an IOTLB model. */
  readonly iotlb: IotlbActivity | undefined;
  /** The architecture's fault record, when the transaction faulted and the hardware wrote one. */
  readonly record: FaultRecordView | undefined;
}

const counters = (backend: IommuBackend | undefined): IotlbActivity | undefined => {
  const tlb = backend && iotlbOf(backend);
  if (!tlb) return undefined;
  const s = tlb.stats();
  return { lookups: s.lookups, hits: s.hits, misses: s.misses };
};

/**
 * Runs one device transaction through the hardware datapath (`core.deviceDma`) and collects what
 * a viewer shows next to it: the IOTLB lookups, hits and misses it caused and, when it faulted, the
 * fault record the IOMMU wrote, decoded.
 */
export function dmaThroughHardware(
  ctx: RunContext,
  deviceName: string,
  iova: bigint,
  request: { readonly length: number; readonly write: boolean; readonly data?: Uint8Array },
): DmaTransaction {
  const device = ctx.device(deviceName);
  let backend: IommuBackend | undefined;
  try {
    backend = ctx.backendOf(device);
  } catch {
    backend = undefined;
  }
  const before = counters(backend);
  const mark = backend && markFaultRecords(ctx, backend);
  const result = ctx.core.deviceDma(device, { iova, ...request });
  const after = counters(backend);
  const iotlb =
    before && after
      ? {
          lookups: after.lookups - before.lookups,
          hits: after.hits - before.hits,
          misses: after.misses - before.misses,
        }
      : undefined;
  const record = !result.ok && backend && mark ? faultRecordSince(ctx, backend, mark) : undefined;
  return { result, iova, iotlb, record };
}

/** The `detail` of a DMA step for a fault. */
export function faultDetail(t: DmaTransaction): unknown {
  if (t.result.ok) return undefined;
  const r = t.result;
  return {
    fault: { iova: hex(r.iova), reason: r.reason, flags: r.flags, ...(t.record && { record: t.record }) },
    ...(t.iotlb && { iotlb: t.iotlb }),
  };
}
