import { describe, expect, it } from "vitest";
import { errno } from "../test-machine.js";
import { ERRNO } from "../uapi/errno.js";
import { IommufdIoctl } from "../uapi/iommufd-constants.js";
import {
  encodeIommuOption,
  IOMMU_OPTION_OP_GET as GET,
  IOMMU_OPTION_HUGE_PAGES as HUGE,
  IOMMU_OPTION_RLIMIT_MODE as RLIMIT,
  IOMMU_OPTION_OP_SET as SET,
} from "../uapi/iommufd-option.js";
import { iommufdSetup, outU64, P } from "./test-iommufd.js";

type Fd = ReturnType<typeof iommufdSetup>["fd"];

/** IOMMU_OPTION through the binary layer: `[ret, val64]`. */
function option(fd: Fd, optionId: number, op: number, objectId: number, val64 = 0n): [number, bigint] {
  const r = fd.ioctl(IommufdIoctl.OPTION, encodeIommuOption({ size: 24, optionId, op, objectId, val64 }));
  return [r.ret, outU64(r.out, 16)];
}

describe("IOMMU_OPTION RLIMIT_MODE (5.10.4)", () => {
  it("GET 0; SET 1 ok; SET 2 EINVAL; GET 1; HUGE_PAGES of object 0 ENOENT", () => {
    const { fd } = iommufdSetup({ ioas: false });
    expect(option(fd, RLIMIT, GET, 0)).toEqual([0, 0n]);
    expect(option(fd, RLIMIT, SET, 0, 1n)[0]).toBe(0);
    expect(option(fd, RLIMIT, SET, 0, 2n)[0]).toBe(-ERRNO.EINVAL);
    expect(option(fd, RLIMIT, GET, 0)).toEqual([0, 1n]);
    expect(option(fd, HUGE, GET, 0)[0]).toBe(-ERRNO.ENOENT);
    expect(option(fd, HUGE, SET, 0, 0n)[0]).toBe(-ERRNO.ENOENT);
  });

  it("SET needs CAP_SYS_RESOURCE (EPERM) and an empty context (EBUSY); the mode is unchanged on failure", () => {
    const unprivileged = iommufdSetup({ ioas: false, capSysResource: false }).fd;
    expect(option(unprivileged, RLIMIT, SET, 0, 1n)[0]).toBe(-ERRNO.EPERM);
    expect(option(unprivileged, RLIMIT, GET, 0)).toEqual([0, 0n]);
    const { fd } = iommufdSetup({ domain: false });
    expect(option(fd, RLIMIT, SET, 0, 1n)[0]).toBe(-ERRNO.EBUSY);
    expect(fd.rlimitMode).toBe(0);
  });

  it("a global option on an object id is EOPNOTSUPP; unknown options, ops and reserved bits EOPNOTSUPP", () => {
    const { fd, ioas } = iommufdSetup({ domain: false });
    expect(option(fd, RLIMIT, GET, ioas)[0]).toBe(-ERRNO.EOPNOTSUPP);
    expect(option(fd, 7, GET, 0)[0]).toBe(-ERRNO.EOPNOTSUPP);
    expect(option(fd, HUGE, 2, ioas)[0]).toBe(-ERRNO.EOPNOTSUPP);
    const reserved = encodeIommuOption({ size: 24, optionId: HUGE, op: GET, objectId: ioas, val64: 0n });
    reserved[10] = 1;
    expect(fd.ioctl(IommufdIoctl.OPTION, reserved).ret).toBe(-ERRNO.EOPNOTSUPP);
    const short = encodeIommuOption({ size: 23, optionId: HUGE, op: GET, objectId: ioas, val64: 0n });
    expect(fd.ioctl(IommufdIoctl.OPTION, short).ret).toBe(-ERRNO.EINVAL);
  });
});

describe("IOMMU_OPTION HUGE_PAGES (5.10.22, 24)", () => {
  it("GET 1; SET 0 ok; GET 0; SET 2 EINVAL (still 0); SET 1 ok; the IOVA alignment follows", () => {
    const { fd, ioas } = iommufdSetup({ domain: false });
    expect(option(fd, HUGE, GET, ioas)).toEqual([0, 1n]);
    expect(fd.ioasIovaRanges(ioas).alignment).toBe(1n);
    expect(option(fd, HUGE, SET, ioas, 0n)[0]).toBe(0);
    expect(option(fd, HUGE, GET, ioas)).toEqual([0, 0n]);
    expect(fd.ioasIovaRanges(ioas).alignment).toBe(P);
    expect(option(fd, HUGE, SET, ioas, 2n)[0]).toBe(-ERRNO.EINVAL);
    expect(option(fd, HUGE, GET, ioas)).toEqual([0, 0n]);
    expect(option(fd, HUGE, SET, ioas, 1n)[0]).toBe(0);
    expect(option(fd, HUGE, GET, ioas)).toEqual([0, 1n]);
    expect(fd.ioasIovaRanges(ioas).alignment).toBe(1n);
  });

  it("with huge pages off a sub-page user address or length is EINVAL; a misaligned area refuses SET 0 (EADDRINUSE)", () => {
    const { fd, ioas, map, buffer } = iommufdSetup({ domain: false });
    fd.setOption(HUGE, ioas, 0n);
    expect(errno(() => map(16n * P, P, buffer + P / 2n))).toBe("EINVAL");
    expect(errno(() => map(16n * P, P / 2n))).toBe("EINVAL");
    expect(errno(() => map(16n * P + P / 2n, P))).toBe("EINVAL");
    expect(fd.ioas(ioas).areas()).toEqual([]);
    fd.setOption(HUGE, ioas, 1n);
    map(16n * P, P / 2n, buffer + P / 2n);
    expect(option(fd, HUGE, SET, ioas, 0n)[0]).toBe(-ERRNO.EADDRINUSE);
    expect(option(fd, HUGE, GET, ioas)).toEqual([0, 1n]);
    expect(fd.ioasIovaRanges(ioas).alignment).toBe(1n);
  });

  it("SET 0 while a domain already holds mappings is EINVAL; on an empty domain-backed IOAS it is accepted", () => {
    const { fd, ioas, map } = iommufdSetup();
    map(16n * P, 4n * P);
    expect(option(fd, HUGE, SET, ioas, 0n)[0]).toBe(-ERRNO.EINVAL);
    expect(fd.ioas(ioas).hugePages).toBe(true);
    fd.ioasUnmap(ioas, 0n, 2n ** 64n - 1n);
    expect(option(fd, HUGE, SET, ioas, 0n)[0]).toBe(0);
    map(16n * P, 4n * P);
    expect(fd.ioas(ioas).areas()).toEqual([[16 * 4096, 4 * 4096]]);
  });
});
