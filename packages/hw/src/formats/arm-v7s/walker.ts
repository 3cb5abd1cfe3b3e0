/**
 * The ARMv7 short-descriptor table walker as the hardware runs it (ARM ARM B3.5 / B3.8), reading
 * only physical memory. The memory-type decode assumes TEX remap programmed with Linux's PRRR/NMRR
 * (`arm_v7s_alloc_pgtable`): index 1 device, 4 normal non-cacheable, 7 normal write-back; every
 * other index has PRRR type 0 (strongly ordered).
 *
 * @module
 */
import { HwError } from "../../errors.js";
import type { PhysMemory } from "../../memory/phys-memory.js";
import { translateManyByCalls } from "../../page-table/translate-many.js";
import {
  createWalkOut,
  type HwWalker,
  type PageTableConfig,
  type TableFetchTranslator,
  WALK_FAULT_NAMES,
  WalkFault,
  type WalkLevel,
  type WalkOut,
  type WalkStep,
  type WalkTrace,
} from "../../page-table/types.js";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import { V7S_B, V7S_C, V7S_LARGE_XN, V7S_SUPERSECTION, v7sPteToPaddr } from "./bits.js";
import { decodeV7s } from "./descriptor.js";
import { type V7sParams, v7sParams } from "./geometry.js";

const FRAME = 4096;
// Memory type per TEX remap index (TEX[0]:C:B) under Linux's PRRR/NMRR.
const REMAP_TYPE = [IOMMU_MMIO, IOMMU_MMIO, IOMMU_MMIO, IOMMU_MMIO, 0, IOMMU_MMIO, IOMMU_MMIO, IOMMU_CACHE];

/** The v7s walk's depths: level 1 (1 MiB sections or table pointers), then level 2 (4 KiB pages). */
export const V7S_WALK_LEVELS: readonly WalkLevel[] = Object.freeze([
  Object.freeze({ level: 1, shift: 20 }),
  Object.freeze({ level: 2, shift: 12 }),
]);

/** Reads the little-endian u32 at `pa` (4-byte aligned) without allocating. */
export function readV7sWord(memory: PhysMemory, pa: number): number {
  // Tables in the memory's arena: one indexed load, no frame lookup.
  const off = pa - memory.arenaBase;
  if (off >= 0 && off < memory.arenaBytes) return memory.arenaWords[off >>> 2]!;
  return memory.frameWords(Math.floor(pa / FRAME))[(pa % FRAME) >>> 2]!;
}

/**
 * Fills `out` from a leaf: output address, size, and the permissions the hardware grants. With
 * NO_PERMS the AP/XN bits are not interpreted (MediaTek's IOMMUs ignore them and the MTK extension
 * reuses bits 4, 5 and 9 for the physical address).
 */
function leaf(p: V7sParams, d: number, level: number, iova: number, out: WalkOut): void {
  let size: number;
  let attr: number;
  let tex: number;
  let xn: boolean;
  if (level === 1) {
    size = d & V7S_SUPERSECTION ? 0x100_0000 : 0x10_0000;
    attr = (d >>> 10) & 0xff;
    tex = (attr >>> 2) & 7;
    xn = (d & 0x10) !== 0;
  } else if ((d & 2) === 0) {
    size = 0x1_0000;
    attr = (d >>> 4) & 0xff;
    tex = (d >>> 12) & 7;
    xn = (d & V7S_LARGE_XN) !== 0;
  } else {
    size = 0x1000;
    attr = (d >>> 4) & 0xff;
    tex = (attr >>> 2) & 7;
    xn = (d & 1) !== 0;
  }
  const remap = ((tex & 1) << 2) | (d & V7S_C ? 2 : 0) | (d & V7S_B ? 1 : 0);
  let perm = REMAP_TYPE[remap]!;
  if (p.noPerms) {
    perm |= IOMMU_READ | IOMMU_WRITE;
  } else {
    // AF clear with hardware access-flag management off (AFE=1): an access-flag fault.
    if ((attr & 1) === 0) {
      out.fault = WalkFault.ACCESS_FLAG;
      return;
    }
    perm |= IOMMU_READ;
    if (!(attr & 0x20)) perm |= IOMMU_WRITE;
    if (!(attr & 0x02)) perm |= IOMMU_PRIV;
    if (xn) perm |= IOMMU_NOEXEC;
  }
  out.perm = perm;
  out.pageSize = size;
  out.outputAddress = v7sPteToPaddr(d, level, p.mtkExt) + (iova % size);
}

