/**
 * Stream mapping entries (SMR + S2CR pairs) as Linux's arm-smmu driver manages them: one entry per
 * firmware stream ID at probe, shared when an existing SMR already covers the ID, refused when it
 * only partly overlaps one (`arm_smmu_find_sme()`, `arm_smmu_master_alloc_smes()`,
 * `arm_smmu_master_free_smes()`, `arm_smmu_master_install_s2crs()`, `arm_smmu_write_sme()`).
 *
 * @module
 */
import { hex, type IommuDevice, IommuError } from "@iommu-sim/iommu";
import { Gr0, S2CR, SMR } from "../hardware/registers.js";
import { gr0Write, type SmmuDevice } from "./smmu-device.js";

/** What the driver hangs on a probed device (`struct arm_smmu_master_cfg`). */
export interface MasterCfg {
  readonly smmu: SmmuDevice;
  /** Stream IDs from the firmware (`fwspec->ids`): `ID[15:0]`, optional `MASK[31:16]`. */
  readonly ids: readonly number[];
  /** Stream mapping entry per ID (`smendx`). */
  readonly smendx: number[];
}

/** The master configuration of a device this driver probed, if any. */
export function masterCfg(device: IommuDevice): MasterCfg | undefined {
  const data = device.driverData as MasterCfg | undefined;
  return data !== undefined && typeof data === "object" && "smendx" in data ? data : undefined;
}

/** Writes SMR `idx` from its shadow (`arm_smmu_write_smr()`). */
export function writeSmr(smmu: SmmuDevice, idx: number): void {
  const smr = smmu.smrs[idx]!;
  const reg = (smr.id | (smr.mask << SMR.MASK_SHIFT) | (smr.valid ? SMR.VALID : 0)) >>> 0;
  gr0Write(smmu, Gr0.SMR_BASE + 4 * idx, reg);
}

/** Writes S2CR `idx` from its shadow (`arm_smmu_write_s2cr()`). */
export function writeS2cr(smmu: SmmuDevice, idx: number): void {
  const s2cr = smmu.s2crs[idx]!;
  const reg = (s2cr.type << S2CR.TYPE_SHIFT) | s2cr.cbndx | (s2cr.privcfg << S2CR.PRIVCFG_SHIFT);
  gr0Write(smmu, Gr0.S2CR_BASE + 4 * idx, reg >>> 0);
}

/** Writes S2CR then SMR `idx` (`arm_smmu_write_sme()`). */
export function writeSme(smmu: SmmuDevice, idx: number): void {
  writeS2cr(smmu, idx);
  if (smmu.smrs.length > 0) writeSmr(smmu, idx);
}

/**
 * The entry for stream `id` with `mask`: an existing SMR that entirely covers it, else the first
 * free one. Throws `EINVAL` when it partly overlaps an existing SMR (some stream ID would match
 * two) and `ENOSPC` when every SMR is in use.
 */
export function findSme(smmu: SmmuDevice, id: number, mask: number): number {
  if (smmu.smrs.length === 0) return id;
  let free = -1;
  for (let i = 0; i < smmu.smrs.length; i++) {
    const smr = smmu.smrs[i]!;
    if (!smr.valid) {
      if (free < 0) free = i;
      continue;
    }
    if ((mask & smr.mask) === mask && ((id ^ smr.id) & ~smr.mask) === 0) return i;
    if (((id ^ smr.id) & ~(smr.mask | mask)) === 0) {
      throw new IommuError(
        "EINVAL",
        `stream ${hex(id)} mask ${hex(mask)} conflicts with SMR${i} (id ${hex(smr.id)}, mask ${hex(smr.mask)})`,
      );
    }
  }
  if (free < 0) throw new IommuError("ENOSPC", `no free stream match register for stream ${hex(id)}`);
  return free;
}

/** Gives every stream ID of `cfg` an entry and writes them (`arm_smmu_master_alloc_smes()`). */
export function masterAllocSmes(cfg: MasterCfg): void {
  const smmu = cfg.smmu;
  const taken: number[] = [];
  try {
    for (const raw of cfg.ids) {
      const sid = raw & SMR.ID_MASK;
      const mask = (raw >>> SMR.MASK_SHIFT) & 0xffff;
      const idx = findSme(smmu, sid, mask);
      if (smmu.smrs.length > 0 && smmu.s2crs[idx]!.count === 0) {
        const smr = smmu.smrs[idx]!;
        smr.id = sid;
        smr.mask = mask;
        smr.valid = true;
      }
      smmu.s2crs[idx]!.count++;
      taken.push(idx);
    }
  } catch (error) {
    for (const idx of taken) freeSme(smmu, idx);
    throw error;
  }
  cfg.smendx.push(...taken);
  for (const idx of taken) writeSme(smmu, idx);
}

// Drops one user of entry `idx`; true when it became free (`arm_smmu_free_sme()`).
function freeSme(smmu: SmmuDevice, idx: number): boolean {
  const s2cr = smmu.s2crs[idx]!;
  if (--s2cr.count > 0) return false;
  s2cr.group = undefined;
  s2cr.type = smmu.s2crInitType;
  s2cr.privcfg = 0;
  s2cr.cbndx = 0;
  if (smmu.smrs.length > 0) smmu.smrs[idx]!.valid = false;
  return true;
}

/** Releases the entries of `cfg` and writes the freed ones back (`arm_smmu_master_free_smes()`). */
export function masterFreeSmes(cfg: MasterCfg): void {
  for (const idx of cfg.smendx) if (freeSme(cfg.smmu, idx)) writeSme(cfg.smmu, idx);
  cfg.smendx.length = 0;
}

/** Points every entry of `cfg` at `type` / `cbndx`, writing only changed S2CRs (`arm_smmu_master_install_s2crs()`). */
export function installS2crs(cfg: MasterCfg, type: number, cbndx: number): void {
  for (const idx of cfg.smendx) {
    const s2cr = cfg.smmu.s2crs[idx]!;
    if (s2cr.type === type && s2cr.cbndx === cbndx) continue;
    s2cr.type = type;
    s2cr.privcfg = 0;
    s2cr.cbndx = cbndx;
    writeS2cr(cfg.smmu, idx);
  }
}
