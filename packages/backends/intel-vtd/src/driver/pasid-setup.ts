/**
 * Scalable-mode programming with the invalidations Linux issues around it
 * (`drivers/iommu/intel/pasid.c`): the per-device PASID directory (`intel_pasid_alloc_table`),
 * scalable-mode context entries pointing at it (`intel_pasid_setup_sm_context`,
 * `context_entry_set_pasid_table`), PASID table pages on demand (`intel_pasid_get_entry`), PASID
 * entries for first stage, second stage and pass-through (`intel_pasid_setup_*`) and their teardown
 * (`intel_pasid_tear_down_entry`):
 * - a not-present to present PASID entry needs no invalidation without Caching Mode (a write-buffer
 *   flush if CAP.RWBF); with it, a PASID-selective PASID-cache flush and an IOTLB flush
 *   (`pasid_flush_caches`);
 * - teardown clears P, flushes the PASID cache for (DID, PASID), then the PASID-based IOTLB
 *   (first stage, pass-through) or the domain-selective IOTLB (second stage), then zeroes the entry.
 */
import { IommuError } from "@iommu-sim/iommu";
import type { DeviceInfo } from "./device-info.js";
import { CCMD, DMA_CCMD_MASK_NOBIT, type IntelIommu, QI_PC, TLB } from "./intel-iommu.js";
import {
  encodePasidDirEntry,
  encodePasidEntry,
  encodeSmContextEntry,
  encodeSmRootEntry,
  PASID_ENTRY_PGTT_SL_ONLY,
  PASID_PDE_SHIFT,
  type PasidEntryFields,
} from "./pasid-entry.js";

/** ECAP.PASID: devices' PASIDs are usable (the model gives every device a 15-bit PASID capability). */
const ECAP_PASID = 1n << 40n;
/**
 * PASIDs per device: the model's devices report `pci_max_pasids` = 2^15, so `intel_pasid_alloc_table`
 * sizes the directory to one page (order 0: 512 entries of 64 PASIDs) and PDTS = log2(512) - 7 = 2.
 */
export const SM_MAX_PASID = 1 << 15;
/** PDTS of the one-page directory (`context_get_sm_pds`). */
export const SM_PDTS = 2;

/** A device's PASID directory and the PASID table pages under it (`struct pasid_table`). */
export interface PasidTable {
  /** Physical address of the directory page. */
  readonly dir: number;
  /** PASID table pages by directory index. */
  readonly tables: Map<number, number>;
}

function alloc(iommu: IntelIommu, what: string): number {
  try {
    return iommu.allocator.alloc(4096);
  } catch (error) {
    throw new IommuError("ENOMEM", `${iommu.name}: no memory for ${what}`, { cause: error });
  }
}

/**
 * Physical address of the scalable-mode context entry of `sid` (`iommu_context_addr` in scalable
 * mode: devfn 0x80-0xff use the root entry's upper table; entries are 32 bytes). With `alloc`, a
 * missing half-table is allocated and its root-entry half made present.
 */
export function smContextAddress(iommu: IntelIommu, sid: number, alloc_: boolean): number | undefined {
  const rootEntry = iommu.rootTable + (sid >>> 8) * 16;
  const upper = (sid & 0xff) >= 0x80;
  const half = rootEntry + (upper ? 8 : 0);
  const index = sid & 0x7f;
  const value = iommu.memory.readU64(half);
  if (value & 1n) return Number(value & ~0xfffn) + index * 32;
  if (!alloc_) return undefined;
  const table = alloc(iommu, `the context table of bus ${sid >>> 8}`);
  const entry = upper ? encodeSmRootEntry(undefined, table).hi : encodeSmRootEntry(table, undefined).lo;
  iommu.memory.writeU64(half, entry);
  return table + index * 32;
}

/**
 * Probe in scalable mode: allocates the device's PASID directory and points the context entry of
 * every DMA alias at it (`intel_pasid_alloc_table` + `intel_pasid_setup_sm_context`), then
 * `context_present_cache_flush`.
 */
export function setupSmContext(iommu: IntelIommu, info: DeviceInfo): void {
  const dir = alloc(iommu, `the PASID directory of ${info.device.name}`);
  info.pasidTable = { dir, tables: new Map() };
  const entry = encodeSmContextEntry({
    pasidDir: dir,
    pdts: SM_PDTS,
    paside: (iommu.ecap & ECAP_PASID) !== 0n,
  });
  for (const sid of info.sids) {
    const at = smContextAddress(iommu, sid, true)!;
    if (iommu.memory.readU32(at) & 1) continue;
    // Everything but qw0 first: P lives in qw0 and is set last.
    for (let i = 3; i >= 0; i--) iommu.memory.writeU64(at + i * 8, entry[i]!);
    if (iommu.cap.cachingMode) {
      iommu.flushContext(0, sid, DMA_CCMD_MASK_NOBIT, CCMD.DEVICE);
      iommu.flushPasidCache(0, QI_PC.GLOBAL, 0);
    } else iommu.flushWriteBuffer();
  }
}

