import { describe, expect, it } from "vitest";
import {
  VFIO_API_VERSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VfioExtension,
  VfioIoctl,
} from "../uapi/constants.js";
import { ERRNO } from "../uapi/errno.js";
import { IommufdIoctl } from "../uapi/iommufd-constants.js";
import { IOMMU_OPTION_HUGE_PAGES } from "../uapi/iommufd-option.js";
import {
  encodeIommuVfioIoas,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
} from "../uapi/iommufd-vfio-ioas.js";
import { encodeVfioDmaMap, encodeVfioDmaUnmap } from "../uapi/structs.js";
import { iommufdSetup, outU32, outU64, P } from "./test-iommufd.js";

type Fd = ReturnType<typeof iommufdSetup>["fd"];
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

const vfioIoas = (fd: Fd, op: number, ioasId = 0) =>
  fd.ioctl(IommufdIoctl.VFIO_IOAS, encodeIommuVfioIoas({ size: 12, ioasId, op }));
const mapDma = (
  fd: Fd,
  vaddr: bigint,
  iova: bigint,
  size: bigint,
  o: { argsz?: number; flags?: number } = {},
) =>
  fd.ioctl(
    VfioIoctl.IOMMU_MAP_DMA,
    encodeVfioDmaMap({ argsz: o.argsz ?? 32, flags: o.flags ?? RW, vaddr, iova, size }),
  );
const unmapDma = (fd: Fd, iova: bigint, size: bigint, o: { argsz?: number; flags?: number } = {}) =>
  fd.ioctl(
    VfioIoctl.IOMMU_UNMAP_DMA,
    encodeVfioDmaUnmap({ argsz: o.argsz ?? 24, flags: o.flags ?? 0, iova, size }),
  );
const getInfo = (fd: Fd, argsz: number, room = 128) => {
  const buf = new Uint8Array(room).fill(0xaa);
  new DataView(buf.buffer).setUint32(0, argsz, true);
  return fd.ioctl(VfioIoctl.IOMMU_GET_INFO, buf);
};

/** A context whose compat IOAS is the device's IOAS. */
function compat(o: { huge?: boolean; pages?: bigint } = {}) {
  const s = iommufdSetup(o);
  expect(vfioIoas(s.fd, IOMMU_VFIO_IOAS_SET, s.ioas).ret).toBe(0);
  return s;
}

describe("VFIO compat on a bare /dev/iommu (5.10.30)", () => {
  it("API version and TYPE1v2 extension; argsz 1 and flags 1<<31 EINVAL; valid calls ENODEV", () => {
    const { fd, buffer } = iommufdSetup({ ioas: false });
    expect(fd.ioctl(VfioIoctl.GET_API_VERSION).ret).toBe(VFIO_API_VERSION);
    expect(fd.ioctl(VfioIoctl.CHECK_EXTENSION, VfioExtension.TYPE1v2_IOMMU).ret).toBe(1);
    expect(fd.ioctl(VfioIoctl.CHECK_EXTENSION, VfioExtension.TYPE1_IOMMU).ret).toBe(1);
    expect(fd.ioctl(VfioIoctl.CHECK_EXTENSION, VfioExtension.UPDATE_VADDR).ret).toBe(0);
    expect(unmapDma(fd, 0n, P, { argsz: 1 }).ret).toBe(-ERRNO.EINVAL);
    expect(mapDma(fd, buffer, 0n, P, { argsz: 1 }).ret).toBe(-ERRNO.EINVAL);
    expect(getInfo(fd, 1).ret).toBe(-ERRNO.EINVAL);
    expect(unmapDma(fd, 0n, P, { flags: 1 << 31 }).ret).toBe(-ERRNO.EINVAL);
    expect(mapDma(fd, buffer, 0n, P, { flags: 1 << 31 }).ret).toBe(-ERRNO.EINVAL);
    expect(unmapDma(fd, 0n, P).ret).toBe(-ERRNO.ENODEV);
    expect(mapDma(fd, buffer, 0n, P).ret).toBe(-ERRNO.ENODEV);
    expect(getInfo(fd, 24).ret).toBe(-ERRNO.ENODEV);
    expect(fd.ioctl(VfioIoctl.SET_IOMMU, VfioExtension.TYPE1v2_IOMMU).ret).toBe(-ERRNO.ENODEV);
    expect(fd.ioctl(VfioIoctl.SET_IOMMU, VfioExtension.TYPE1_IOMMU).ret).toBe(-ERRNO.ENODEV);
    expect(fd.ioctl(VfioIoctl.SET_IOMMU, VfioExtension.SPAPR_TCE_IOMMU).ret).toBe(-ERRNO.EINVAL);
    expect(fd.ioctl(VfioIoctl.IOMMU_DIRTY_PAGES, new Uint8Array(8)).ret).toBe(-ERRNO.ENOTTY);
  });
});

