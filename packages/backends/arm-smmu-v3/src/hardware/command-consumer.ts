/**
 * The SMMU's command-queue consumer: reads 16-byte commands from the CMDQ ring in memory between
 * CMDQ_CONS and CMDQ_PROD and applies them to the configuration cache, the IOTLB and the walk caches
 * (SMMUv3 section 4; hw-facts 4.1). An illegal command stops the queue with CMDQ_CONS.ERR = CERROR_ILL.
 */
import type { TranslationUnit } from "@iommu-sim/hw";
import {
  CMDQ_OP_ATC_INV,
  CMDQ_OP_CFGI_ALL,
  CMDQ_OP_CFGI_CD,
  CMDQ_OP_CFGI_CD_ALL,
  CMDQ_OP_CFGI_STE,
  CMDQ_OP_CMD_SYNC,
  CMDQ_OP_PREFETCH_CFG,
  CMDQ_OP_PRI_RESP,
  CMDQ_OP_RESUME,
  CMDQ_OP_TLBI_EL2_ALL,
  CMDQ_OP_TLBI_EL2_ASID,
  CMDQ_OP_TLBI_EL2_VA,
  CMDQ_OP_TLBI_EL2_VAA,
  CMDQ_OP_TLBI_NH_ALL,
  CMDQ_OP_TLBI_NH_ASID,
  CMDQ_OP_TLBI_NH_VA,
  CMDQ_OP_TLBI_NH_VAA,
  CMDQ_OP_TLBI_NSNH_ALL,
  CMDQ_OP_TLBI_S2_IPA,
  CMDQ_OP_TLBI_S12_VMALL,
} from "../arch/commands.js";

/** What command execution needs from the rest of the SMMU. */
export interface CommandTarget {
  readonly translation: TranslationUnit;
  /** IDR3.RIL: TG/NUM/SCALE are honoured. */
  readonly rangeInvalidation: boolean;
  /** IDR0.HYP, IDR0.ATS, IDR0.PRI: commands for features the SMMU lacks are illegal. */
  readonly hyp: boolean;
  readonly ats: boolean;
  readonly pri: boolean;
  /** Nested (stage 1 + 2) entries may exist: stage-1 invalidations must reach them too. */
  readonly nested: () => boolean;
  /** Drops the cached configuration of StreamIDs [first, first + count). */
  invalidateConfig(first: number, count: number): void;
  /** Drops every cached configuration. */
  invalidateAllConfig(): void;
}

/** Command counters. */
export interface CommandStats {
  /** Commands executed, by opcode name. */
  byOpcode: Record<number, number>;
  /** CMD_SYNCs completed. */
  syncs: number;
  /** Commands refused with CERROR_ILL. */
  illegal: number;
  /** IOTLB entries dropped by invalidations. */
  entriesDropped: number;
}

const RANGE_GRANULE = [0, 4096, 16384, 65536];

interface RangeRequest {
  start: number;
  size: number;
  leafOnly: boolean;
  level?: number;
  filter: { vmid: number; asid: number | undefined; stage: 1 | 2 | 3 };
}
const INV: RangeRequest = {
  start: 0,
  size: 1,
  leafOnly: false,
  filter: { vmid: 0, asid: undefined, stage: 1 },
};
const INV_LEVEL: RangeRequest = {
  start: 0,
  size: 1,
  leafOnly: false,
  level: 0,
  filter: { vmid: 0, asid: undefined, stage: 1 },
};

/**
 * Executes the command in words `at..at+3` of `w`. Returns true, or false when it is illegal
 * (unknown opcode, or a command for a feature IDR0 does not advertise).
 */