/** Creates the hardware walker for v7s tables of `config`'s geometry in `memory`. */
export function createV7sWalker(config: Omit<PageTableConfig, "allocator">): HwWalker {
  const p = v7sParams(config);
  const memory = config.memory;
  const limit = 2 ** p.geometry.ias;

  // Clears `out` for a new walk; false (the fault set) when `iova` is beyond the input size.
  function begin(iova: number, out: WalkOut): boolean {
    out.fault = WalkFault.NONE;
    out.level = 1;
    out.outputAddress = 0;
    out.pageSize = 0;
    out.perm = 0;
    out.descriptorLo = 0;
    out.descriptorHi = 0;
    out.descriptorAddress = 0;
    if (!(iova >= 0 && iova < limit)) {
      out.fault = WalkFault.ADDRESS_SIZE;
      return false;
    }
    return true;
  }

  function translate(root: number, iova: number, out: WalkOut, fetch?: TableFetchTranslator): void {
    if (!begin(iova, out)) return;
    const l1 = fetch ? fetch(root, 1) : root;
    if (l1 < 0) {
      out.fault = WalkFault.TRANSLATION;
      return;
    }
    const pa = l1 + Math.floor(iova / 0x10_0000) * 4;
    const d = readV7sWord(memory, pa);
    out.descriptorAddress = pa;
    out.descriptorLo = d;
    if ((d & 3) === 0) {
      out.fault = WalkFault.TRANSLATION;
      return;
    }
    if ((d & 3) !== 1) {
      leaf(p, d, 1, iova, out);
      return;
    }
    walkL2((d & 0xffff_fc00) >>> 0, iova, out, fetch);
  }

  // The second half of a walk: the level-2 table at `table` (through `fetch` when nested).
  function walkL2(table: number, iova: number, out: WalkOut, fetch?: TableFetchTranslator): void {
    out.level = 2;
    let l2 = table;
    if (fetch) {
      l2 = fetch(l2, 2);
      if (l2 < 0) {
        out.fault = WalkFault.TRANSLATION;
        return;
      }
    }
    const pa = l2 + (Math.floor(iova / 0x1000) & 0xff) * 4;
    const d = readV7sWord(memory, pa);
    out.descriptorAddress = pa;
    out.descriptorLo = d;
    if ((d & 3) === 0) {
      out.fault = WalkFault.TRANSLATION;
      return;
    }
    leaf(p, d, 2, iova, out);
  }

  function translateFrom(
    depth: number,
    table: number,
    iova: number,
    out: WalkOut,
    fetch?: TableFetchTranslator,
  ): void {
    if (depth === 0) {
      translate(table, iova, out, fetch);
      return;
    }
    if (depth !== 1) throw new HwError("EINVAL", `arm-v7s: walk depth ${depth} is not 0 or 1`);
    if (begin(iova, out)) walkL2(table, iova, out, fetch);
  }

  function trace(root: number, iova: number): WalkTrace {
    const out = createWalkOut();
    translate(root, iova, out);
    const steps: WalkStep[] = [];
    if (out.fault !== WalkFault.ADDRESS_SIZE) {
      const context = { level: 1, oas: p.geometry.oas };
      const idx1 = Math.floor(iova / 0x10_0000);
      const d1 = readV7sWord(memory, root + idx1 * 4);
      steps.push({
        level: 1,
        tableAddress: BigInt(root),
        index: idx1,
        descriptorAddress: BigInt(root + idx1 * 4),
        descriptor: BigInt(d1),
        decoded: decodeV7s(BigInt(d1), context),
      });
      if ((d1 & 3) === 1) {
        const l2 = (d1 & 0xffff_fc00) >>> 0;
        const idx2 = Math.floor(iova / 0x1000) & 0xff;
        const d2 = readV7sWord(memory, l2 + idx2 * 4);
        steps.push({
          level: 2,
          tableAddress: BigInt(l2),
          index: idx2,
          descriptorAddress: BigInt(l2 + idx2 * 4),
          descriptor: BigInt(d2),
          decoded: decodeV7s(BigInt(d2), { level: 2, oas: p.geometry.oas }),
        });
      }
    }
    const fault = WALK_FAULT_NAMES[out.fault];
    if (fault) return { iova: BigInt(iova), steps, fault, level: out.level };
    return {
      iova: BigInt(iova),
      steps,
      level: out.level,
      outputAddress: BigInt(out.outputAddress),
      pageSize: BigInt(out.pageSize),
      prot: out.perm,
    };
  }

  function translateMany(
    root: number,
    iovas: Float64Array,
    outputs: Float64Array,
    perms?: Uint8Array,
  ): number {
    return translateManyByCalls(translate, root, iovas, outputs, perms);
  }

  return {
    format: "arm-v7s",
    geometry: p.geometry,
    walkLevels: V7S_WALK_LEVELS,
    translate,
    translateFrom,
    translateMany,
    trace,
  };
}
