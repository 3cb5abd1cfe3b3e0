/**
 * DMA-API debugging (kernel/dma/debug.c, CONFIG_DMA_API_DEBUG): every mapping a driver makes is
 * tracked by (device, DMA address), and each unmap, free and sync is checked against it. Problems
 * become structured reports carrying Linux's message text. Unlike Linux, which warns once per driver
 * unless `all_errors` is set, every problem is reported.
 */
import type { IommuDevice } from "@iommu-sim/iommu";
import { DmaDirection } from "../direction.js";

/** How a mapping was made (`enum dma_debug_type` plus the page/single split of older kernels). */
export type DmaDebugType = "single" | "page" | "sg" | "coherent" | "resource";

/** What went wrong. */
export type DmaDebugKind =
  | "free-not-allocated"
  | "free-invalid-address"
  | "free-size-mismatch"
  | "free-wrong-function"
  | "free-cpu-address-mismatch"
  | "free-sg-count-mismatch"
  | "free-direction-mismatch"
  | "map-error-not-checked"
  | "sync-not-allocated"
  | "sync-out-of-range"
  | "sync-direction-mismatch"
  | "sync-read-only-for-cpu"
  | "sync-write-only-to-device"
  | "sync-sg-count-mismatch"
  | "pending-at-release";

/** One report. */
export interface DmaDebugReport {
  readonly kind: DmaDebugKind;
  /** Device name. */
  readonly device: string;
  /** `DMA-API: <device>: <Linux's text>`. */
  readonly message: string;
  /** DMA address concerned. */
  readonly dmaAddr: bigint;
  /** Virtual time, ns. */
  readonly time: number;
}

/** A tracked mapping (`struct dma_debug_entry`). */
export interface DmaDebugEntry {
  readonly type: DmaDebugType;
  readonly dmaAddr: number;
  readonly size: number;
  readonly dir: DmaDirection;
  /** CPU (physical) address of the buffer. */
  readonly cpuAddr: number;
  /** Whether `dma_mapping_error()` must be, or was, called (`map_err_type`). */
  mapErr: "n/a" | "unchecked" | "checked";
  /** `nents` the sg list was mapped with, and the segments the map returned. */
  readonly sgCallEnts: number;
  readonly sgMappedEnts: number;
}

/** What an unmap, free or sync claims (`struct dma_debug_entry` used as a reference). */
export interface DmaDebugRef {
  readonly type: DmaDebugType;
  readonly dmaAddr: number;
  readonly size: number;
  readonly dir: DmaDirection;
  readonly cpuAddr?: number;
  readonly sgCallEnts?: number;
}

/** The tracker, made by {@link createDmaDebug}. */
export interface DmaDebug {
  /** `add_dma_entry()`. */
  add(device: IommuDevice, entry: DmaDebugEntry): void;
  /** `check_unmap()`: reports, then forgets the entry. */
  checkUnmap(device: IommuDevice, ref: DmaDebugRef): void;
  /** `check_sync()`. */
  checkSync(device: IommuDevice, ref: DmaDebugRef, toCpu: boolean): void;
  /** `get_nr_mapped_entries()`: segments the sg map starting at `dmaAddr` returned, 0 if unknown. */
  mappedEnts(device: IommuDevice, dmaAddr: number): number;
  /** `debug_dma_mapping_error()`: marks the first unchecked entry at `dmaAddr` as checked. */
  mappingErrorChecked(device: IommuDevice, dmaAddr: number): void;
  /** The driver unbinds: reports pending mappings (`dma_debug_device_change()`); returns their count. */
  checkRelease(device: IommuDevice): number;
  /** Entries tracked for `device`. */
  entries(device: IommuDevice): DmaDebugEntry[];
  /** Every report, oldest first. */
  readonly reports: readonly DmaDebugReport[];
}

const TYPE_NAME: Record<DmaDebugType, string> = {
  single: "single",
  page: "page",
  sg: "scather-gather",
  coherent: "coherent",
  resource: "resource",
};
const DIR_NAME = ["DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE", "DMA_NONE"];

const hex16 = (v: number): string => `0x${v.toString(16).padStart(16, "0")}`;
const dirName = (d: number): string => DIR_NAME[d] ?? "DMA_NONE";

