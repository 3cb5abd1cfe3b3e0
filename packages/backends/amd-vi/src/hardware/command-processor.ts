/**
 * The command processor: the hardware side of the command buffer. It fetches 16-byte commands
 * from system memory between the head and tail pointers and executes them: INVALIDATE_DEVTAB_ENTRY
 * drops a cached DTE, INVALIDATE_IOMMU_PAGES drops IOTLB entries of a domain (one page with S = 0,
 * else the naturally aligned block encoded by the trailing ones of the address, or all of the domain
 * for `0x7FFFFFFFFFFFF000`) and, with PDE = 1, the walk-cache entries (cached PDEs) over it,
 * INVALIDATE_IOMMU_ALL (with IASup) drops everything, COMPLETION_WAIT
 * stores its 64-bit data at its address (S) and/or raises ComWaitInt (I). ATS, interrupt-remapping
 * and PPR commands are accepted and do nothing: nothing they invalidate is modelled.
 *
 * An undefined opcode or a reserved bit set logs ILLEGAL_COMMAND_ERROR (address = the command's
 * physical address) and halts the processor (CmdBufRun = 0) until CmdBufEn is written 0 then 1.
 *
 * Timing: real hardware executes commands at some point after the tail moves; software only knows
 * they are done at a COMPLETION_WAIT. `lazy` (the default) takes the latest legal moment: commands
 * run when a COMPLETION_WAIT is pending, when software reads the head pointer, or on `drain()`, so a
 * driver that forgets the wait sees stale translations. `eager` runs them at every tail write.
 */
import {
  AMD_CMD_OPCODES,
  type AmdCommand,
  decodeAmdCommand,
  encodeAmdEvent,
  type PhysMemory,
  type TranslationUnit,
} from "@iommu-sim/hw";
import {
  CONTROL_COMWAIT_EN,
  FEATURE_IA,
  MMIO_STATUS_CMDBUF_RUN,
  MMIO_STATUS_COM_WAIT_INT,
  RING_ENTRY_BYTES,
} from "../arch/registers.js";
import type { DeviceTableCache } from "./device-table-cache.js";
import type { EventLogProducer } from "./event-log.js";
import { type AmdViRegisterFile, commandsEnabled } from "./register-file.js";

/** When queued commands execute. */
export type CommandTiming = "lazy" | "eager";

/** Counters of the command processor, by command name. */
export type CommandStats = Record<string, number>;

/** The processor. */
export interface CommandProcessor {
  readonly stats: CommandStats;
  /** Software moved the tail: run what the timing policy says must run now. */
  tailWritten(): void;
  /** Runs every queued command (the hardware catches up). */
  drain(): void;
}

const SIZE_ALL = 2 ** 53;

/** Creates the processor. `signal` is called when a status bit that may interrupt becomes set. */
export function createCommandProcessor(options: {
  regs: AmdViRegisterFile;
  memory: PhysMemory;
  dtes: DeviceTableCache;
  /** The translation unit whose IOTLB and walk caches the invalidations reach. */
  unit: TranslationUnit;
  events: EventLogProducer;
  timing: CommandTiming;
  signal: () => void;
}): CommandProcessor {
  const { regs, memory, dtes, unit, events, signal } = options;
  const stats: CommandStats = {};

  const invalidatePages = (cmd: AmdCommand): void => {
    const f = cmd.fields;
    const domainId = f.domainId as number;
    const addr = f.addr as bigint;
    // PDE = 0: only PTEs (leaves) changed, so cached page-directory entries (walk caches) stay.
    const leafOnly = !(f.pde as boolean);
    if (unit.iotlb === null && unit.walkCache === null) return;
    if (!(f.s as boolean)) {
      unit.invalidateRange({ start: addr, size: 4096, filter: { asid: domainId }, leafOnly });
      return;
    }
    // S = 1: n trailing ones from bit 12 encode a naturally aligned block of 2^(13 + n) bytes.
    let n = 0n;
    while (n < 52n && ((addr >> (12n + n)) & 1n) === 1n) n++;
    const size = 1n << (13n + n);
    if (size >= BigInt(SIZE_ALL)) {
      if (!leafOnly) unit.invalidateTags({ asid: domainId, includeGlobal: true });
      else unit.invalidateRange({ start: 0, size: SIZE_ALL, filter: { asid: domainId }, leafOnly });
      return;
    }
    unit.invalidateRange({ start: addr & ~(size - 1n), size, filter: { asid: domainId }, leafOnly });
  };

  const illegal = (at: number): void => {
    events.log(encodeAmdEvent("ILLEGAL_COMMAND_ERROR", { address: at }));
    regs.status &= ~MMIO_STATUS_CMDBUF_RUN;
  };

  // Executes one command; false when the processor halted on it.
  const execute = (at: number): boolean => {
    let cmd: AmdCommand;
    try {
      cmd = decodeAmdCommand(memory.read(at, RING_ENTRY_BYTES));
    } catch {
      illegal(at);
      return false;
    }
    stats[cmd.name] = (stats[cmd.name] ?? 0) + 1;
    const f = cmd.fields;
    switch (cmd.name) {
      case "INVALIDATE_DEVTAB_ENTRY":
        dtes.invalidate(f.deviceId as number);
        break;
      case "INVALIDATE_IOMMU_PAGES":
        invalidatePages(cmd);
        break;
      case "INVALIDATE_IOMMU_ALL":
        if ((regs.efr & FEATURE_IA) === 0n) {
          illegal(at);
          return false;
        }
        dtes.invalidateAll();
        unit.invalidateAll();
        break;
      case "COMPLETION_WAIT": {
        // The semaphore store is a plain u64 write: no byte buffer per completion wait.
        if (f.s as boolean) memory.writeU64(Number(f.address as bigint), f.data as bigint);
        if (f.i as boolean) {
          regs.status |= MMIO_STATUS_COM_WAIT_INT;
          if ((regs.controlLo & CONTROL_COMWAIT_EN) !== 0) signal();
        }
        break;
      }
      default:
        // INVALIDATE_IOTLB_PAGES, INVALIDATE_INTERRUPT_TABLE, COMPLETE_PPR_REQUEST: nothing modelled.
        break;
    }
    return true;
  };

  const drain = (): void => {
    if (!commandsEnabled(regs) || regs.cmdBytes === 0) return;
    while ((regs.status & MMIO_STATUS_CMDBUF_RUN) !== 0 && regs.cmdHead !== regs.cmdTail) {
      if (!execute(regs.cmdBase + regs.cmdHead)) return;
      regs.cmdHead = (regs.cmdHead + RING_ENTRY_BYTES) % regs.cmdBytes;
    }
  };

  const completionWaitPending = (): boolean => {
    for (let at = regs.cmdHead; at !== regs.cmdTail; at = (at + RING_ENTRY_BYTES) % regs.cmdBytes) {
      // The opcode is data[1][31:28]; readU32 peeks it without copying the word out (this scan
      // runs on every tail write under lazy timing).
      if (memory.readU32(regs.cmdBase + at + 4) >>> 28 === AMD_CMD_OPCODES.COMPLETION_WAIT) return true;
    }
    return false;
  };

  return {
    stats,
    drain,
    tailWritten() {
      if (!commandsEnabled(regs) || regs.cmdBytes === 0) return;
      if (options.timing === "eager" || completionWaitPending()) drain();
    },
  };
}