/**
 * Release in scalable mode: clears the context entries (P first, then a device-selective
 * context-cache flush, whose DID the hardware ignores in scalable mode, then the rest) and frees the
 * PASID directory and tables. The caller tore the PASID entries down first.
 */
export function teardownSmContext(iommu: IntelIommu, info: DeviceInfo): void {
  for (const sid of info.sids) {
    const at = smContextAddress(iommu, sid, false);
    if (at === undefined || !(iommu.memory.readU32(at) & 1)) continue;
    iommu.memory.writeU32(at, iommu.memory.readU32(at) & ~1);
    iommu.flushContext(0, sid, DMA_CCMD_MASK_NOBIT, CCMD.DEVICE);
    for (let i = 0; i < 4; i++) iommu.memory.writeU64(at + i * 8, 0n);
  }
  const table = info.pasidTable;
  if (table === undefined) return;
  for (const page of table.tables.values()) iommu.allocator.free(page, 4096);
  iommu.allocator.free(table.dir, 4096);
  info.pasidTable = undefined;
}

/** Physical address of the PASID entry of `pasid` (`intel_pasid_get_entry`); allocates its table page. */
export function pasidEntryAddress(
  iommu: IntelIommu,
  info: DeviceInfo,
  pasid: number,
  alloc_: boolean,
): number | undefined {
  const table = info.pasidTable;
  if (table === undefined || pasid >= SM_MAX_PASID) return undefined;
  const index = pasid >>> PASID_PDE_SHIFT;
  let page = table.tables.get(index);
  if (page === undefined) {
    if (!alloc_) return undefined;
    page = alloc(iommu, `a PASID table of ${info.device.name}`);
    table.tables.set(index, page);
    iommu.memory.writeU64(table.dir + index * 8, encodePasidDirEntry(page));
  }
  return page + (pasid & ((1 << PASID_PDE_SHIFT) - 1)) * 64;
}

/**
 * Writes a present PASID entry (`intel_pasid_setup_first_level` / `_second_level` /
 * `_pass_through`), then `pasid_flush_caches`. `EBUSY` when the entry is already present.
 */
export function pasidSetup(
  iommu: IntelIommu,
  info: DeviceInfo,
  pasid: number,
  fields: PasidEntryFields,
): void {
  const at = pasidEntryAddress(iommu, info, pasid, true);
  if (at === undefined)
    throw new IommuError("EINVAL", `${iommu.name}: PASID ${pasid} of ${info.device.name} is out of range`);
  if (iommu.memory.readU32(at) & 1) {
    throw new IommuError("EBUSY", `${iommu.name}: PASID ${pasid} of ${info.device.name} is already set up`);
  }
  const qw = encodePasidEntry(fields);
  for (let i = 7; i >= 0; i--) iommu.memory.writeU64(at + i * 8, qw[i]!);
  if (iommu.cap.cachingMode) {
    iommu.flushPasidCache(fields.did, QI_PC.PASID_SEL, pasid);
    if (fields.pgtt === PASID_ENTRY_PGTT_SL_ONLY) iommu.flushIotlb(fields.did, 0, 0, false, TLB.DSI);
    else iommu.qi.submit([iommu.piotlbDescriptor(fields.did, pasid, 0, undefined, false)]);
  } else {
    iommu.flushWriteBuffer();
  }
}

/** Tears a PASID entry down (`intel_pasid_tear_down_entry`); a no-op when it is not present. */
export function pasidTearDown(iommu: IntelIommu, info: DeviceInfo, pasid: number): void {
  const at = pasidEntryAddress(iommu, info, pasid, false);
  if (at === undefined) return;
  const lo = iommu.memory.readU32(at);
  if (!(lo & 1)) return;
  const did = iommu.memory.readU32(at + 8) & 0xffff;
  const pgtt = (lo >>> 6) & 7;
  // Clear P alone first, so the hardware stops using the entry while the caches are flushed.
  iommu.memory.writeU32(at, lo & ~1);
  iommu.flushPasidCache(did, QI_PC.PASID_SEL, pasid);
  if (pgtt === PASID_ENTRY_PGTT_SL_ONLY) iommu.flushIotlb(did, 0, 0, false, TLB.DSI);
  else iommu.qi.submit([iommu.piotlbDescriptor(did, pasid, 0, undefined, false)]);
  for (let i = 0; i < 8; i++) iommu.memory.writeU64(at + i * 8, 0n);
}