describe("IOMMU_VFIO_IOAS (5.10.31)", () => {
  it("GET with none ENODEV; SET 0 ENOENT; SET then GET the same id; CLEAR then GET ENODEV", () => {
    const { fd, ioas, devId } = iommufdSetup();
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_GET).ret).toBe(-ERRNO.ENODEV);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_SET, 0).ret).toBe(-ERRNO.ENOENT);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_SET, devId!).ret).toBe(-ERRNO.ENOENT);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_GET).ret).toBe(-ERRNO.ENODEV);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_SET, ioas).ret).toBe(0);
    const got = vfioIoas(fd, IOMMU_VFIO_IOAS_GET);
    expect([got.ret, outU32(got.out, 4)]).toEqual([0, ioas]);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_CLEAR).ret).toBe(0);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_GET).ret).toBe(-ERRNO.ENODEV);
    expect(vfioIoas(fd, 3).ret).toBe(-ERRNO.EOPNOTSUPP);
  });

  it("destroying the compat IOAS forgets it", () => {
    const { fd } = iommufdSetup({ domain: false });
    const other = fd.ioasAlloc();
    fd.vfioIoas(IOMMU_VFIO_IOAS_SET, other);
    fd.destroy(other);
    expect(vfioIoas(fd, IOMMU_VFIO_IOAS_GET).ret).toBe(-ERRNO.ENODEV);
  });
});

describe("compat GET_INFO argsz protocol (5.10.32)", () => {
  // Two capabilities: DMA_AVAIL (12 bytes, padded to 16) at 24, IOVA_RANGE (16 + 16) at 40.
  const TOTAL = 24 + 16 + 32;

  it("argsz 16: flags PGSIZES|CAPS and nothing written past argsz; argsz 24: cap_offset 0 and argsz grows", () => {
    const { fd } = compat();
    const short = getInfo(fd, 16);
    expect(short.ret).toBe(0);
    expect(outU32(short.out, 4)).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
    expect(outU32(short.out, 0)).toBe(TOTAL);
    expect(outU64(short.out, 8) & P).toBe(P);
    expect([...short.out.subarray(16)].every((b) => b === 0xaa)).toBe(true);
    const header = getInfo(fd, 24);
    expect([outU32(header.out, 0), outU32(header.out, 16)]).toEqual([TOTAL, 0]);
    expect([...header.out.subarray(24)].every((b) => b === 0xaa)).toBe(true);
  });

  it("every argsz up to the full size yields a consistent prefix of the chain; the full one has both caps", () => {
    const { fd } = compat();
    const aperture = 2n ** 40n - 1n;
    for (let argsz = 16; argsz <= TOTAL + 8; argsz++) {
      const { ret, out } = getInfo(fd, argsz);
      expect(ret).toBe(0);
      const dv = new DataView(out.buffer);
      expect([...out.subarray(Math.max(argsz, 24))].every((b) => b === 0xaa)).toBe(true);
      expect(outU32(out, 0)).toBe(TOTAL);
      if (argsz >= 24) expect(outU32(out, 16)).toBe(argsz >= TOTAL ? 24 : 0);
      if (argsz >= 24 + 12) {
        // DMA_AVAIL: exactly its 12 bytes; its padding is never written.
        expect([dv.getUint16(24, true), dv.getUint16(26, true), outU32(out, 32)]).toEqual([
          3, 1, 0xffff_ffff,
        ]);
        expect(outU32(out, 28)).toBe(argsz >= 40 ? 40 : 0);
        if (argsz >= 40) expect([...out.subarray(36, 40)]).toEqual([0xaa, 0xaa, 0xaa, 0xaa]);
      } else {
        expect(out[24] ?? 0xaa).toBe(0xaa);
      }
      if (argsz >= TOTAL) {
        expect([dv.getUint16(40, true), outU32(out, 44), outU32(out, 48)]).toEqual([1, 0, 1]);
        expect([outU64(out, 56), outU64(out, 64)]).toEqual([0n, aperture]);
      }
    }
  });
});

