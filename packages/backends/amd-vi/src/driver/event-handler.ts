/**
 * The event-log interrupt handler (Linux `amd_iommu_int_thread_evtlog` -> `amd_iommu_handle_irq`,
 * `iommu_poll_events`, `iommu_print_event`, `amd_iommu_report_page_fault`,
 * `amd_iommu_restart_event_logging`). Entries are read from the ring in memory between the head and
 * tail registers, decoded, zeroed (erratum 732) and the head advanced. An IO_PAGE_FAULT of a probed
 * PCI device that is a memory transaction (I = 0) goes to `report_iommu_fault()` first; it is
 * logged only when the domain's handler did not return 0. On EventOverflow the log is restarted.
 */
import { type AmdEvent, decodeAmdEvent, formatAmdIoPageFault } from "@iommu-sim/hw";
import { type FaultResult, IOMMU_FAULT_READ, IOMMU_FAULT_WRITE } from "@iommu-sim/iommu";
import { dteQwords } from "../arch/dte.js";
import {
  CONTROL_EVT_INT_EN,
  CONTROL_EVT_LOG_EN,
  MMIO_CONTROL_OFFSET,
  MMIO_EVT_HEAD_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  MMIO_STATUS_EVT_INT,
  MMIO_STATUS_EVT_OVERFLOW,
  MMIO_STATUS_EVT_RUN,
  MMIO_STATUS_OFFSET,
  RING_ENTRY_BYTES,
} from "../arch/registers.js";
import { type AmdViContext, logLine } from "./context.js";

/** The handler. */
export interface EventHandler {
  /** The interrupt: drains the log, reports and logs events, restarts the log after an overflow. */
  handleInterrupt(): void;
  /** Answer of the most recent fault report since the last call, then forgets it. */
  takeFaultReport(): FaultResult | undefined;
}

const h = (n: number | bigint, width: number) => n.toString(16).padStart(width, "0");
const bdf = (seg: number, id: number) =>
  `${h(seg, 4)}:${h(id >> 8, 2)}:${h((id >> 3) & 0x1f, 2)}.${(id & 7).toString(16)}`;

