/**
 * The driver's interrupt handlers: the event-queue thread (`arm_smmu_evtq_thread`) that drains the
 * EVTQ, hands translation faults to the core's fault reporting and logs what nobody handled as
 * `arm_smmu_dump_event` does; and the global-error handler (`arm_smmu_gerror_handler`) that skips
 * an illegal command (`arm_smmu_cmdq_skip_err`).
 */
import { type FaultResult, IOMMU_FAULT_READ, IOMMU_FAULT_WRITE, type IommuHost } from "@iommu-sim/iommu";
import { buildCmdSync, CMD_BYTES, CMDQ_SYNC_CS_SEV } from "../arch/commands.js";
import {
  decodeEvent,
  EVENT_CLASS_NAMES,
  EVENT_NAMES,
  EVT_BYTES,
  EVT_ID_ACCESS,
  EVT_ID_ADDR_SIZE,
  EVT_ID_CD_FETCH,
  EVT_ID_PERMISSION,
  EVT_ID_STE_FETCH,
  EVT_ID_TRANSLATION,
  EVT_ID_VMS_FETCH,
  type SmmuEventFields,
} from "../arch/events.js";
import {
  CMDQ_CONS_ERR_MASK,
  CMDQ_CONS_ERR_SHIFT,
  GERROR_CMDQ_ERR,
  Q_OVERFLOW_FLAG,
  queueEmpty,
  queueIncrement,
  queueIndex,
  SMMU_CMDQ_CONS,
  SMMU_EVTQ_CONS,
  SMMU_EVTQ_PROD,
  SMMU_GERROR,
  SMMU_GERRORN,
} from "../arch/registers.js";
import { dwordOf, readWords } from "../arch/words.js";
import type { SmmuDomain } from "./domain.js";
import type { SmmuMaster } from "./master.js";
import type { SmmuDevice } from "./smmu-device.js";

