/**
 * The fault event interrupt handler (Linux `dmar_fault` and `dmar_fault_do_one`,
 * `drivers/iommu/intel/dmar.c`): reads FSTS, walks the fault recording registers from FSTS.FRI while
 * F is set, logs each record in Linux's format, clears F (write 1), and finally clears
 * PFO | PPF | PRO in FSTS.
 *
 * Beyond Linux: intel-iommu only logs DMA-remapping faults; this model also reports translation
 * faults (reasons 0x4, 0x5, 0x6) of a device on a paging domain to the core's fault reporting
 * (`report_iommu_fault`), which is how the IOMMU API's fault handlers hear of them here.
 */
import { formatVtdFault, formatVtdFaultStatus } from "@iommu-sim/hw";
import { type FaultResult, IOMMU_FAULT_READ, IOMMU_FAULT_WRITE, type IommuHost } from "@iommu-sim/iommu";
import {
  DMA_FRCD_F,
  DMA_FSTS_PFO,
  DMA_FSTS_PPF,
  DMA_FSTS_PRO,
  DMAR_FSTS_REG,
  PRIMARY_FAULT_REG_LEN,
} from "../hardware/registers.js";
import type { DeviceInfo } from "./device-info.js";
import type { IntelIommu } from "./intel-iommu.js";

/** One fault the handler processed. */
export interface HandledFault {
  /** Source id. */
  readonly sid: number;
  /** Fault info: the page address. */
  readonly address: number;
  /** Fault reason. */
  readonly reason: number;
  /** A read (T = 1). */
  readonly read: boolean;
  /** The log line. */
  readonly line: string;
  /** What the core's fault reporting answered, when the fault was reported to it. */
  readonly reported: FaultResult | undefined;
}

/** The handler with its most recent results. */
export interface FaultHandler {
  /** Runs `dmar_fault`. */
  handle(): void;
  /** Faults handled since the last {@link clearHandled}. */
  readonly handled: HandledFault[];
  /** Empties {@link handled}. */
  clearHandled(): void;
}

/** Creates the handler; `deviceBySid` finds the device a source id belongs to. */
export function createFaultHandler(
  iommu: IntelIommu,
  deviceBySid: (sid: number) => DeviceInfo | undefined,
  host: () => IommuHost | undefined,
): FaultHandler {
  const handled: HandledFault[] = [];
  const { mmio } = iommu;
  const records = iommu.cap.faultRecords;
  const fro = iommu.cap.faultRecordOffset;
  return {
    handled,
    clearHandled() {
      handled.length = 0;
    },
    handle() {
      const status = mmio.read32(DMAR_FSTS_REG);
      if (status) iommu.warn(formatVtdFaultStatus(status));
      if (status & DMA_FSTS_PPF) {
        let index = (status >>> 8) & 0xff;
        for (let n = 0; n < records; n++) {
          const reg = fro + index * PRIMARY_FAULT_REG_LEN;
          const hi = mmio.read32(reg + 12);
          if (!(hi & DMA_FRCD_F)) break;
          const reason = hi & 0xff;
          const read = ((hi >>> 30) & 1) === 1;
          const pasid = (hi >>> 8) & 0xf_ffff;
          const word2 = mmio.read32(reg + 8);
          const sid = word2 & 0xffff;
          const pp = word2 >>> 31 === 1;
          const addr = mmio.read64(reg) & ~0xfffn;
          mmio.write32(reg + 12, DMA_FRCD_F);
          const line = formatVtdFault({ fi: addr, sid, pp, fr: reason, pv: pasid, t: read, f: true });
          iommu.warn(line);
          const address = Number(addr);
          let reported: FaultResult | undefined;
          const info = deviceBySid(sid);
          const domain = info?.attached;
          if (info && domain?.kind === "paging" && isTranslationFault(reason)) {
            reported = host()?.reportFault(
              domain,
              info.device,
              address,
              read ? IOMMU_FAULT_READ : IOMMU_FAULT_WRITE,
            );
          }
          handled.push({ sid, address, reason, read, line, reported });
          index = (index + 1) % records;
        }
      }
      mmio.write32(DMAR_FSTS_REG, DMA_FSTS_PFO | DMA_FSTS_PPF | DMA_FSTS_PRO);
    },
  };
}

/**
 * Reasons of translation faults, which the core's fault reporting sees: legacy 0x4-0x6; scalable
 * mode 0x71 (first-stage entry not present), 0x79 (second-stage R = W = 0), 0x80 (not canonical),
 * 0x83 (beyond the address width), 0x85 / 0x86 (no write / read permission).
 */
export function isTranslationFault(reason: number): boolean {
  return (
    (reason >= 0x4 && reason <= 0x6) ||
    reason === 0x71 ||
    reason === 0x79 ||
    reason === 0x80 ||
    reason === 0x83 ||
    reason === 0x85 ||
    reason === 0x86
  );
}