/** Creates the handler for the event log of `bytes` at `base`. */
export function createEventHandler(
  ctx: AmdViContext,
  base: number,
  bytes: number,
  segment = 0,
): EventHandler {
  let lastReport: FaultResult | undefined;
  const log = (line: string) => logLine(ctx, line);

  const reportPageFault = (event: AmdEvent): void => {
    const f = event.fields;
    const deviceId = f.deviceId as number;
    const dev = ctx.pciByDeviceId.get(deviceId);
    if (dev === undefined) {
      log(formatAmdIoPageFault(event, { segment }));
      return;
    }
    if (!event.faultFlags.i) {
      if (dev.domain === undefined) {
        log("AMD-Vi: Event logged [Device not attached to domain properly]");
        log(`AMD-Vi:   device=${bdf(segment, deviceId)} domain=0x${h(event.domainId, 4)}`);
        return;
      }
      const direction = event.faultFlags.rw ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ;
      const result =
        ctx.host?.reportFault(dev.domain, dev.device, Number(f.address as bigint), direction) ?? "ENOSYS";
      lastReport = result;
      if (result === 0) return;
    }
    // pci_err(): the bound driver's name, or the bus name "pci" for a device without a driver.
    log(formatAmdIoPageFault(event, { driver: "pci", segment }));
  };

  const printEvent = (entry: Uint8Array): void => {
    const words = new Uint32Array(entry.buffer, entry.byteOffset, 4);
    const type = words[1]! >>> 28;
    if (type === 0) {
      log("AMD-Vi: No event written to event log");
      return;
    }
    let event: AmdEvent;
    try {
      event = decodeAmdEvent(entry);
    } catch {
      log(
        `AMD-Vi: Event logged [UNKNOWN event[0]=0x${h(words[0]!, 8)} event[1]=0x${h(words[1]!, 8)} event[2]=0x${h(words[2]!, 8)} event[3]=0x${h(words[3]!, 8)}`,
      );
      return;
    }
    const f = event.fields;
    const deviceId = f.deviceId as number;
    const address = (f.address as bigint).toString(16);
    const flags = h(f.flags as number, 4);
    switch (event.name) {
      case "IO_PAGE_FAULT":
        reportPageFault(event);
        return;
      case "ILLEGAL_DEV_TABLE_ENTRY": {
        log(
          `AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=${bdf(segment, deviceId)} pasid=0x${h(f.pasid as number, 5)} address=0x${address} flags=0x${flags}]`,
        );
        log(`AMD-Vi: Control Reg : 0x${ctx.mmio.read(MMIO_CONTROL_OFFSET).toString(16)}`);
        if (deviceId < ctx.devTableEntries) {
          const dte = ctx.memory.read(ctx.devTableBase + deviceId * 32, 32);
          dteQwords(new Uint32Array(dte.buffer, dte.byteOffset, 8)).forEach((q, i) => {
            log(`AMD-Vi: DTE[${i}]: ${h(q, 16)}`);
          });
        }
        return;
      }
      case "ILLEGAL_COMMAND_ERROR": {
        log(`AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x${address}]`);
        const cmd = ctx.memory.read(Number(f.address as bigint), 16);
        new Uint32Array(cmd.buffer, cmd.byteOffset, 4).forEach((w, i) => {
          log(`AMD-Vi: CMD[${i}]: ${h(w, 8)}`);
        });
        return;
      }
      default:
        log(
          `AMD-Vi: Event logged [${event.name} device=${bdf(segment, deviceId)} address=0x${address} flags=0x${flags}]`,
        );
    }
  };

  const pollEvents = (): void => {
    let head = Number(ctx.mmio.read(MMIO_EVT_HEAD_OFFSET));
    const tail = Number(ctx.mmio.read(MMIO_EVT_TAIL_OFFSET));
    while (head !== tail) {
      printEvent(ctx.memory.read(base + head, RING_ENTRY_BYTES));
      ctx.memory.fill(base + head, RING_ENTRY_BYTES, 0);
      head = (head + RING_ENTRY_BYTES) % bytes;
      ctx.mmio.write(MMIO_EVT_HEAD_OFFSET, head);
    }
  };

  const restartEventLogging = (): void => {
    const status = Number(ctx.mmio.read(MMIO_STATUS_OFFSET));
    if (status & MMIO_STATUS_EVT_RUN) return;
    log("AMD-Vi: IOMMU Event log restarting");
    let control = ctx.mmio.read(MMIO_CONTROL_OFFSET);
    control &= ~BigInt(CONTROL_EVT_LOG_EN);
    ctx.mmio.write(MMIO_CONTROL_OFFSET, control);
    control &= ~BigInt(CONTROL_EVT_INT_EN);
    ctx.mmio.write(MMIO_CONTROL_OFFSET, control);
    ctx.mmio.write(MMIO_STATUS_OFFSET, MMIO_STATUS_EVT_OVERFLOW);
    control |= BigInt(CONTROL_EVT_INT_EN);
    ctx.mmio.write(MMIO_CONTROL_OFFSET, control);
    control |= BigInt(CONTROL_EVT_LOG_EN);
    ctx.mmio.write(MMIO_CONTROL_OFFSET, control);
  };

  return {
    handleInterrupt() {
      const mask = MMIO_STATUS_EVT_INT | MMIO_STATUS_EVT_OVERFLOW;
      let status = Number(ctx.mmio.read(MMIO_STATUS_OFFSET));
      while (status & mask) {
        ctx.mmio.write(MMIO_STATUS_OFFSET, mask);
        pollEvents();
        if (status & MMIO_STATUS_EVT_OVERFLOW) restartEventLogging();
        status = Number(ctx.mmio.read(MMIO_STATUS_OFFSET));
      }
    },
    takeFaultReport() {
      const r = lastReport;
      lastReport = undefined;
      return r;
    },
  };
}
