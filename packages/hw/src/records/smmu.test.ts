import { describe, expect, it } from "vitest";
import { u64sToRecord } from "./record-codec.js";
import {
  decodeSmmuCommand,
  encodeSmmuCommand,
  SMMU_COMMAND_LAYOUTS,
  type SmmuCommandName,
  smmuCommandDwords,
} from "./smmu-command.js";
import {
  decodeSmmuEvent,
  encodeSmmuEvent,
  SMMU_EVENT_IDS,
  type SmmuEventName,
  smmuEventDwords,
} from "./smmu-event.js";
import { smmuRangeInvalidationCommands } from "./smmu-range-invalidation.js";

const dw = (name: SmmuCommandName, fields: Record<string, number | bigint | boolean> = {}) =>
  smmuCommandDwords(encodeSmmuCommand(name, fields));

describe("SMMUv3 commands: hw-facts 4.1 vectors", () => {
  it("CFGI_STE sid 0x10 leaf", () => {
    expect(dw("CFGI_STE", { sid: 0x10, leaf: true })).toEqual([0x0000001000000003n, 0x1n]);
  });
  it("TLBI_S12_VMALL vmid 5", () => {
    expect(dw("TLBI_S12_VMALL", { vmid: 5 })).toEqual([0x0000000500000028n, 0n]);
  });
  it("TLBI_NH_ASID asid 1", () => {
    expect(dw("TLBI_NH_ASID", { asid: 1 })).toEqual([0x0001000000000011n, 0n]);
  });
  it("CMD_SYNC CS=SEV", () => {
    expect(dw("CMD_SYNC", { cs: 2 })).toEqual([0x0000000000002046n, 0n]);
  });
  it("CFGI_ALL defaults RANGE to 31", () => {
    expect(dw("CFGI_ALL")).toEqual([0x04n, 31n]);
  });
  it("hand-computed words of the remaining layouts", () => {
    // TLBI_NH_VA: NUM 3 [16:12], SCALE 2 [24:20], VMID 7 [47:32], ASID 9 [63:48]; LEAF, TTL 3, TG 1, ADDR.
    expect(
      dw("TLBI_NH_VA", { num: 3, scale: 2, vmid: 7, asid: 9, leaf: true, ttl: 3, tg: 1, addr: 0xdead000n }),
    ).toEqual([0x0009_0007_0020_3012n, 0x0dead701n]);
    expect(dw("TLBI_S2_IPA", { vmid: 1, addr: 0xf_ffff_f000n })).toEqual([
      0x0000_0001_0000_002an,
      0xf_ffff_f000n,
    ]);
    expect(dw("CFGI_CD", { ssid: 0xfffff, sid: 3, leaf: 1 })).toEqual([0x0000_0003_ffff_f005n, 1n]);
    expect(dw("ATC_INV", { ssv: true, ssid: 1, sid: 2, global: true, size: 52, addr: 0x1000n })).toEqual([
      0x0000_0002_0000_1a40n,
      0x1034n,
    ]);
    expect(dw("PRI_RESP", { ssv: 1, ssid: 2, sid: 3, grpid: 0x1ff, resp: 1 })).toEqual([
      0x0000_0003_0000_2841n,
      0x11ffn,
    ]);
    expect(dw("RESUME", { resp: 1, sid: 4, stag: 0xbeef })).toEqual([0x0000_0004_0000_1044n, 0xbeefn]);
    expect(dw("CMD_SYNC", { cs: 1, msh: 3, msiattr: 0xf, msidata: 0x1234, msiaddr: 0xfee0_0004n })).toEqual([
      0x0000_1234_0fc0_1046n,
      0xfee0_0004n,
    ]);
    expect(dw("PREFETCH_CFG", { sid: 1, size: 31, addr: 0x5000n })).toEqual([
      0x0000_0001_0000_0001n,
      0x501fn,
    ]);
    expect(dw("TLBI_EL2_ASID", { asid: 0xffff })).toEqual([0xffff_0000_0000_0021n, 0n]);
    expect(dw("TLBI_NSNH_ALL")).toEqual([0x30n, 0n]);
  });

  it("every command round-trips", () => {
    for (const l of SMMU_COMMAND_LAYOUTS) {
      const fields: Record<string, number | bigint | boolean> = {};
      for (const f of l.fields) {
        const max = (1n << BigInt(f.highBit)) - (1n << BigInt(f.lowBit));
        fields[f.name] = f.kind === "boolean" ? true : f.kind === "number" ? Number(max) : max;
      }
      const bytes = encodeSmmuCommand(l.name as SmmuCommandName, fields);
      expect(bytes.length).toBe(16);
      expect(decodeSmmuCommand(bytes)).toEqual({ name: l.name, code: l.code, fields });
    }
  });

  it("refuses bad values, truncated and malformed commands with EINVAL", () => {
    const einval = expect.objectContaining({ code: "EINVAL" });
    expect(() => encodeSmmuCommand("TLBI_NH_ASID", { asid: 0x1_0000 })).toThrow(
      /asid = 0x10000 does not fit 16 bits/,
    );
    expect(() => encodeSmmuCommand("TLBI_NH_VA", { addr: 0x1234n })).toThrow(einval);
    expect(() => encodeSmmuCommand("CFGI_STE", { vmid: 1 })).toThrow(/has no field "vmid"/);
    expect(() => decodeSmmuCommand(new Uint8Array(15))).toThrow(/must be 16 bytes, got 15 bytes/);
    expect(() => decodeSmmuCommand(u64sToRecord([0x02n, 0n]))).toThrow(/code 0x2 is reserved/);
    // CFGI_STE with a VMID-position bit set: reserved for this opcode.
    expect(() => decodeSmmuCommand(u64sToRecord([0x03n | (1n << 20n), 0n]))).toThrow(
      /reserved bits set: 0x100000/,
    );
    expect(decodeSmmuCommand(u64sToRecord([0x03n | (1n << 20n), 0n]), { strict: false }).name).toBe(
      "CFGI_STE",
    );
  });
});

