/**
 * The command list Linux emits for an SMMUv3 TLB range invalidation (`__arm_smmu_tlb_inv_range`,
 * hw-facts 4.1), with and without range invalidation (IDR3.RIL), leaf TTL hints and the erratum
 * tweak that avoids TTL = SCALE = NUM = 0.
 */
import { toNumber } from "../address.js";
import { HwError } from "../errors.js";
import type { SmmuCommand, SmmuCommandName } from "./smmu-command.js";

/** Options of {@link smmuRangeInvalidationCommands}. */
export interface SmmuRangeInvalidationOptions {
  /** Which invalidation: stage-1 by ASID (NH_VA), all ASIDs (NH_VAA), EL2, or stage 2 by IPA. @default "TLBI_NH_VA" */
  op?: Extract<
    SmmuCommandName,
    "TLBI_NH_VA" | "TLBI_NH_VAA" | "TLBI_EL2_VA" | "TLBI_EL2_VAA" | "TLBI_S2_IPA"
  >;
  /** First address. */
  iova: bigint | number;
  /** Bytes to invalidate. */
  size: bigint | number;
  /** Size of the leaf entries being invalidated (`granule`; 4K, 2M, 1G ... for a 4K table). */
  granule: bigint | number;
  /** Only leaf entries changed (`leaf`): sets LEAF and the TTL hint. */
  leaf: boolean;
  /** The domain's page sizes (`pgsize_bitmap`); its lowest set bit is the translation granule. */
  pgsizeBitmap: bigint | number;
  /** The SMMU supports range invalidation (IDR3.RIL, `ARM_SMMU_FEAT_RANGE_INV`). @default true */
  ril?: boolean;
  asid?: number;
  vmid?: number;
}

function ffs(x: number): number {
  // Index of the lowest set bit (the kernel's __ffs); x > 0.
  let n = 0;
  while (x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

/**
 * The TLBI commands (not yet encoded; pass each to `encodeSmmuCommand(cmd.name, cmd.fields)`)
 * Linux issues for one range. With RIL: TG = (tg - 10) / 2, leaf TTL = 4 - ((log2(granule) - 3) /
 * (tg - 3)), then chunks of NUM+1 x 2^SCALE pages; a non-leaf range whose page count has low five
 * bits equal to 1 is grown by one page (erratum: never TTL = SCALE = NUM = 0). Without RIL: one
 * command per `granule` with TG = TTL = NUM = SCALE = 0. A trailing CMD_SYNC is the caller's.
 * `EINVAL` for a granule or size that is not a whole number of translation granules.
 */
export function smmuRangeInvalidationCommands(options: SmmuRangeInvalidationOptions): SmmuCommand[] {
  const name = options.op ?? "TLBI_NH_VA";
  let iova = toNumber(options.iova, "iova");
  const size = toNumber(options.size, "size");
  const granule = toNumber(options.granule, "granule");
  const bitmap = toNumber(options.pgsizeBitmap, "pgsizeBitmap");
  if (bitmap === 0) throw new HwError("EINVAL", "pgsizeBitmap is empty");
  if (granule <= 0 || !Number.isInteger(Math.log2(granule)))
    throw new HwError("EINVAL", `granule ${granule} is not a power of two`);
  const end = iova + size;
  const tags: Record<string, number> = {};
  if (name === "TLBI_NH_VA" || name === "TLBI_EL2_VA") tags.asid = options.asid ?? 0;
  if (name !== "TLBI_EL2_VA" && name !== "TLBI_EL2_VAA") tags.vmid = options.vmid ?? 0;
  const out: SmmuCommand[] = [];
  const code = {
    TLBI_NH_VA: 0x12,
    TLBI_NH_VAA: 0x13,
    TLBI_EL2_VA: 0x22,
    TLBI_EL2_VAA: 0x23,
    TLBI_S2_IPA: 0x2a,
  }[name];
  const emit = (addr: number, f: Record<string, number | boolean>) =>
    out.push({ name, code, fields: { ...tags, ...f, leaf: options.leaf, addr: BigInt(addr) } });

  if (options.ril ?? true) {
    const tg = ffs(bitmap);
    if (tg < 12 || tg > 16 || tg % 2 !== 0)
      throw new HwError("EINVAL", `translation granule 2^${tg} is not 4K, 16K or 64K`);
    const TG = (tg - 10) / 2;
    let numPages = Math.floor(size / 2 ** tg);
    let TTL = 0;
    if (options.leaf) TTL = 4 - Math.floor((Math.log2(granule) - 3) / (tg - 3));
    else if (numPages % 32 === 1) numPages++;
    while (iova < end && numPages > 0) {
      const SCALE = ffs(numPages);
      const n = Math.floor(numPages / 2 ** SCALE) % 32;
      const rangeBytes = n * 2 ** (SCALE + tg);
      emit(iova, { num: n - 1, scale: SCALE, ttl: TTL, tg: TG });
      numPages -= n * 2 ** SCALE;
      iova += rangeBytes;
    }
  } else {
    for (; iova < end; iova += granule) emit(iova, { num: 0, scale: 0, ttl: 0, tg: 0 });
  }
  return out;
}