export function executeCommand(
  target: CommandTarget,
  w: Uint32Array,
  at: number,
  stats: CommandStats,
): boolean {
  const w0 = w[at]!;
  const w1 = w[at + 1]!;
  const w2 = w[at + 2]!;
  const w3 = w[at + 3]!;
  const op = w0 & 0xff;
  // Invalidations go through the unit: its IOTLB and, when it has them, its walk caches.
  const unit = target.translation;
  let dropped = 0;
  switch (op) {
    case CMDQ_OP_PREFETCH_CFG:
      break; // A hint: the model fetches on the next transaction anyway.
    case CMDQ_OP_CFGI_STE:
    case CMDQ_OP_CFGI_CD:
    case CMDQ_OP_CFGI_CD_ALL:
      // A CD change reloads the whole stream: the config cache is keyed by StreamID.
      target.invalidateConfig(w1, 1);
      break;
    case CMDQ_OP_CFGI_ALL: {
      // CFGI_STE_RANGE: 2^(RANGE+1) StreamIDs aligned around SID; RANGE 31 = all.
      const range = w2 & 0x1f;
      if (range >= 31) target.invalidateAllConfig();
      else {
        const span = 2 ** (range + 1);
        target.invalidateConfig(w1 - (w1 % span), span);
      }
      break;
    }
    case CMDQ_OP_TLBI_NH_ALL:
    case CMDQ_OP_TLBI_NH_ASID: {
      const vmid = w1 & 0xffff;
      const filter = op === CMDQ_OP_TLBI_NH_ALL ? { vmid } : { vmid, asid: w1 >>> 16 };
      dropped += unit.invalidateTags({ ...filter, stage: 1 });
      if (target.nested()) dropped += unit.invalidateTags({ ...filter, stage: 3 });
      break;
    }
    case CMDQ_OP_TLBI_NH_VA:
    case CMDQ_OP_TLBI_NH_VAA:
    case CMDQ_OP_TLBI_S2_IPA: {
      if (unit.iotlb === null && unit.walkCache === null) break;
      // LEAF=1: only leaf entries changed, so walk caches keep their table descriptors.
      const leaf = (w2 & 1) === 1;
      const ttl = (w2 >>> 8) & 3;
      const tg = target.rangeInvalidation ? (w2 >>> 10) & 3 : 0;
      const addrHi = op === CMDQ_OP_TLBI_S2_IPA ? w3 & 0xfffff : w3;
      // Without TG the command names one address: every entry containing it goes.
      let size = 1;
      if (tg !== 0) {
        const num = (w0 >>> 12) & 0x1f;
        const scale = (w0 >>> 20) & 0x1f;
        size = (num + 1) * 2 ** scale * RANGE_GRANULE[tg]!;
      }
      // One reusable request per shape: this runs once per unmapped page without RIL.
      const inv = tg !== 0 && ttl !== 0 ? INV_LEVEL : INV;
      inv.start = addrHi * 0x1_0000_0000 + ((w2 & 0xffff_f000) >>> 0);
      inv.size = size;
      inv.leafOnly = leaf;
      if (inv === INV_LEVEL) INV_LEVEL.level = ttl;
      const filter = inv.filter;
      filter.vmid = w1 & 0xffff;
      if (op === CMDQ_OP_TLBI_S2_IPA) {
        filter.asid = undefined;
        filter.stage = 2;
        dropped += unit.invalidateRange(inv);
      } else {
        if (op === CMDQ_OP_TLBI_NH_VA) filter.asid = w1 >>> 16;
        else filter.asid = undefined;
        filter.stage = 1;
        dropped += unit.invalidateRange(inv);
        if (target.nested()) {
          filter.stage = 3;
          dropped += unit.invalidateRange(inv);
        }
      }
      break;
    }
    case CMDQ_OP_TLBI_S12_VMALL:
      // Both stages' entries of the VMID, walk caches included.
      dropped += unit.invalidateTags({ vmid: w1 & 0xffff, includeGlobal: true });
      break;
    case CMDQ_OP_TLBI_NSNH_ALL:
      dropped += unit.invalidateAll();
      break;
    case CMDQ_OP_TLBI_EL2_ALL:
    case CMDQ_OP_TLBI_EL2_ASID:
    case CMDQ_OP_TLBI_EL2_VA:
    case CMDQ_OP_TLBI_EL2_VAA:
      // EL2 streams (STRW = EL2) are not modelled, so there is nothing to drop; illegal without HYP.
      if (!target.hyp) return illegal(stats);
      break;
    case CMDQ_OP_ATC_INV:
      // No ATS endpoints are modelled: legal only when IDR0.ATS says the SMMU has ATS.
      if (!target.ats) return illegal(stats);
      break;
    case CMDQ_OP_PRI_RESP:
      if (!target.pri) return illegal(stats);
      break;
    case CMDQ_OP_RESUME:
      break; // Terminate-only model: no transaction is ever stalled, so nothing to resume.
    case CMDQ_OP_CMD_SYNC:
      // Commands complete in order as they are consumed, so a SYNC completes at once (CS = SEV
      // signals an event, CS = IRQ would write an MSI the model does not deliver).
      stats.syncs++;
      break;
    default:
      return illegal(stats);
  }
  stats.byOpcode[op] = (stats.byOpcode[op] ?? 0) + 1;
  stats.entriesDropped += dropped;
  return true;
}

function illegal(stats: CommandStats): boolean {
  stats.illegal++;
  return false;
}