describe("compat MAP_DMA / UNMAP_DMA (5.10.33)", () => {
  it("map then unmap the same range reports its size; UNMAP_ALL needs iova and size 0", () => {
    const { fd, buffer, device, m } = compat();
    const size = 16n * P;
    expect(mapDma(fd, buffer, 0x10_0000n, size).ret).toBe(0);
    expect(m.core.deviceDma(device, { iova: 0x10_0000n, length: 1, write: false }).ok).toBe(true);
    const un = unmapDma(fd, 0x10_0000n, size);
    expect([un.ret, outU64(un.out, 16)]).toEqual([0, size]);
    expect(mapDma(fd, buffer, 0x10_0000n, size).ret).toBe(0);
    expect(unmapDma(fd, 0x10_0000n, size, { flags: VFIO_DMA_UNMAP_FLAG_ALL }).ret).toBe(-ERRNO.EINVAL);
    expect(unmapDma(fd, 0n, size, { flags: VFIO_DMA_UNMAP_FLAG_ALL }).ret).toBe(-ERRNO.EINVAL);
    expect(unmapDma(fd, 0x10_0000n, 0n, { flags: VFIO_DMA_UNMAP_FLAG_ALL }).ret).toBe(-ERRNO.EINVAL);
    expect(fd.ioas(fd.vfioIoas(IOMMU_VFIO_IOAS_GET)).areas()).toHaveLength(1);
    const all = unmapDma(fd, 0n, 0n, { flags: VFIO_DMA_UNMAP_FLAG_ALL });
    expect([all.ret, outU64(all.out, 16)]).toEqual([0, size]);
    expect(m.core.deviceDma(device, { iova: 0x10_0000n, length: 1, write: false }).ok).toBe(false);
  });

  it("16 single-page maps unmap in a shuffled order; an overlapping map is EEXIST", () => {
    const { fd, buffer, ioas } = compat();
    const base = 0x20_0000n;
    for (let i = 0n; i < 16n; i++) expect(mapDma(fd, buffer + i * P, base + i * P, P).ret).toBe(0);
    expect(mapDma(fd, buffer, base, P).ret).toBe(-ERRNO.EEXIST);
    const order = [7, 3, 12, 0, 15, 9, 1, 14, 5, 10, 2, 8, 13, 4, 11, 6];
    for (const i of order) {
      const r = unmapDma(fd, base + BigInt(i) * P, P);
      expect([r.ret, outU64(r.out, 16)]).toEqual([0, P]);
    }
    expect(fd.ioas(ioas).areas()).toEqual([]);
  });

  it("MAP_DMA with the VADDR flag is EINVAL; unmap of nothing ENOENT", () => {
    const { fd, buffer } = compat();
    expect(mapDma(fd, buffer, 0n, P, { flags: RW | 4 }).ret).toBe(-ERRNO.EINVAL);
    expect(unmapDma(fd, 0x40_0000n, P).ret).toBe(-ERRNO.ENOENT);
  });
});

describe("compat TYPE1 versus TYPE1v2 partial unmaps of a huge-page buffer (5.10.34)", () => {
  const HUGE = 2n * 1024n * 1024n;
  const BUF = 2n * HUGE;
  const IOVA = 0x4000_0000n;

  it("TYPE1 disables huge pages and each 1/16 unmap succeeds; the rest stays reachable", () => {
    const { fd, ioas, buffer, device, m } = compat({ huge: true, pages: 2048n });
    expect(fd.ioctl(VfioIoctl.SET_IOMMU, VfioExtension.TYPE1_IOMMU).ret).toBe(0);
    expect(fd.getOption(IOMMU_OPTION_HUGE_PAGES, ioas)).toBe(0n);
    expect(mapDma(fd, buffer, IOVA, BUF).ret).toBe(0);
    const chunk = BUF / 16n;
    for (let i = 0n; i < 16n; i++) {
      const r = unmapDma(fd, IOVA + i * chunk, chunk);
      expect([r.ret, outU64(r.out, 16)]).toEqual([0, chunk]);
      expect(m.core.deviceDma(device, { iova: IOVA + i * chunk, length: 1, write: false }).ok).toBe(false);
      if (i < 15n) {
        expect(m.core.deviceDma(device, { iova: IOVA + (i + 1n) * chunk, length: 1, write: false }).ok).toBe(
          true,
        );
      }
    }
    expect(fd.ioas(ioas).areas()).toEqual([]);
  });

  it("TYPE1v2 keeps huge pages and a 1/16 unmap is ENOENT, leaving the mapping whole", () => {
    const { fd, ioas, buffer, proc } = compat({ huge: true, pages: 2048n });
    expect(fd.ioctl(VfioIoctl.SET_IOMMU, VfioExtension.TYPE1v2_IOMMU).ret).toBe(0);
    expect(fd.getOption(IOMMU_OPTION_HUGE_PAGES, ioas)).toBe(1n);
    expect(mapDma(fd, buffer, IOVA, BUF).ret).toBe(0);
    const locked = proc.lockedVm;
    for (let i = 0n; i < 16n; i++)
      expect(unmapDma(fd, IOVA + i * (BUF / 16n), BUF / 16n).ret).toBe(-ERRNO.ENOENT);
    expect(fd.ioas(ioas).areas()).toEqual([[Number(IOVA), Number(BUF)]]);
    expect(proc.lockedVm).toBe(locked);
  });
});
