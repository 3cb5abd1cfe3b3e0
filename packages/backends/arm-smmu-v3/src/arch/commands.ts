/**
 * SMMUv3 command-queue entries as four 32-bit words (hw-facts 4.1; Linux `CMDQ_*`,
 * `arm_smmu_cmdq_build_cmd`). The driver builds them and the hardware decodes them with numbers
 * only: the unmap path issues one per page without range invalidation.
 */

/** Bytes per command (`CMDQ_ENT_DWORDS` = 2). */
export const CMD_BYTES = 16;
/** `CMDQ_OP_PREFETCH_CFG`. */
export const CMDQ_OP_PREFETCH_CFG = 0x01;
/** `CMDQ_OP_CFGI_STE`. */
export const CMDQ_OP_CFGI_STE = 0x03;
/** `CMDQ_OP_CFGI_ALL` (CFGI_STE_RANGE with RANGE 31). */
export const CMDQ_OP_CFGI_ALL = 0x04;
/** `CMDQ_OP_CFGI_CD`. */
export const CMDQ_OP_CFGI_CD = 0x05;
/** `CMDQ_OP_CFGI_CD_ALL`. */
export const CMDQ_OP_CFGI_CD_ALL = 0x06;
/** `CMDQ_OP_TLBI_NH_ALL`. */
export const CMDQ_OP_TLBI_NH_ALL = 0x10;
/** `CMDQ_OP_TLBI_NH_ASID`. */
export const CMDQ_OP_TLBI_NH_ASID = 0x11;
/** `CMDQ_OP_TLBI_NH_VA`. */
export const CMDQ_OP_TLBI_NH_VA = 0x12;
/** `CMDQ_OP_TLBI_NH_VAA`. */
export const CMDQ_OP_TLBI_NH_VAA = 0x13;
/** `CMDQ_OP_TLBI_EL2_ALL`. */
export const CMDQ_OP_TLBI_EL2_ALL = 0x20;
/** `CMDQ_OP_TLBI_EL2_ASID`. */
export const CMDQ_OP_TLBI_EL2_ASID = 0x21;
/** `CMDQ_OP_TLBI_EL2_VA`. */
export const CMDQ_OP_TLBI_EL2_VA = 0x22;
/** `CMDQ_OP_TLBI_EL2_VAA`. */
export const CMDQ_OP_TLBI_EL2_VAA = 0x23;
/** `CMDQ_OP_TLBI_S12_VMALL`. */
export const CMDQ_OP_TLBI_S12_VMALL = 0x28;
/** `CMDQ_OP_TLBI_S2_IPA`. */
export const CMDQ_OP_TLBI_S2_IPA = 0x2a;
/** `CMDQ_OP_TLBI_NSNH_ALL`. */
export const CMDQ_OP_TLBI_NSNH_ALL = 0x30;
/** `CMDQ_OP_ATC_INV`. */
export const CMDQ_OP_ATC_INV = 0x40;
/** `CMDQ_OP_PRI_RESP`. */
export const CMDQ_OP_PRI_RESP = 0x41;
/** `CMDQ_OP_RESUME`. */
export const CMDQ_OP_RESUME = 0x44;
/** `CMDQ_OP_CMD_SYNC`. */
export const CMDQ_OP_CMD_SYNC = 0x46;
/** CMD_SYNC.CS = SEV (`CMDQ_SYNC_0_CS_SEV`), what Linux uses without MSIs. */
export const CMDQ_SYNC_CS_SEV = 2;
/** CMD_SYNC.CS = IRQ. */
export const CMDQ_SYNC_CS_IRQ = 1;
/** CMD_SYNC.CS = none. */
export const CMDQ_SYNC_CS_NONE = 0;
/** `CMDQ_TLBI_RANGE_NUM_MAX`: NUM is 5 bits. */
export const CMDQ_TLBI_RANGE_NUM_MAX = 31;

