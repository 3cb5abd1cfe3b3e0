/**
 * The hardware's device table walk and DTE cache. A DTE is read from the device table in system
 * memory on first use by a DeviceID and cached; later changes to the table in memory are not seen
 * until software sends INVALIDATE_DEVTAB_ENTRY (or INVALIDATE_IOMMU_ALL) for that DeviceID, as on
 * real hardware and in QEMU's model.
 *
 * What a DTE means for DMA (AMD IOMMU specification 48882, device table entry fields; QEMU
 * `amdvi_do_translate`; Linux `set_dte_entry` / `clear_dte_entry`):
 * - V = 0: the entry is not valid; DMA passes through untranslated, unchecked (`passthrough`).
 * - V = 1, TV = 0: translation information not valid; DMA is target-aborted without an event
 *   (`blocked`; Linux's blocked domain writes exactly V = 1).
 * - V = 1, TV = 1, Mode = 0: no translation, but IR / IW filter reads and writes (`filter`; Linux's
 *   identity domain sets IR = IW = 1, its boot-time default entry V | TV leaves both 0).
 * - V = 1, TV = 1, Mode = 1..6: translate with a Mode-level v1 table at the root pointer, IOTLB
 *   entries tagged by DomainID, IR / IW ANDed with the table's permissions (`translate`).
 * - Mode = 7 (reserved), GV = 1 without GTSup, or a DeviceID beyond the table: ILLEGAL_DEV_TABLE_ENTRY
 *   is logged and DMA aborted (`illegal`).
 */
import type { PhysMemory, StageConfig, TranslationUnit } from "@iommu-sim/hw";
import { DTE_BYTES, type DteFields, decodeDte } from "../arch/dte.js";
import { FEATURE_GT } from "../arch/registers.js";
import { AMD_PAGE_MODE_BITS } from "../page-mode.js";
import type { AmdViRegisterFile } from "./register-file.js";

/** How the hardware treats DMA of a device, decoded from its DTE. */
export type DteBehaviour = "passthrough" | "blocked" | "filter" | "translate" | "illegal";

/** A decoded (and possibly cached) DTE. */
export interface CachedDte {
  readonly deviceId: number;
  readonly fields: DteFields;
  readonly behaviour: DteBehaviour;
  /** Stage-1 configuration of a `translate` entry. */
  readonly stage: StageConfig | undefined;
}

/** Counters of the DTE cache. */
export interface DteCacheStats {
  fills: number;
  hits: number;
  invalidations: number;
}

/** The device-table side of the hardware. */
export interface DeviceTableCache {
  readonly stats: DteCacheStats;
  /** The DTE of `deviceId`, from the cache, else read from memory and cached (and the TU stream set). */
  lookup(deviceId: number): CachedDte;
  /** The cached DTE, if any; does not fill. */
  peek(deviceId: number): CachedDte | undefined;
  /** Decodes the DTE in memory now, without caching it. */
  read(deviceId: number): CachedDte;
  /** INVALIDATE_DEVTAB_ENTRY: forgets the cached entry. */
  invalidate(deviceId: number): void;
  /** INVALIDATE_IOMMU_ALL: forgets every cached entry. */
  invalidateAll(): void;
  /** DeviceIDs with a cached entry. */
  cachedIds(): number[];
}

/** Creates the DTE cache; translating entries are installed in `tu` as stream `deviceId`. */
export function createDeviceTableCache(
  regs: AmdViRegisterFile,
  memory: PhysMemory,
  tu: TranslationUnit,
): DeviceTableCache {
  const cache = new Map<number, CachedDte>();
  const stats: DteCacheStats = { fills: 0, hits: 0, invalidations: 0 };

  const read = (deviceId: number): CachedDte => {
    const offset = deviceId * DTE_BYTES;
    if (offset + DTE_BYTES > regs.devTabBytes) {
      return { deviceId, fields: decodeDte(new Uint32Array(8)), behaviour: "illegal", stage: undefined };
    }
    const pa = regs.devTabBase + offset;
    // A DTE is 32-byte aligned, so it never crosses a frame.
    const words = memory.frameWords(Math.floor(pa / 4096));
    const fields = decodeDte(words, (pa % 4096) / 4);
    let behaviour: DteBehaviour;
    let stage: StageConfig | undefined;
    if (!fields.v) behaviour = "passthrough";
    else if (!fields.tv) behaviour = "blocked";
    else if (fields.mode === 7 || (fields.gv && (regs.efr & FEATURE_GT) === 0n)) behaviour = "illegal";
    else if (fields.mode === 0) behaviour = "filter";
    else {
      behaviour = "translate";
      stage = { format: "amd-v1", root: fields.root, ias: AMD_PAGE_MODE_BITS[fields.mode]!, oas: 52 };
    }
    return { deviceId, fields, behaviour, stage };
  };

  return {
    stats,
    lookup(deviceId) {
      const hit = cache.get(deviceId);
      if (hit !== undefined) {
        stats.hits++;
        return hit;
      }
      const dte = read(deviceId);
      stats.fills++;
      cache.set(deviceId, dte);
      if (dte.stage !== undefined) {
        tu.setStream(deviceId, { mode: "translate", stage1: dte.stage, asid: dte.fields.domainId });
      }
      return dte;
    },
    peek: (deviceId) => cache.get(deviceId),
    read,
    invalidate(deviceId) {
      stats.invalidations++;
      if (cache.delete(deviceId)) tu.setStream(deviceId, undefined);
    },
    invalidateAll() {
      stats.invalidations++;
      for (const id of cache.keys()) tu.setStream(id, undefined);
      cache.clear();
    },
    cachedIds: () => [...cache.keys()],
  };
}
