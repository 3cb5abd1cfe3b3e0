/**
 * The driver side of the ARMv7 short-descriptor format: Linux's `io-pgtable-arm-v7s` map, unmap and
 * iova_to_phys over 32-bit descriptors in simulated physical memory. Its own small engine: the
 * generic radix engine works on 64-bit descriptors and uniform tables, while v7s has 4-byte
 * entries, a 16 KiB top table, 1 KiB leaf tables and 16-fold replicated large entries.
 *
 * @module
 */
import { type AddressLike, hex, toNumber } from "../../address.js";
import { HwError } from "../../errors.js";
import { defaultAllocator, type PageAllocator } from "../../memory/page-allocator.js";
import type { PhysMemory } from "../../memory/phys-memory.js";
import type { UnmapGather } from "../../page-table/gather.js";
import {
  createWalkOut,
  type HwWalker,
  type PageTable,
  type PageTableConfig,
  type PageTableGeometry,
  WalkFault,
  type WalkTrace,
} from "../../page-table/types.js";
import { IOMMU_READ, IOMMU_WRITE } from "../../prot.js";
import {
  V7S_CONT_ENTRIES,
  V7S_L2_TABLE_BYTES,
  V7S_NS_TABLE,
  V7S_PAGE_SIZE,
  V7S_SECTION_SIZE,
  V7S_TYPE_TABLE,
  type V7sEncodeOptions,
  v7sContToPte,
  v7sIsCont,
  v7sIsTable,
  v7sIsValid,
  v7sPaddrToPte,
  v7sProtToPte,
  v7sPteToCont,
  v7sPteToPaddr,
  v7sPteToProt,
} from "./bits.js";
import { type V7sParams, v7sParams } from "./geometry.js";
import { createV7sWalker } from "./walker.js";

const FRAME = 4096;
const TABLE_LIMIT = 0x1_0000_0000;

/** A v7s page table: see {@link createV7sPageTable}. */
class V7sPageTable implements PageTable {
  readonly format = "arm-v7s" as const;
  readonly geometry: PageTableGeometry;
  readonly memory: PhysMemory;
  readonly allocator: PageAllocator;
  readonly root: bigint;
  readonly rootAddress: number;
  readonly walker: HwWalker;
  private readonly p: V7sParams;
  private readonly enc: V7sEncodeOptions;
  private readonly ias: number;
  private readonly oasLimit: number;
  private readonly walkOut = createWalkOut();
  private freed = false;

  constructor(config: PageTableConfig) {
    this.p = v7sParams(config);
    this.geometry = this.p.geometry;
    this.memory = config.memory;
    this.allocator = config.allocator ?? defaultAllocator(config.memory);
    this.enc = { noPerms: this.p.noPerms, armNs: this.p.armNs, mtkExt: this.p.mtkExt };
    this.ias = 2 ** this.geometry.ias;
    this.oasLimit = 2 ** this.geometry.oas;
    this.rootAddress = this.allocTable(this.p.l1AllocBytes);
    this.root = BigInt(this.rootAddress);
    this.walker = createV7sWalker(config);
  }

  // `__arm_v7s_alloc_table`: tables must sit below 4 GiB, or their address does not fit a descriptor.
  private allocTable(bytes: number): number {
    const pa = this.allocator.alloc(bytes);
    if (pa + bytes > TABLE_LIMIT) {
      this.allocator.free(pa, bytes);
      throw new HwError("ENOMEM", `arm-v7s: table at ${hex(pa)} does not fit in a 32-bit descriptor`);
    }
    return pa;
  }

  private rd(pa: number): number {
    // Tables in the memory's arena: one indexed load, no frame lookup.
    const memory = this.memory;
    const off = pa - memory.arenaBase;
    if (off >= 0 && off < memory.arenaBytes) return memory.arenaWords[off >>> 2]!;
    return memory.frameWords(Math.floor(pa / FRAME))[(pa % FRAME) >>> 2]!;
  }

  private wr(pa: number, value: number): void {
    const memory = this.memory;
    const off = pa - memory.arenaBase;
    if (off >= 0 && off < memory.arenaBytes) {
      memory.touchArena(off >>> 2);
      memory.arenaWords[off >>> 2] = value;
      return;
    }
    memory.frameWordsForWrite(Math.floor(pa / FRAME))[(pa % FRAME) >>> 2] = value;
  }

  private l1Slot(iova: number): number {
    return this.rootAddress + Math.floor(iova / V7S_SECTION_SIZE) * 4;
  }

  private static l2Slot(table: number, iova: number): number {
    return table + (Math.floor(iova / V7S_PAGE_SIZE) & 0xff) * 4;
  }

  private checkLive(): void {
    if (this.freed) throw new HwError("EINVAL", "arm-v7s: the page table was freed");
  }