/** What the last handled fault event produced, for the datapath's `DmaResult.reported`. */
export interface FaultOutcome {
  /** The core's answer, or `undefined` when no paging domain was there to report to. */
  result: FaultResult | undefined;
  /** Event ID handled. */
  id: number;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, "0")}`;

/** Creates the event-queue thread; it returns the outcome of the last fault event it handled. */
export function createEvtqThread(
  smmu: SmmuDevice,
  masterBySid: (sid: number) => SmmuMaster | undefined,
  host: () => IommuHost | undefined,
): { run(): FaultOutcome | undefined } {
  let cons = 0;
  let prodSeen = 0;
  const raw = new Uint32Array(EVT_BYTES / 4);
  const shift = smmu.evtqShift;

  const dump = (e: SmmuEventFields, master: SmmuMaster | undefined): void => {
    const h = host();
    const warn = (line: string) => (h ? h.warn(line) : smmu.warn(line));
    warn(`event 0x${e.id.toString(16).padStart(2, "0")} received:`);
    for (let d = 0; d < 4; d++) warn(`\t${hex64(dwordOf(raw, d))}`);
    const name = EVENT_NAMES[e.id] ?? "UNKNOWN";
    const client = master ? master.device.name : "(unassigned sid)";
    const ssid = e.ssv ? e.ssid : 0;
    switch (e.id) {
      case EVT_ID_TRANSLATION:
      case EVT_ID_ADDR_SIZE:
      case EVT_ID_ACCESS:
      case EVT_ID_PERMISSION: {
        warn(
          `event: ${name} client: ${client} sid: ${hex(e.sid)} ssid: ${hex(ssid)} iova: ${hex(e.iova)} ipa: ${hex(e.addr3 - (e.addr3 % 4096))}`,
        );
        const classTt = e.id === EVT_ID_PERMISSION && e.class === 1;
        warn(
          `${e.privileged ? "priv" : "unpriv"} ${e.instruction ? "inst" : "data"} ${e.read ? "read" : "write"} ${e.s2 ? "s2" : "s1"} "${EVENT_CLASS_NAMES[e.class]}"${classTt ? (e.ttRead ? " ttd_read" : " ttd_write") : ""}${e.stall ? " stall" : ""} stag: ${hex(e.stag)}`,
        );
        break;
      }
      case EVT_ID_STE_FETCH:
      case EVT_ID_CD_FETCH:
      case EVT_ID_VMS_FETCH:
        warn(
          `event: ${name} client: ${client} sid: ${hex(e.sid)} ssid: ${hex(ssid)} fetch_addr: ${hex(e.addr3 - (e.addr3 % 8))}`,
        );
        break;
      default:
        warn(`event: ${name} client: ${client} sid: ${hex(e.sid)} ssid: ${hex(ssid)}`);
    }
  };

  // arm_smmu_handle_event, with one deliberate difference: mainline reports only stall events
  // (iopf); this model hands terminated translation faults to report_iommu_fault() too, so the
  // core's fault handlers see SMMUv3 faults as they see arm-smmu (v2) context faults.
  const handle = (e: SmmuEventFields, master: SmmuMaster | undefined): FaultOutcome => {
    const outcome: FaultOutcome = { result: undefined, id: e.id };
    switch (e.id) {
      case EVT_ID_TRANSLATION:
      case EVT_ID_ADDR_SIZE:
      case EVT_ID_ACCESS:
      case EVT_ID_PERMISSION: {
        const domain: SmmuDomain | undefined = master?.domain;
        const h = host();
        if (master && domain?.table && h) {
          outcome.result = h.reportFault(
            domain,
            master.device,
            e.iova,
            e.read ? IOMMU_FAULT_READ : IOMMU_FAULT_WRITE,
          );
        }
        if (outcome.result !== 0) dump(e, master);
        return outcome;
      }
      default:
        dump(e, master);
        return outcome;
    }
  };

  return {
    run() {
      let last: FaultOutcome | undefined;
      for (;;) {
        const prod = smmu.mmio.read32(SMMU_EVTQ_PROD);
        while (!queueEmpty(prod, cons, shift)) {
          readWords(smmu.memory, smmu.evtqBase + queueIndex(cons, shift) * EVT_BYTES, raw);
          const e = decodeEvent(raw);
          last = handle(e, masterBySid(e.sid));
          cons = queueIncrement(cons, shift);
          smmu.mmio.write32(SMMU_EVTQ_CONS, cons);
        }
        // queue_sync_prod_in: a toggled overflow flag means records were dropped.
        if ((prod & Q_OVERFLOW_FLAG) !== (prodSeen & Q_OVERFLOW_FLAG)) {
          const line = "EVTQ overflow detected -- events lost";
          const h = host();
          if (h) h.warn(line);
          else smmu.warn(line);
        }
        prodSeen = prod;
        if (queueEmpty(smmu.mmio.read32(SMMU_EVTQ_PROD), cons, shift)) break;
      }
      // queue_sync_cons_ovf: acknowledge the overflow we have seen.
      cons = ((cons & ~Q_OVERFLOW_FLAG) | (prodSeen & Q_OVERFLOW_FLAG)) >>> 0;
      smmu.mmio.write32(SMMU_EVTQ_CONS, cons);
      return last;
    },
  };
}

const CERROR_NAMES = ["No error", "Illegal command", "Abort on command fetch", "ATC invalidate timeout"];

/** The global-error handler: logs the error and, for CMDQ_ERR, replaces the bad command with a CMD_SYNC. */
export function createGerrorHandler(smmu: SmmuDevice, host: () => IommuHost | undefined): () => void {
  const warn = (line: string) => {
    const h = host();
    if (h) h.warn(line);
    else smmu.warn(line);
  };
  return () => {
    const gerror = smmu.mmio.read32(SMMU_GERROR);
    const gerrorn = smmu.mmio.read32(SMMU_GERRORN);
    const active = (gerror ^ gerrorn) >>> 0;
    if (!active) return;
    warn(
      `unexpected global error reported (0x${active.toString(16).padStart(8, "0")}), this could be serious`,
    );
    if (active & GERROR_CMDQ_ERR) {
      // arm_smmu_cmdq_skip_err.
      const cons = smmu.mmio.read32(SMMU_CMDQ_CONS);
      const idx = (cons >>> CMDQ_CONS_ERR_SHIFT) & CMDQ_CONS_ERR_MASK;
      warn(`CMDQ error (cons 0x${cons.toString(16).padStart(8, "0")}): ${CERROR_NAMES[idx] ?? "Unknown"}`);
      const at = smmu.cmdq.base + queueIndex(cons, smmu.cmdq.shift) * CMD_BYTES;
      const bad = new Uint32Array(4);
      readWords(smmu.memory, at, bad);
      warn("skipping command in error state:");
      warn(`\t${hex64(dwordOf(bad, 0))}`);
      warn(`\t${hex64(dwordOf(bad, 1))}`);
      buildCmdSync(bad, 0, CMDQ_SYNC_CS_SEV);
      for (let i = 0; i < 4; i++) smmu.memory.writeU32(at + 4 * i, bad[i]!);
    }
    smmu.mmio.write32(SMMU_GERRORN, gerror);
  };
}
