/**
 * The driver writing device table entries (Linux `set_dte_entry`, `clear_dte_entry`,
 * `update_dte256`, `amd_iommu_update_dte`): the new entry is built whole, written as two 128-bit
 * halves ordered so the hardware never sees V = 1 with half-written translation fields (setting:
 * upper half first, V last; clearing V: lower half first), copied to every DMA alias, then
 * INVALIDATE_DEVTAB_ENTRY for each alias and one COMPLETION_WAIT. When the entry it replaced carried
 * a DomainID, that ID's IOTLB entries are flushed too.
 */
import { DTE_BYTES, type DteFields, decodeDte, encodeDte } from "../arch/dte.js";
import type { AmdDevData, AmdViContext } from "./context.js";
import { buildInvDte, flushTlbDomid } from "./flush.js";

/** The DTE the driver writes for a device's current domain (V = 1 only when none: blocked). */
export function dteFor(ctx: AmdViContext, dev: AmdDevData): Partial<DteFields> {
  const domain = dev.domain;
  if (domain === undefined || domain.kind === "blocked") return { v: true };
  // Identity (`set_dte_passthrough`): Mode 0 with IR/IW, DMA untranslated but tagged by DomainID.
  if (domain.kind === "identity") return { v: true, tv: true, ir: true, iw: true, domainId: domain.id };
  // Paging (`set_dte_v1`): TV, Mode, root, IR/IW, DomainID; Linux sets no dirty tracking here.
  return {
    v: true,
    tv: true,
    mode: ctx.mode,
    root: domain.table!.rootAddress,
    ir: true,
    iw: true,
    domainId: domain.id,
  };
}

/** Writes one DTE in memory in the V-safe order; returns the DomainID of the entry it replaced. */
export function writeDte(ctx: AmdViContext, deviceId: number, words: Uint32Array): number {
  const pa = ctx.devTableBase + deviceId * DTE_BYTES;
  const old = ctx.memory.read(pa, DTE_BYTES);
  const oldWords = new Uint32Array(old.buffer, old.byteOffset, 8);
  const oldFields = decodeDte(oldWords);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, DTE_BYTES);
  const lower = bytes.subarray(0, 16);
  const upper = bytes.subarray(16, 32);
  if (oldFields.v && (words[0]! & 1) === 0) {
    ctx.memory.write(pa, lower);
    ctx.memory.write(pa + 16, upper);
  } else {
    ctx.memory.write(pa + 16, upper);
    ctx.memory.write(pa, lower);
  }
  return oldFields.domainId;
}

/** Programs the device's DTE (and its aliases') for its current domain, flushes and waits. */
export function updateDte(ctx: AmdViContext, dev: AmdDevData): void {
  const words = encodeDte(dteFor(ctx, dev));
  let oldDomainId = 0;
  for (const id of dev.deviceIds) {
    const old = writeDte(ctx, id, words);
    if (id === dev.deviceId) oldDomainId = old;
  }
  for (const id of dev.deviceIds) ctx.cmd.queue(buildInvDte(id));
  ctx.cmd.completionWait();
  // A kdump kernel may inherit entries with live DomainIDs: never let their IOTLB entries survive.
  if (oldDomainId !== 0 && dev.domain !== undefined && dev.domain.kind !== "blocked")
    flushTlbDomid(ctx, oldDomainId);
}