/** Names of the opcodes, for logs and dumps. */
export const CMDQ_OP_NAMES: Readonly<Record<number, string>> = {
  [CMDQ_OP_PREFETCH_CFG]: "PREFETCH_CFG",
  [CMDQ_OP_CFGI_STE]: "CFGI_STE",
  [CMDQ_OP_CFGI_ALL]: "CFGI_ALL",
  [CMDQ_OP_CFGI_CD]: "CFGI_CD",
  [CMDQ_OP_CFGI_CD_ALL]: "CFGI_CD_ALL",
  [CMDQ_OP_TLBI_NH_ALL]: "TLBI_NH_ALL",
  [CMDQ_OP_TLBI_NH_ASID]: "TLBI_NH_ASID",
  [CMDQ_OP_TLBI_NH_VA]: "TLBI_NH_VA",
  [CMDQ_OP_TLBI_NH_VAA]: "TLBI_NH_VAA",
  [CMDQ_OP_TLBI_EL2_ALL]: "TLBI_EL2_ALL",
  [CMDQ_OP_TLBI_EL2_ASID]: "TLBI_EL2_ASID",
  [CMDQ_OP_TLBI_EL2_VA]: "TLBI_EL2_VA",
  [CMDQ_OP_TLBI_EL2_VAA]: "TLBI_EL2_VAA",
  [CMDQ_OP_TLBI_S12_VMALL]: "TLBI_S12_VMALL",
  [CMDQ_OP_TLBI_S2_IPA]: "TLBI_S2_IPA",
  [CMDQ_OP_TLBI_NSNH_ALL]: "TLBI_NSNH_ALL",
  [CMDQ_OP_ATC_INV]: "ATC_INV",
  [CMDQ_OP_PRI_RESP]: "PRI_RESP",
  [CMDQ_OP_RESUME]: "RESUME",
  [CMDQ_OP_CMD_SYNC]: "CMD_SYNC",
};

/**
 * A command under construction, written in place into a word array at `at` (a multiple of 4):
 * words `at..at+3` = dw0 low, dw0 high, dw1 low, dw1 high.
 */
export function buildCommand(out: Uint32Array, at: number, opcode: number): void {
  out[at] = opcode;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
}

/** CFGI_STE: SID dw0[63:32], LEAF dw1[0]. */
export function buildCfgiSte(out: Uint32Array, at: number, sid: number, leaf: boolean): void {
  buildCommand(out, at, CMDQ_OP_CFGI_STE);
  out[at + 1] = sid >>> 0;
  out[at + 2] = leaf ? 1 : 0;
}

/** CFGI_CD: SSID dw0[31:12], SID dw0[63:32], LEAF dw1[0]. */
export function buildCfgiCd(out: Uint32Array, at: number, sid: number, ssid: number, leaf: boolean): void {
  buildCommand(out, at, CMDQ_OP_CFGI_CD);
  out[at] = (CMDQ_OP_CFGI_CD | (ssid << 12)) >>> 0;
  out[at + 1] = sid >>> 0;
  out[at + 2] = leaf ? 1 : 0;
}

/** CFGI_ALL: CFGI_STE_RANGE with RANGE dw1[4:0] = 31 (every StreamID), as Linux encodes it. */
export function buildCfgiAll(out: Uint32Array, at: number): void {
  buildCommand(out, at, CMDQ_OP_CFGI_ALL);
  out[at + 2] = 31;
}

/** TLBI_NH_ASID (VMID dw0[47:32], ASID dw0[63:48]) and friends that carry only tags. */
export function buildTlbiTags(
  out: Uint32Array,
  at: number,
  opcode: number,
  asid: number,
  vmid: number,
): void {
  buildCommand(out, at, opcode);
  out[at + 1] = ((asid << 16) | (vmid & 0xffff)) >>> 0;
}

/**
 * A TLBI by address (TLBI_NH_VA, TLBI_S2_IPA, ...): NUM dw0[16:12], SCALE dw0[24:20], VMID dw0[47:32],
 * ASID dw0[63:48]; LEAF dw1[0], TTL dw1[9:8], TG dw1[11:10], address dw1[63:12].
 */
export function buildTlbiRange(
  out: Uint32Array,
  at: number,
  opcode: number,
  asid: number,
  vmid: number,
  addr: number,
  leaf: boolean,
  num: number,
  scale: number,
  ttl: number,
  tg: number,
): void {
  out[at] = (opcode | (num << 12) | (scale << 20)) >>> 0;
  out[at + 1] = ((asid << 16) | (vmid & 0xffff)) >>> 0;
  out[at + 2] = (((addr >>> 0) & 0xffff_f000) | (tg << 10) | (ttl << 8) | (leaf ? 1 : 0)) >>> 0;
  out[at + 3] = Math.floor(addr / 0x1_0000_0000) >>> 0;
}

/** CMD_SYNC with CS dw0[13:12] (MSH/MSIATTR/MSIADDR zero: no MSI). */
export function buildCmdSync(out: Uint32Array, at: number, cs: number): void {
  buildCommand(out, at, CMDQ_OP_CMD_SYNC);
  out[at] = (CMDQ_OP_CMD_SYNC | (cs << 12)) >>> 0;
}