describe("__arm_smmu_tlb_inv_range", () => {
  const base = { asid: 1, vmid: 0, pgsizeBitmap: 0x4020_1000, leaf: true } as const;
  const words = (cmds: ReturnType<typeof smmuRangeInvalidationCommands>) =>
    cmds.map((c) => smmuCommandDwords(encodeSmmuCommand(c.name, c.fields)));

  it("0x10000 + 0x21000 (33 pages), leaf, RIL: two commands", () => {
    expect(
      words(smmuRangeInvalidationCommands({ ...base, iova: 0x10000, size: 0x21000, granule: 0x1000 })),
    ).toEqual([
      [0x0001000000000012n, 0x0000000000010701n],
      [0x0001000000500012n, 0x0000000000011701n],
    ]);
  });

  it("one 2M block: TTL 2, SCALE 9, NUM 0", () => {
    expect(
      words(smmuRangeInvalidationCommands({ ...base, iova: 0x200000, size: 0x200000, granule: 0x200000 })),
    ).toEqual([[0x0001000000900012n, 0x0000000000200601n]]);
  });

  it("without RIL: one command per granule, TG = TTL = 0", () => {
    expect(
      words(
        smmuRangeInvalidationCommands({ ...base, ril: false, iova: 0x10000, size: 0x1000, granule: 0x1000 }),
      ),
    ).toEqual([[0x0001000000000012n, 0x0000000000010001n]]);
    expect(
      smmuRangeInvalidationCommands({ ...base, ril: false, iova: 0, size: 0x3000, granule: 0x1000 }),
    ).toHaveLength(3);
  });

  it("non-leaf: no TTL, and a page count with low bits 1 grows by one (erratum)", () => {
    // 1 page -> 2 pages: SCALE 1, NUM 0 (never TTL = SCALE = NUM = 0).
    const one = smmuRangeInvalidationCommands({
      ...base,
      leaf: false,
      iova: 0x10000,
      size: 0x1000,
      granule: 0x1000,
    });
    expect(one.map((c) => c.fields)).toEqual([
      { asid: 1, vmid: 0, num: 0, scale: 1, ttl: 0, tg: 1, leaf: false, addr: 0x10000n },
    ]);
    // 33 pages -> 34: SCALE 1, NUM 16 (17 x 2 pages), one command.
    const many = smmuRangeInvalidationCommands({
      ...base,
      leaf: false,
      iova: 0x10000,
      size: 0x21000,
      granule: 0x1000,
    });
    expect(many.map((c) => [c.fields.scale, c.fields.num])).toEqual([[1, 16]]);
  });

  it("stage 2 by IPA carries the VMID only; 64K granule gives TG 3", () => {
    const s2 = smmuRangeInvalidationCommands({
      op: "TLBI_S2_IPA",
      vmid: 5,
      iova: 0x10000,
      size: 0x10000,
      granule: 0x10000,
      leaf: true,
      pgsizeBitmap: 0x2001_0000,
    });
    expect(s2[0]?.fields).toEqual({ vmid: 5, num: 0, scale: 0, ttl: 3, tg: 3, leaf: true, addr: 0x10000n });
  });
});

