/**
 * The driver's view of one SMMU (`struct arm_smmu_device`): the features read from the ID
 * registers (`arm_smmu_device_hw_probe`), the stream table, command and event queues it allocated
 * and programmed (`arm_smmu_init_structures`, `arm_smmu_device_reset`), and the STE/CD updates
 * (`arm_smmu_write_ste`, `arm_smmu_write_cd_entry`) with their CFGI + CMD_SYNC.
 */
import type { PageAllocator, PhysMemory } from "@iommu-sim/hw";
import { IommuError } from "@iommu-sim/iommu";
import { CD_DWORDS } from "../arch/cd.js";
import {
  buildCfgiAll,
  buildCfgiCd,
  buildCfgiSte,
  buildTlbiTags,
  CMD_BYTES,
  CMDQ_OP_TLBI_NSNH_ALL,
} from "../arch/commands.js";
import { EVT_BYTES } from "../arch/events.js";
import {
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_SMMUEN,
  IRQ_CTRL_EVTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  SMMU_CMDQ_BASE,
  SMMU_CR0,
  SMMU_EVTQ_BASE,
  SMMU_IDR0,
  SMMU_IDR1,
  SMMU_IDR3,
  SMMU_IDR5,
  SMMU_IRQ_CTRL,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT_2LVL,
  STRTAB_BASE_RA_HI,
  STRTAB_SPLIT,
} from "../arch/registers.js";
import { STE_BYTES, STE_DWORDS, STRTAB_L1_L2PTR, STRTAB_L1_SPAN } from "../arch/ste.js";
import { readWords, setAddress, setField } from "../arch/words.js";
import { decodeSmmuV3IdRegisters, type SmmuV3IdFeatures } from "../id-registers.js";
import { batchAdd, CMDQ_BATCH_ENTRIES, createDriverCmdq, type DriverCmdq } from "./cmdq.js";
import { getCdUsed, getSteUsed, makeAbortSte } from "./entries.js";
import { writeEntry } from "./entry-writer.js";
import { createIdAllocator, type IdAllocator } from "./ids.js";

/** MMIO access to the SMMU's registers (the hardware's register file). */
export interface SmmuMmio {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  write64(offset: number, lo: number, hi: number): void;
}

/** Probe-time choices the backend options make. */
export interface SmmuProbeOptions {
  /** Stream-table format; `undefined` = Linux's choice (2-level when IDR0.ST_LVL allows and SIDSIZE > 8). */
  readonly streamTable: "linear" | "2-level" | undefined;
  /** Override IDR3.RIL for the driver (it then issues range TLBIs only if the hardware has them too). */
  readonly rangeInvalidation: boolean | undefined;
  /** Logs a warning (`dev_warn`/`dev_err`). */
  readonly warn: (message: string) => void;
}

/** The driver's SMMU state. */
export interface SmmuDevice {
  readonly features: SmmuV3IdFeatures;
  readonly memory: PhysMemory;
  /** Coherent-DMA memory for the stream table, queues and CD tables. */
  readonly structures: PageAllocator;
  readonly mmio: SmmuMmio;
  readonly cmdq: DriverCmdq;
  /** Event queue ring and size. */
  readonly evtqBase: number;
  readonly evtqShift: number;
  readonly twoLevel: boolean;
  /** The driver issues range invalidations (`ARM_SMMU_FEAT_RANGE_INV`). */
  readonly rangeInvalidation: boolean;
  /** IDR1.ATTR_TYPES_OVR. */
  readonly attrTypesOverride: boolean;
  /** The SMMU supports stalls (STALL_MODEL = 0, `ARM_SMMU_FEAT_STALLS`). */
  readonly stalls: boolean;
  /** `smmu->ias`: max(oas, 40 with AArch32 tables) - the stage-1 output / stage-2 input size. */
  readonly ias: number;
  readonly asids: IdAllocator;
  readonly vmids: IdAllocator;
  readonly warn: (message: string) => void;
  /** Makes sure `sid` has an STE (allocating its level-2 table); `ERANGE` beyond the table. */
  initSid(sid: number): void;
  /** Physical address of `sid`'s STE. */
  steAddress(sid: number): number;
  /** Installs `target` as `sid`'s STE (`arm_smmu_write_ste`), with CFGI_STE + CMD_SYNC as needed. */
  writeSte(sid: number, target: Uint32Array): void;
  /** Installs `target` as the CD at `cdAddress` for the masters' `sids` (`arm_smmu_write_cd_entry`). */
  writeCd(sids: readonly number[], ssid: number, cdAddress: number, target: Uint32Array): void;
}

const STRTAB_MAX_L1_ENTRIES = 1 << 16;

/**
 * Probes the SMMU: reads IDR0/1/3/5, refuses what Linux refuses, allocates and programs the stream
 * table (all STEs abort), the command and event queues, enables them and the SMMU, and invalidates
 * every cached configuration and TLB entry (`CFGI_ALL`, `TLBI_NSNH_ALL`, CMD_SYNC).
 */