  private checkSize(pgsize: number, what: string): void {
    if (
      (pgsize !== 0x1000 && pgsize !== 0x1_0000 && pgsize !== 0x10_0000 && pgsize !== 0x100_0000) ||
      (this.geometry.pgsizeBitmapNumber & pgsize) === 0
    ) {
      throw new HwError(
        "EINVAL",
        `arm-v7s: ${what} page size ${hex(pgsize)} is not in bitmap ${hex(this.geometry.pgsizeBitmapNumber)}`,
      );
    }
  }

  map(iova: AddressLike, paddr: AddressLike, pgsize: AddressLike, pgcount: number, prot: number): void {
    this.mapPages(
      toNumber(iova, "iova"),
      toNumber(paddr, "paddr"),
      toNumber(pgsize, "pgsize"),
      pgcount,
      prot,
    );
  }

  /**
   * `arm_v7s_map_pages`. Validates everything first (so a refused call changes nothing), then writes
   * leaves, allocating level-2 tables on demand; an allocation failure undoes the call. As in Linux,
   * a section or supersection written where a level-2 table is frees that table (`arm_v7s_init_pte`).
   */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): void {
    this.checkLive();
    this.checkSize(pgsize, "map");
    if (!Number.isSafeInteger(pgcount) || pgcount <= 0)
      throw new HwError("EINVAL", `arm-v7s: map page count ${pgcount} must be positive`);
    if (iova % pgsize !== 0 || paddr % pgsize !== 0) {
      throw new HwError(
        "EINVAL",
        `arm-v7s: map of ${hex(iova)} -> ${hex(paddr)} is not aligned to ${hex(pgsize)}`,
      );
    }
    const bytes = pgsize * pgcount;
    if (iova + bytes > this.ias)
      throw new HwError(
        "ERANGE",
        `arm-v7s: iova ${hex(iova)}+${hex(bytes)} is beyond ${this.geometry.ias} bits`,
      );
    if (paddr + bytes > this.oasLimit) {
      throw new HwError(
        "ERANGE",
        `arm-v7s: paddr ${hex(paddr)}+${hex(bytes)} is beyond ${this.geometry.oas} bits`,
      );
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE)))
      throw new HwError("EINVAL", `arm-v7s: prot ${hex(prot)} has neither READ nor WRITE`);
    const level = pgsize >= V7S_SECTION_SIZE ? 1 : 2;
    const entries = level === 1 ? pgsize / V7S_SECTION_SIZE : pgsize / V7S_PAGE_SIZE;
    this.checkFree(iova, pgsize, pgcount, level, entries);
    let template = v7sProtToPte(prot, level, this.enc);
    if (entries > 1) template = v7sPteToCont(template, level);
    if (level === 1) {
      for (let i = 0; i < pgcount; i++) {
        const slot = this.l1Slot(iova + i * pgsize);
        for (let j = 0; j < entries; j++) {
          const old = this.rd(slot + j * 4);
          if (v7sIsTable(old, 1)) this.allocator.free(v7sPteToPaddr(old, 1, false), V7S_L2_TABLE_BYTES);
        }
        this.fill(slot, (template | v7sPaddrToPte(paddr + i * pgsize, 1, this.p.mtkExt)) >>> 0, entries);
      }
      return;
    }
    let newTables: number[] | undefined;
    let lastSection = -1;
    let table = 0;
    for (let i = 0; i < pgcount; i++) {
      const va = iova + i * pgsize;
      const section = Math.floor(va / V7S_SECTION_SIZE);
      if (section !== lastSection) {
        lastSection = section;
        const slot = this.rootAddress + section * 4;
        const l1 = this.rd(slot);
        if (l1 === 0) {
          try {
            table = this.allocTable(V7S_L2_TABLE_BYTES);
          } catch (error) {
            this.undoMap(iova, pgsize, i, entries, newTables);
            throw error;
          }
          this.wr(slot, (table | V7S_TYPE_TABLE | (this.p.armNs ? V7S_NS_TABLE : 0)) >>> 0);
          if (newTables === undefined) newTables = [];
          newTables.push(slot);
        } else {
          table = v7sPteToPaddr(l1, 1, false);
        }
      }
      this.fill(
        V7sPageTable.l2Slot(table, va),
        (template | v7sPaddrToPte(paddr + i * pgsize, 2, this.p.mtkExt)) >>> 0,
        entries,
      );
    }
  }

  // EEXIST pre-check: a leaf anywhere in the way refuses the whole call (tables only at level 1).
  private checkFree(iova: number, pgsize: number, pgcount: number, level: number, entries: number): void {
    for (let i = 0; i < pgcount; i++) {
      const va = iova + i * pgsize;
      const slot = this.l1Slot(va);
      if (level === 1) {
        for (let j = 0; j < entries; j++) {
          const d = this.rd(slot + j * 4);
          if (d !== 0 && !v7sIsTable(d, 1)) throw this.exists(va + j * V7S_SECTION_SIZE, d);
        }
        continue;
      }
      const l1 = this.rd(slot);
      if (l1 === 0) continue;
      if (!v7sIsTable(l1, 1)) throw this.exists(va, l1);
      const l2 = V7sPageTable.l2Slot(v7sPteToPaddr(l1, 1, false), va);
      for (let j = 0; j < entries; j++) {
        const d = this.rd(l2 + j * 4);
        if (d !== 0) throw this.exists(va + j * V7S_PAGE_SIZE, d);
      }
    }
  }

  private exists(va: number, d: number): HwError {
    return new HwError("EEXIST", `arm-v7s: iova ${hex(va)} is already mapped (descriptor ${hex(d)})`);
  }

  private fill(slot: number, value: number, entries: number): void {
    for (let j = 0; j < entries; j++) this.wr(slot + j * 4, value);
  }

  private undoMap(
    iova: number,
    pgsize: number,
    done: number,
    entries: number,
    newTables: number[] | undefined,
  ): void {
    for (let i = 0; i < done; i++) {
      const va = iova + i * pgsize;
      const l1 = this.rd(this.l1Slot(va));
      this.fill(V7sPageTable.l2Slot(v7sPteToPaddr(l1, 1, false), va), 0, entries);
    }
    for (const slot of newTables ?? []) {
      this.allocator.free(v7sPteToPaddr(this.rd(slot), 1, false), V7S_L2_TABLE_BYTES);
      this.wr(slot, 0);
    }
  }

  unmap(iova: AddressLike, pgsize: AddressLike, pgcount: number, gather?: UnmapGather): bigint {
    return BigInt(this.unmapPages(toNumber(iova, "iova"), toNumber(pgsize, "pgsize"), pgcount, gather));
  }

  /**
   * `arm_v7s_unmap_pages`: unmaps page by page and stops at the first page that is not mapped or
   * that would only partly unmap a large page, section or supersection. The partial case returns 0
   * for that page by default (mainline since v6.14); with `partialUnmap: "split"` the entry is split
   * first, as `arm_v7s_split_cont` / `arm_v7s_split_blk_unmap` did before. Unmapping a whole 1M or
   * 16M range over level-2 tables frees those tables. An iova at or beyond 2^ias unmaps nothing.
   */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: UnmapGather): number {
    this.checkLive();
    this.checkSize(pgsize, "unmap");
    if (!Number.isSafeInteger(pgcount) || pgcount < 0)
      throw new HwError("EINVAL", `arm-v7s: unmap page count ${pgcount} is invalid`);
    if (iova % pgsize !== 0)
      throw new HwError("EINVAL", `arm-v7s: unmap iova ${hex(iova)} is not aligned to ${hex(pgsize)}`);
    let unmapped = 0;
    for (let i = 0; i < pgcount; i++) {
      const va = iova + i * pgsize;
      if (va >= this.ias || this.unmapOne(va, pgsize, gather) === 0) break;
      unmapped += pgsize;
    }
    return unmapped;
  }

  // `__arm_v7s_unmap` for one page, from level 1.
  private unmapOne(iova: number, size: number, gather: UnmapGather | undefined): number {
    const slot = this.l1Slot(iova);
    const n1 = Math.floor(size / V7S_SECTION_SIZE);
    for (let j = 0; j < Math.max(n1, 1); j++) if (!v7sIsValid(this.rd(slot + j * 4))) return 0;
    let d = this.rd(slot);
    if (n1 <= 1 && v7sIsCont(d, 1)) {
      if (this.p.partialUnmap === "refuse") return 0;
      d = this.splitCont(this.rootAddress + (Math.floor(iova / V7S_SECTION_SIZE) & ~15) * 4, 1, iova, gather);
    }
    if (n1 > 0) {
      if (v7sIsCont(d, 1) && n1 === V7S_CONT_ENTRIES) gather?.addLeaf(iova, size, 1);
      for (let j = 0; j < n1; j++) {
        const e = this.rd(slot + j * 4);
        this.wr(slot + j * 4, 0);
        const va = iova + j * V7S_SECTION_SIZE;
        if (v7sIsTable(e, 1)) {
          const table = v7sPteToPaddr(e, 1, false);
          this.allocator.free(table, V7S_L2_TABLE_BYTES);
          gather?.addFreedTable(table, va, V7S_SECTION_SIZE, 1);
        } else if (!v7sIsCont(e, 1)) {
          gather?.addLeaf(va, V7S_SECTION_SIZE, 1);
        }
      }
      return size;
    }
    if (!v7sIsTable(d, 1)) {
      if (this.p.partialUnmap === "refuse") return 0;
      return this.splitBlockUnmap(iova, size, d, slot, gather);
    }
    const table = v7sPteToPaddr(d, 1, false);
    const l2 = V7sPageTable.l2Slot(table, iova);
    const n2 = size / V7S_PAGE_SIZE;
    for (let j = 0; j < n2; j++) if (!v7sIsValid(this.rd(l2 + j * 4))) return 0;
    const e = this.rd(l2);
    if (n2 === 1 && v7sIsCont(e, 2)) {
      if (this.p.partialUnmap === "refuse") return 0;
      this.splitCont(table + (Math.floor(iova / V7S_PAGE_SIZE) & 0xff & ~15) * 4, 2, iova, gather);
    }
    this.fill(l2, 0, n2);
    gather?.addLeaf(iova, size, 2);
    return size;
  }

  /**
   * Pre-6.14 `arm_v7s_split_cont`: rewrites 16 replicated entries as 16 ordinary ones mapping
   * consecutive pieces of the same output range. Returns the new first entry of the group.
   */
  private splitCont(first: number, level: number, iova: number, gather: UnmapGather | undefined): number {
    const step = level === 1 ? V7S_SECTION_SIZE : V7S_PAGE_SIZE;
    const pte = v7sContToPte(this.rd(first), level);
    for (let i = 0; i < V7S_CONT_ENTRIES; i++) this.wr(first + i * 4, (pte + i * step) >>> 0);
    const span = step * V7S_CONT_ENTRIES;
    // The TLB may hold the large entry: the whole group needs invalidating.
    gather?.addLeaf(iova - (iova % span), span, level);
    return this.rd(first + (Math.floor(iova / step) % V7S_CONT_ENTRIES) * 4);
  }

  /**
   * Pre-6.14 `arm_v7s_split_blk_unmap`: replaces a section by a level-2 table that maps all of it
   * except `[iova, iova + size)`. Linux's version built the level-2 entries from the section's
   * attributes only and never added the section's output address, so the remaining pages pointed
   * at physical 0..1M; the model keeps the section's address, which is what the code intended.
   */
  private splitBlockUnmap(
    iova: number,
    size: number,
    block: number,
    slot: number,
    gather: UnmapGather | undefined,
  ): number {
    let table: number;
    try {
      table = this.allocTable(V7S_L2_TABLE_BYTES);
    } catch {
      return 0;
    }
    const entries = size / V7S_PAGE_SIZE;
    const skip = Math.floor(iova / V7S_PAGE_SIZE) & 0xff;
    let template = v7sProtToPte(v7sPteToProt(block, 1), 2, this.enc);
    if (entries > 1) template = v7sPteToCont(template, 2);
    const base = v7sPteToPaddr(block, 1, this.p.mtkExt);
    for (let i = 0; i < 256; i += entries) {
      if (i === skip) continue;
      this.fill(
        table + i * 4,
        (template | v7sPaddrToPte(base + i * V7S_PAGE_SIZE, 2, this.p.mtkExt)) >>> 0,
        entries,
      );
    }
    this.wr(slot, (table | V7S_TYPE_TABLE | (this.p.armNs ? V7S_NS_TABLE : 0)) >>> 0);
    gather?.addLeaf(iova, size, 2);
    return size;
  }

  /** `arm_v7s_iova_to_phys`: the output address of `iova`, or 0n when it is not mapped. */
  iovaToPhys(iova: AddressLike): bigint {
    const va = toNumber(iova, "iova");
    this.walker.translate(this.rootAddress, va, this.walkOut);
    return this.walkOut.fault === WalkFault.NONE ? BigInt(this.walkOut.outputAddress) : 0n;
  }

  walk(iova: AddressLike): WalkTrace {
    return this.walker.trace(this.rootAddress, toNumber(iova, "iova"));
  }

  /** `arm_v7s_free_pgtable`: frees every level-2 table, then the level-1 table. */
  free(): void {
    if (this.freed) return;
    for (let i = 0; i < this.p.l1Entries; i++) {
      const d = this.rd(this.rootAddress + i * 4);
      if (v7sIsTable(d, 1)) this.allocator.free(v7sPteToPaddr(d, 1, false), V7S_L2_TABLE_BYTES);
    }
    this.allocator.free(this.rootAddress, this.p.l1AllocBytes);
    this.freed = true;
  }
}

/**
 * Creates an empty ARMv7 short-descriptor table (`alloc_io_pgtable_ops(ARM_V7S, ...)`): allocates
 * the level-1 table (16 KiB for ias 32) below 4 GiB. Quirks read: `armNs`, `noPerms`, `armMtkExt`;
 * `partialUnmap` selects the mainline refusal (default) or the pre-6.14 split.
 */
export function createV7sPageTable(config: PageTableConfig): PageTable {
  return new V7sPageTable(config);
}
