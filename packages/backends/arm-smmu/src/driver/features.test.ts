import { describe, expect, it } from "vitest";
import { encodeIdRegisters, MMU500_ID_DEFAULTS } from "../hardware/id-registers.js";
import { probeFeatures } from "./features.js";

const SZ_4K = 0x1000;
const SZ_16K = 0x4000;
const SZ_64K = 0x1_0000;
const SZ_1M = 0x10_0000;
const SZ_2M = 0x20_0000;
const SZ_16M = 0x100_0000;
const SZ_32M = 0x200_0000;
const SZ_512M = 0x2000_0000;
const SZ_1G = 0x4000_0000;

describe("arm_smmu_device_cfg_probe() from ID0/ID1/ID2", () => {
  it("encodes the MMU-500 defaults as the ID register fields say", () => {
    const id = encodeIdRegisters(MMU500_ID_DEFAULTS);
    // ID0: S1TS(30) S2TS(29) NTS(28) SMS(27) ATOSNS(26) | NUMIRPT=1 [23:16] | CTTW(14) |
    // NUMSIDB=15 [12:9] | NUMSMRG=32 [7:0] = 0x7c000000 | 0x10000 | 0x4000 | 0x1e00 | 0x20.
    expect(id.id0).toBe(0x7c01_5e20);
    // ID1: NUMPAGENDXB=3 [30:28] (16 pages before the banks) | NUMS2CB=0 | NUMCB=16.
    expect(id.id1).toBe(0x3000_0010);
    // ID2: PTFS_64K(14) PTFS_16K(13) PTFS_4K(12) | UBS=5 [11:8] | OAS=5 [7:4] | IAS=5 [3:0] (48 bits).
    expect(id.id2).toBe(0x7555);
  });
  it("derives the page sizes of every supported format (4K, 16K, 64K granules and short descriptors)", () => {
    const f = probeFeatures(encodeIdRegisters(MMU500_ID_DEFAULTS));
    expect(f.pgsizeBitmap).toBe(SZ_4K | SZ_64K | SZ_1M | SZ_16M | SZ_2M | SZ_1G | SZ_16K | SZ_32M | SZ_512M);
    expect(f).toMatchObject({
      stage1: true,
      stage2: true,
      numMappingGroups: 32,
      numContextBanks: 16,
      streamIdMask: 0x7fff,
      vaSize: 48,
      ipaSize: 48,
      paSize: 48,
    });
  });
  it("offers 4K|2M|1G for a 4K-only SMMU without AArch32 formats, 64K|512M for 64K-only", () => {
    const only = (granules: (4096 | 65536)[]) =>
      probeFeatures(
        encodeIdRegisters({ ...MMU500_ID_DEFAULTS, granules, aarch32Long: false, aarch32Short: false }),
      ).pgsizeBitmap;
    expect(only([4096])).toBe(SZ_4K | SZ_2M | SZ_1G);
    expect(only([65536])).toBe(SZ_64K | SZ_512M);
  });
  it("fails the probe like Linux: no stage, or more stage-2-only banks than banks", () => {
    const none = encodeIdRegisters({ ...MMU500_ID_DEFAULTS, stage1: false, stage2: false });
    expect(() => probeFeatures(none)).toThrow(expect.objectContaining({ code: "ENODEV" }));
    expect(probeFeatures(encodeIdRegisters(MMU500_ID_DEFAULTS), 2)).toMatchObject({
      stage1: false,
      stage2: true,
    });
  });
});