export function probeSmmu(
  mmio: SmmuMmio,
  memory: PhysMemory,
  structures: PageAllocator,
  options: SmmuProbeOptions,
): SmmuDevice {
  const features = decodeSmmuV3IdRegisters({
    idr0: mmio.read32(SMMU_IDR0),
    idr1: mmio.read32(SMMU_IDR1),
    idr3: mmio.read32(SMMU_IDR3),
    idr5: mmio.read32(SMMU_IDR5),
  });
  const idr1 = mmio.read32(SMMU_IDR1);
  const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;
  // arm_smmu_device_hw_probe refusals beyond what the ID decoder checks.
  if (features.ttEndian === 3)
    // Linux: "unknown/unsupported TT endianness!", -ENXIO (reported here as ENODEV: no such device for us).
    throw new IommuError(
      "ENODEV",
      `IDR0 ${hex(mmio.read32(SMMU_IDR0))}: big-endian table walks only, unsupported on a little-endian CPU`,
    );
  if (((idr1 >>> 29) & 7) !== 0)
    throw new IommuError(
      "EINVAL",
      `IDR1 ${hex(idr1)}: embedded implementation (TABLES/QUEUES_PRESET) not supported`,
    );
  // Linux needs room for a full batch plus its CMD_SYNC: "command queue size <= 64 entries not supported".
  if (features.cmdqShift <= Math.log2(CMDQ_BATCH_ENTRIES))
    throw new IommuError(
      "EINVAL",
      `IDR1 ${hex(idr1)}: command queue size <= ${CMDQ_BATCH_ENTRIES} entries not supported (CMDQS ${features.cmdqShift})`,
    );
  const rangeInvalidation = options.rangeInvalidation ?? features.rangeInvalidation;
  if (rangeInvalidation && !features.rangeInvalidation)
    throw new IommuError(
      "EINVAL",
      "rangeInvalidation requested but IDR3.RIL is 0: the SMMU would ignore TG/NUM/SCALE",
    );
  let twoLevel = features.streamTable === "2-level" && features.sidBits > STRTAB_SPLIT;
  if (options.streamTable === "2-level") {
    if (features.streamTable !== "2-level")
      throw new IommuError(
        "EINVAL",
        `a 2-level stream table needs IDR0.ST_LVL = 1 (IDR0 ${hex(mmio.read32(SMMU_IDR0))})`,
      );
    twoLevel = true;
  } else if (options.streamTable === "linear") twoLevel = false;

  // Stream table (arm_smmu_init_strtab_linear / _2lvl).
  const sidBits = features.sidBits;
  let strtabBase: number;
  let l1Entries = 0;
  if (twoLevel) {
    l1Entries = Math.min(2 ** Math.max(sidBits - STRTAB_SPLIT, 0), STRTAB_MAX_L1_ENTRIES);
    strtabBase = structures.alloc(Math.max(l1Entries * 8, 64));
  } else {
    const entries = 2 ** sidBits;
    strtabBase = structures.alloc(Math.max(entries * STE_BYTES, 64));
    const abort = new Uint32Array(2 * STE_DWORDS);
    makeAbortSte(abort);
    // arm_smmu_init_initial_stes: only dword 0 of the abort STE is non-zero.
    for (let sid = 0; sid < entries; sid++) memory.writeU32(strtabBase + sid * STE_BYTES, abort[0]!);
  }
  const l2Tables = new Map<number, number>();

  // Queues (arm_smmu_init_queues): sizes from IDR1, capped at what one allocation holds.
  const cmdqShift = Math.min(features.cmdqShift, 12);
  const evtqShift = Math.min(Math.max(features.evtqShift, 0), 12);
  const cmdqBase = structures.alloc(Math.max(2 ** cmdqShift * CMD_BYTES, 64));
  const evtqBase = structures.alloc(Math.max(2 ** evtqShift * EVT_BYTES, 64));

  const mmioQ = {
    read32: mmio.read32,
    write32: mmio.write32,
    writeU32: (pa: number, v: number) => memory.writeU32(pa, v),
  };
  const cmdq = createDriverCmdq(mmioQ, cmdqBase, cmdqShift);
  cmdq.onTimeout = (prod, cons) =>
    options.warn(
      `CMD_SYNC timeout at 0x${prod.toString(16).padStart(8, "0")} [hwprod 0x${prod.toString(16).padStart(8, "0")}, hwcons 0x${cons.toString(16).padStart(8, "0")}]`,
    );

  // arm_smmu_device_reset: disable, program tables and queues, enable the queues, invalidate, enable.
  mmio.write32(SMMU_CR0, 0);
  const coherent = features.coherent;
  const raHi = coherent ? STRTAB_BASE_RA_HI : 0;
  const hi = (pa: number) => Math.floor(pa / 0x1_0000_0000);
  mmio.write64(SMMU_STRTAB_BASE, strtabBase >>> 0, hi(strtabBase) | raHi);
  mmio.write32(
    SMMU_STRTAB_BASE_CFG,
    twoLevel ? (STRTAB_BASE_CFG_FMT_2LVL << 16) | (STRTAB_SPLIT << 6) | sidBits : sidBits,
  );
  // Q_BASE_RWA (bit 62) on coherent SMMUs, as Linux sets it.
  mmio.write64(SMMU_CMDQ_BASE, (cmdqBase + cmdqShift) >>> 0, hi(cmdqBase) | raHi);
  mmio.write64(SMMU_EVTQ_BASE, (evtqBase + evtqShift) >>> 0, hi(evtqBase) | raHi);
  mmio.write32(SMMU_CR0, CR0_CMDQEN);
  const scratch = (build: (out: Uint32Array, at: number) => void) => batchAdd(cmdq, build);
  scratch((o, at) => buildCfgiAll(o, at));
  cmdq.submit(true);
  scratch((o, at) => buildTlbiTags(o, at, CMDQ_OP_TLBI_NSNH_ALL, 0, 0));
  cmdq.submit(true);
  mmio.write32(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN);
  mmio.write32(SMMU_IRQ_CTRL, IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN);
  mmio.write32(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN);

  const ias = Math.max(features.ttf === 3 ? 40 : 0, features.oas);
  const steUsedOps = (sid: number, at: number) => ({
    qwords: STE_DWORDS,
    getUsed: getSteUsed,
    sync() {
      batchAdd(cmdq, (o, i) => buildCfgiSte(o, i, sid, true));
      cmdq.submit(true);
    },
    writeQword(q: number, lo: number, hi: number) {
      memory.writeU32(at + 8 * q, lo);
      memory.writeU32(at + 8 * q + 4, hi);
    },
  });

  const device: SmmuDevice = {
    features,
    memory,
    structures,
    mmio,
    cmdq,
    evtqBase,
    evtqShift,
    twoLevel,
    rangeInvalidation,
    attrTypesOverride: ((idr1 >>> 27) & 1) === 1,
    stalls: features.stallModel === 0,
    ias,
    asids: createIdAllocator(1, 2 ** features.asidBits - 1, "ASID"),
    vmids: createIdAllocator(1, 2 ** features.vmidBits - 1, "VMID"),
    warn: options.warn,
    initSid(sid) {
      if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** sidBits)
        throw new IommuError("ERANGE", `StreamID ${hex(sid)} is beyond the SMMU's ${sidBits}-bit StreamIDs`);
      if (!twoLevel) return;
      const l1 = Math.floor(sid / 2 ** STRTAB_SPLIT);
      if (l1 >= l1Entries)
        throw new IommuError("ERANGE", `StreamID ${hex(sid)} is beyond the level-1 stream table`);
      if (l2Tables.has(l1)) return;
      // arm_smmu_init_l2_strtab: 256 abort STEs, then the L1 descriptor (SPAN = SPLIT + 1).
      const l2 = structures.alloc(2 ** STRTAB_SPLIT * STE_BYTES);
      const abort = new Uint32Array(2 * STE_DWORDS);
      makeAbortSte(abort);
      for (let i = 0; i < 2 ** STRTAB_SPLIT; i++) memory.writeU32(l2 + i * STE_BYTES, abort[0]!);
      const desc = new Uint32Array(2);
      setField(desc, ...STRTAB_L1_SPAN, STRTAB_SPLIT + 1);
      setAddress(desc, ...STRTAB_L1_L2PTR, l2);
      memory.writeU32(strtabBase + l1 * 8 + 4, desc[1]!);
      memory.writeU32(strtabBase + l1 * 8, desc[0]!);
      l2Tables.set(l1, l2);
    },
    steAddress(sid) {
      if (!twoLevel) return strtabBase + sid * STE_BYTES;
      const l2 = l2Tables.get(Math.floor(sid / 2 ** STRTAB_SPLIT));
      if (l2 === undefined)
        throw new IommuError("ENODEV", `StreamID ${hex(sid)} has no level-2 stream table`);
      return l2 + (sid % 2 ** STRTAB_SPLIT) * STE_BYTES;
    },
    writeSte(sid, target) {
      const at = device.steAddress(sid);
      const cur = new Uint32Array(2 * STE_DWORDS);
      readWords(memory, at, cur);
      writeEntry(steUsedOps(sid, at), cur, target);
    },
    writeCd(sids, ssid, cdAddress, target) {
      const cur = new Uint32Array(2 * CD_DWORDS);
      readWords(memory, cdAddress, cur);
      writeEntry(
        {
          qwords: CD_DWORDS,
          getUsed: getCdUsed,
          sync() {
            // arm_smmu_sync_cd: CFGI_CD for every stream of the master, then one CMD_SYNC.
            for (const sid of sids) batchAdd(cmdq, (o, i) => buildCfgiCd(o, i, sid, ssid, true));
            cmdq.submit(true);
          },
          writeQword(q, lo, hi) {
            memory.writeU32(cdAddress + 8 * q, lo);
            memory.writeU32(cdAddress + 8 * q + 4, hi);
          },
        },
        cur,
        target,
      );
    },
  };
  return device;
}
