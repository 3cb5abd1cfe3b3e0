/**
 * Reserved regions of a device (Linux `amd_iommu_get_resv_regions`): the IVRS unity maps (IVMD
 * entries) covering its DeviceID as `direct` (or `reserved` for exclusion ranges), the interrupt
 * (MSI) window 0xfee00000-0xfeefffff as `msi`, and the HyperTransport range
 * 0xfd_0000_0000-0xff_ffff_ffff as `reserved` (unless the platform ignores it).
 */
import { IOMMU_READ, IOMMU_WRITE, IommuError, type ResvRegionSpec } from "@iommu-sim/iommu";

/** An IVRS IVMD entry: memory a range of devices needs identity-mapped (or excluded). */
export interface AmdUnityMap {
  /** First address; rounded up to a page as Linux's IVMD parser does. */
  start: number | bigint;
  /** Length in bytes; rounded up to pages. */
  length: number | bigint;
  /** IR: reads allowed. @default true */
  read?: boolean;
  /** IW: writes allowed. @default true */
  write?: boolean;
  /** The entry is an exclusion range (`IOMMU_UNITY_MAP_FLAG_EXCL_RANGE`): reported as `reserved`. @default false */
  exclusion?: boolean;
  /** First DeviceID covered. @default 0 */
  firstDeviceId?: number;
  /** Last DeviceID covered. @default 0xffff */
  lastDeviceId?: number;
}

/** The interrupt address window (`MSI_RANGE_START`..`MSI_RANGE_END`). */
export const AMD_MSI_RANGE = { start: 0xfee0_0000, end: 0xfeef_ffff } as const;
/** The HyperTransport reserved range (`HT_RANGE_START`..`HT_RANGE_END`). */
export const AMD_HT_RANGE = { start: 0xfd_0000_0000, end: 0xff_ffff_ffff } as const;

const pageAlign = (x: number) => Math.ceil(x / 4096) * 4096;

/** Validates unity maps once, at driver creation. `EINVAL` names the bad entry. */
export function checkUnityMaps(maps: readonly AmdUnityMap[]): void {
  maps.forEach((m, i) => {
    const start = Number(m.start);
    const length = Number(m.length);
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length <= 0)
      throw new IommuError(
        "EINVAL",
        `unity map ${i}: start ${m.start} / length ${m.length} are not a valid range`,
      );
    const first = m.firstDeviceId ?? 0;
    const last = m.lastDeviceId ?? 0xffff;
    if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 0 && last <= 0xffff && first <= last))
      throw new IommuError(
        "EINVAL",
        `unity map ${i}: device range ${first}..${last} is not within 0..0xffff`,
      );
  });
}

/** The regions of the device with `deviceId`, in Linux's order. */
export function amdResvRegions(
  deviceId: number,
  unityMaps: readonly AmdUnityMap[],
  htRangeIgnore: boolean,
): ResvRegionSpec[] {
  const out: ResvRegionSpec[] = [];
  for (const m of unityMaps) {
    if (deviceId < (m.firstDeviceId ?? 0) || deviceId > (m.lastDeviceId ?? 0xffff)) continue;
    const start = pageAlign(Number(m.start));
    const prot = ((m.read ?? true) ? IOMMU_READ : 0) | ((m.write ?? true) ? IOMMU_WRITE : 0);
    out.push({ start, length: pageAlign(Number(m.length)), prot, type: m.exclusion ? "reserved" : "direct" });
  }
  out.push({
    start: AMD_MSI_RANGE.start,
    length: AMD_MSI_RANGE.end - AMD_MSI_RANGE.start + 1,
    prot: 0,
    type: "msi",
  });
  if (!htRangeIgnore) {
    out.push({
      start: AMD_HT_RANGE.start,
      length: AMD_HT_RANGE.end - AMD_HT_RANGE.start + 1,
      prot: 0,
      type: "reserved",
    });
  }
  return out;
}
