import { describe, expect, it } from "vitest";
import {
  decodeAmdEvent,
  decodeAmdEventFlags,
  decodeSmmuFsr,
  decodeSmmuFsynr0,
  decodeSmmuV3Event,
  vtdFaultReason,
} from "./hw-records.js";

// Vectors from ../shared/reference/hw-facts.md section 5; these pin the local stop-gap decoders
// until @iommu-sim/hw provides them.
describe("record decoders (adapters over @iommu-sim/hw)", () => {
  it("decodes the SMMUv3 F_TRANSLATION write vector (hw-facts 5.1)", () => {
    const e = decodeSmmuV3Event([0x0000001000000010n, 0x0000020000000000n, 0x000000000dead000n, 0n]);
    expect(e).toEqual({
      id: 0x10,
      name: "F_TRANSLATION",
      sid: 0x10,
      ssv: false,
      ssid: 0,
      stag: 0,
      stall: false,
      privileged: false,
      instruction: false,
      read: false,
      s2: false,
      class: "IN",
      ttRead: false,
      inputAddr: 0xdead000n,
      ipa: 0n,
    });
  });
  it("decodes the SMMUv3 read-with-SSID-5 vector (hw-facts 5.1)", () => {
    const e = decodeSmmuV3Event([0x0000001000005810n, 0x0000020800000000n, 0n, 0n]);
    expect(e).toMatchObject({ ssv: true, ssid: 5, read: true, class: "IN" });
  });
  it("masks the SMMUv3 IPA to bits 51:12 and the fetch address to bits 51:3, per event", () => {
    const permission = decodeSmmuV3Event([0x13n, 0n, 0n, 0xfff0000080123abfn]);
    expect([permission.ipa, permission.fetchAddr]).toEqual([0x80123000n, undefined]);
    const cdFetch = decodeSmmuV3Event([0x09n, 0n, 0n, 0xfff0000080123abfn]);
    expect([cdFetch.ipa, cdFetch.fetchAddr]).toEqual([undefined, 0x80123ab8n]);
    const badSte = decodeSmmuV3Event([0x04n, 0n, 0n, 0xfff0000080123abfn]);
    expect([badSte.ipa, badSte.fetchAddr]).toEqual([undefined, undefined]);
    expect(decodeSmmuV3Event([0x0fn, 0n, 0n, 0n]).name).toBe("UNKNOWN");
  });
  it("looks up VT-d reasons in the legacy, interrupt-remapping and scalable ranges", () => {
    expect(vtdFaultReason(6)).toEqual({ text: "PTE Read access is not set", type: "dma-remap" });
    expect(vtdFaultReason(0x25)).toEqual({
      text: "Blocked a compatibility format interrupt request",
      type: "intr-remap",
    });
    expect(vtdFaultReason(0x86).text).toBe("SM: No read permission for Read/AtomicOp request");
    expect(vtdFaultReason(0x0e)).toEqual({ text: "Unknown", type: "unknown" });
    expect(vtdFaultReason(0x31)).toEqual({ text: "SM: TTM 0 for request with PASID", type: "dma-remap" });
  });
  it("decodes the AMD IO_PAGE_FAULT vector (hw-facts 5.3)", () => {
    expect(decodeAmdEvent([0x00000300, 0x2020000b, 0xfffff000, 0])).toEqual({
      code: 2,
      name: "IO_PAGE_FAULT",
      deviceId: 0x0300,
      domainOrPasid: 0xb,
      flags: 0x20,
      address: 0xfffff000n,
    });
    expect(decodeAmdEventFlags(0x1ff).names).toEqual(["GN", "NX", "US", "I", "PR", "RW", "PE", "RZ", "TR"]);
    expect(decodeAmdEventFlags(0x25)).toEqual({ names: ["GN", "US", "RW"], guest: true, write: true });
  });
  it("decodes SMMUv2 FSR and FSYNR0", () => {
    expect(decodeSmmuFsr(0x80000402)).toEqual({ names: ["TF", "MULTI"], format: 2, stalled: false });
    expect(decodeSmmuFsynr0(0x10050)).toEqual({
      level: 0,
      write: true,
      privileged: false,
      instruction: true,
      walk: false,
      s1cbndx: 1,
    });
  });
});