/** Creates an empty tracker; `now` stamps the reports. */
export function createDmaDebug(now: () => number): DmaDebug {
  const byDevice = new Map<IommuDevice, Map<number, DmaDebugEntry[]>>();
  const reports: DmaDebugReport[] = [];

  const report = (device: IommuDevice, kind: DmaDebugKind, dmaAddr: number, text: string): void => {
    reports.push({
      kind,
      device: device.name,
      message: `DMA-API: ${device.name}: ${text}`,
      dmaAddr: dmaAddr < 0 ? 0xffff_ffff_ffff_ffffn : BigInt(dmaAddr),
      time: now(),
    });
  };
  const table = (device: IommuDevice): Map<number, DmaDebugEntry[]> => {
    let t = byDevice.get(device);
    if (t === undefined) {
      t = new Map();
      byDevice.set(device, t);
    }
    return t;
  };
  // `bucket_find_exact()`: among entries at the address, the one matching the most of the ref.
  const findExact = (device: IommuDevice, ref: DmaDebugRef): DmaDebugEntry | undefined => {
    const list = byDevice.get(device)?.get(ref.dmaAddr);
    if (list === undefined || list.length === 0) return undefined;
    let best: DmaDebugEntry | undefined;
    let bestScore = -1;
    for (const e of list) {
      const score =
        (e.size === ref.size ? 1 : 0) +
        (e.type === ref.type ? 1 : 0) +
        (e.dir === ref.dir ? 1 : 0) +
        (ref.sgCallEnts !== undefined && e.sgCallEnts === ref.sgCallEnts ? 1 : 0);
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  };
  // `bucket_find_contain()`.
  const findContain = (device: IommuDevice, addr: number): DmaDebugEntry | undefined => {
    const t = byDevice.get(device);
    if (t === undefined) return undefined;
    const exact = t.get(addr);
    if (exact !== undefined && exact.length > 0) return exact[0];
    for (const list of t.values()) {
      for (const e of list) if (addr >= e.dmaAddr && addr < e.dmaAddr + e.size) return e;
    }
    return undefined;
  };
  const remove = (device: IommuDevice, entry: DmaDebugEntry): void => {
    const t = byDevice.get(device);
    const list = t?.get(entry.dmaAddr);
    if (t === undefined || list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) t.delete(entry.dmaAddr);
  };

  return {
    reports,
    add(device, entry) {
      const t = table(device);
      const list = t.get(entry.dmaAddr);
      if (list === undefined) t.set(entry.dmaAddr, [entry]);
      else list.push(entry);
    },
    checkUnmap(device, ref) {
      const entry = findExact(device, ref);
      if (entry === undefined) {
        if (ref.dmaAddr < 0) {
          report(
            device,
            "free-invalid-address",
            ref.dmaAddr,
            "device driver tries to free an invalid DMA memory address",
          );
        } else {
          report(
            device,
            "free-not-allocated",
            ref.dmaAddr,
            `device driver tries to free DMA memory it has not allocated [device address=${hex16(ref.dmaAddr)}] [size=${ref.size} bytes]`,
          );
        }
        return;
      }
      const at = hex16(ref.dmaAddr);
      if (ref.size !== entry.size) {
        report(
          device,
          "free-size-mismatch",
          ref.dmaAddr,
          `device driver frees DMA memory with different size [device address=${at}] [map size=${entry.size} bytes] [unmap size=${ref.size} bytes]`,
        );
      }
      if (ref.type !== entry.type) {
        report(
          device,
          "free-wrong-function",
          ref.dmaAddr,
          `device driver frees DMA memory with wrong function [device address=${at}] [size=${ref.size} bytes] [mapped as ${TYPE_NAME[entry.type]}] [unmapped as ${TYPE_NAME[ref.type]}]`,
        );
      } else if (entry.type === "coherent" && ref.cpuAddr !== undefined && ref.cpuAddr !== entry.cpuAddr) {
        report(
          device,
          "free-cpu-address-mismatch",
          ref.dmaAddr,
          `device driver frees DMA memory with different CPU address [device address=${at}] [size=${ref.size} bytes] [cpu alloc address=${hex16(entry.cpuAddr)}] [cpu free address=${hex16(ref.cpuAddr)}]`,
        );
      }
      if (
        ref.sgCallEnts !== undefined &&
        ref.sgCallEnts !== 0 &&
        ref.type === "sg" &&
        ref.sgCallEnts !== entry.sgCallEnts
      ) {
        report(
          device,
          "free-sg-count-mismatch",
          ref.dmaAddr,
          `device driver frees DMA sg list with different entry count [map count=${entry.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`,
        );
      }
      if (ref.dir !== entry.dir) {
        report(
          device,
          "free-direction-mismatch",
          ref.dmaAddr,
          `device driver frees DMA memory with different direction [device address=${at}] [size=${ref.size} bytes] [mapped with ${dirName(entry.dir)}] [unmapped with ${dirName(ref.dir)}]`,
        );
      }
      if (entry.mapErr === "unchecked") {
        report(
          device,
          "map-error-not-checked",
          ref.dmaAddr,
          `device driver failed to check map error[device address=${at}] [size=${ref.size} bytes] [mapped as ${TYPE_NAME[entry.type]}]`,
        );
      }
      remove(device, entry);
    },
    checkSync(device, ref, toCpu) {
      const entry = findContain(device, ref.dmaAddr);
      if (entry === undefined) {
        report(
          device,
          "sync-not-allocated",
          ref.dmaAddr,
          `device driver tries to sync DMA memory it has not allocated [device address=${hex16(ref.dmaAddr)}] [size=${ref.size} bytes]`,
        );
        return;
      }
      const end = ref.dmaAddr - entry.dmaAddr + ref.size;
      if (end > entry.size) {
        report(
          device,
          "sync-out-of-range",
          ref.dmaAddr,
          `device driver syncs DMA memory outside allocated range [device address=${hex16(entry.dmaAddr)}] [allocation size=${entry.size} bytes] [sync offset+size=${end}]`,
        );
      }
      if (
        ref.sgCallEnts !== undefined &&
        ref.type === "sg" &&
        entry.type === "sg" &&
        ref.sgCallEnts !== entry.sgCallEnts
      ) {
        report(
          device,
          "sync-sg-count-mismatch",
          ref.dmaAddr,
          `device driver syncs DMA sg list with different entry count [map count=${entry.sgCallEnts}] [sync count=${ref.sgCallEnts}]`,
        );
      }
      if (entry.dir === DmaDirection.BIDIRECTIONAL) return;
      const tail = `[device address=${hex16(ref.dmaAddr)}] [size=${entry.size} bytes] [mapped with ${dirName(entry.dir)}] [synced with ${dirName(ref.dir)}]`;
      if (ref.dir !== entry.dir) {
        report(
          device,
          "sync-direction-mismatch",
          ref.dmaAddr,
          `device driver syncs DMA memory with different direction ${tail}`,
        );
      }
      if (toCpu && entry.dir !== DmaDirection.FROM_DEVICE && ref.dir !== DmaDirection.TO_DEVICE) {
        report(
          device,
          "sync-read-only-for-cpu",
          ref.dmaAddr,
          `device driver syncs device read-only DMA memory for cpu ${tail}`,
        );
      }
      if (!toCpu && entry.dir !== DmaDirection.TO_DEVICE && ref.dir !== DmaDirection.FROM_DEVICE) {
        report(
          device,
          "sync-write-only-to-device",
          ref.dmaAddr,
          `device driver syncs device write-only DMA memory to device ${tail}`,
        );
      }
    },
    mappedEnts(device, dmaAddr) {
      const list = byDevice.get(device)?.get(dmaAddr);
      const e = list?.find((x) => x.type === "sg");
      return e?.sgMappedEnts ?? 0;
    },
    mappingErrorChecked(device, dmaAddr) {
      const list = byDevice.get(device)?.get(dmaAddr);
      const e = list?.find((x) => x.mapErr === "unchecked");
      if (e !== undefined) e.mapErr = "checked";
    },
    checkRelease(device) {
      const t = byDevice.get(device);
      let count = 0;
      let first: DmaDebugEntry | undefined;
      for (const list of t?.values() ?? []) {
        for (const e of list) {
          count++;
          first ??= e;
        }
      }
      if (first !== undefined) {
        report(
          device,
          "pending-at-release",
          first.dmaAddr,
          `device driver has pending DMA allocations while released from device [count=${count}]\nOne of leaked entries details: [device address=${hex16(first.dmaAddr)}] [size=${first.size} bytes] [mapped with ${dirName(first.dir)}] [mapped as ${TYPE_NAME[first.type]}]`,
        );
      }
      return count;
    },
    entries(device) {
      return [...(byDevice.get(device)?.values() ?? [])].flat();
    },
  };
}