describe("SMMUv3 events: hw-facts 5.1 vectors", () => {
  it("F_TRANSLATION, SID 0x10, S1 write to 0xdead000, CLASS=IN", () => {
    const bytes = encodeSmmuEvent("F_TRANSLATION", { sid: 0x10, class: 2, inputAddr: 0xdead000n });
    expect(smmuEventDwords(bytes)).toEqual([
      0x0000001000000010n,
      0x0000020000000000n,
      0x000000000dead000n,
      0n,
    ]);
    expect(decodeSmmuEvent(bytes).fields).toMatchObject({
      sid: 0x10,
      rnw: false,
      class: 2,
      inputAddr: 0xdead000n,
    });
  });

  it("the same as a read with SSID 5", () => {
    const bytes = encodeSmmuEvent("F_TRANSLATION", {
      sid: 0x10,
      ssv: 1,
      ssid: 5,
      rnw: 1,
      class: 2,
      inputAddr: 0xdead000n,
    });
    expect(smmuEventDwords(bytes).slice(0, 2)).toEqual([0x0000001000005810n, 0x0000020800000000n]);
  });

  it("stage-2 faults carry the IPA, fetch faults the fetch address", () => {
    const s2 = encodeSmmuEvent("F_PERMISSION", {
      sid: 1,
      s2: 1,
      class: 1,
      ttRead: 1,
      inputAddr: 0x1000n,
      ipa: 0x8_0000_0000n,
    });
    expect(smmuEventDwords(s2)).toEqual([
      0x0000_0001_0000_0013n,
      0x0000_1180_0000_0000n,
      0x1000n,
      0x8_0000_0000n,
    ]);
    const fetch = encodeSmmuEvent("F_STE_FETCH", { sid: 7, fetchAddr: 0x4000_0048n });
    expect(smmuEventDwords(fetch)[3]).toBe(0x4000_0048n);
    expect(decodeSmmuEvent(fetch).fields.fetchAddr).toBe(0x4000_0048n);
    expect(() => encodeSmmuEvent("C_BAD_STE", { ipa: 0x1000n })).toThrow(/has no field "ipa"/);
  });

  it("every event ID round-trips by name", () => {
    for (const [name, id] of Object.entries(SMMU_EVENT_IDS) as [SmmuEventName, number][]) {
      const bytes = encodeSmmuEvent(name, {
        sid: 0xffff_ffff,
        ssv: true,
        ssid: 0xfffff,
        stag: 0xffff,
        stall: true,
        inputAddr: 0xffff_ffff_ffff_ffffn,
      });
      expect(decodeSmmuEvent(bytes)).toMatchObject({
        name,
        code: id,
        fields: { sid: 0xffff_ffff, ssid: 0xfffff, stall: true },
      });
    }
  });

  it("refuses truncated records and undefined event IDs; reserved bits only when strict", () => {
    expect(() => decodeSmmuEvent(new Uint8Array(16))).toThrow(/must be 32 bytes/);
    expect(() => decodeSmmuEvent(u64sToRecord([0x0cn, 0n, 0n, 0n]))).toThrow(
      expect.objectContaining({ code: "EINVAL", message: expect.stringMatching(/0xc is reserved/) }),
    );
    const odd = u64sToRecord([0x10n, 1n << 50n, 0n, 0n]);
    expect(decodeSmmuEvent(odd).name).toBe("F_TRANSLATION");
    expect(() => decodeSmmuEvent(odd, { strict: true })).toThrow(/reserved bits/);
  });
});
