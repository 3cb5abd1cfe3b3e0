import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../process/mman.js";
import { errno, machine } from "../test-machine.js";
import { ERRNO } from "../uapi/errno.js";
import { IommufdIoctl } from "../uapi/iommufd-constants.js";
import {
  decodeIommuIovaRanges,
  encodeIommuDestroy,
  encodeIommuIoasAlloc,
  encodeIommuIoasIovaRanges,
  encodeIommuIoasMap,
  encodeIommuIoasUnmap,
  IOMMU_IOAS_MAP_FIXED_IOVA as FIXED,
  IOMMU_IOAS_MAP_READABLE as RD,
  IOMMU_IOAS_MAP_WRITEABLE as WR,
} from "../uapi/iommufd-structs.js";
import { U64_MAX } from "../util/u64.js";
import { createIommufd } from "./iommufd.js";

const P = 4096n;
const RW = RD | WR;

function setup(o: { domain?: boolean; resv?: { start: number; length: number }[] } = {}) {
  const m = machine({
    ref: {
      iovaBits: 40,
      resvRegions: () => (o.resv ?? []).map((r) => ({ ...r, prot: 0, type: "reserved" as const })),
    },
  });
  const { device, group } = m.addDevice(1);
  const proc = m.vfio.createProcess({ rlimitMemlock: 64 << 20 });
  const fd = createIommufd(m.core, { process: proc });
  const ioas = fd.ioasAlloc();
  const buffer = proc.mmap({
    length: 512n * P,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_ANONYMOUS | MAP_PRIVATE,
  });
  let devId: number | undefined;
  let hwpt: number | undefined;
  if (o.domain ?? true) {
    devId = fd.bindDevice(device);
    hwpt = fd.attach(devId, ioas);
  }
  const map = (iova: bigint | undefined, length: bigint, uva = buffer) =>
    fd.ioasMap(ioas, {
      flags: RW | (iova === undefined ? 0 : FIXED),
      userVa: uva,
      length,
      ...(iova !== undefined ? { iova } : {}),
    });
  return { m, device, group, proc, fd, ioas, buffer, devId, hwpt, map };
}

describe("iommufd generic ioctl rules (5.10.1-3)", () => {
  it("DESTROY(0) ENOENT, NULL argument EFAULT, unknown command ENOTTY", () => {
    const { fd } = setup({ domain: false });
    expect(fd.ioctl(IommufdIoctl.DESTROY, encodeIommuDestroy({ size: 8, id: 0 })).ret).toBe(-ERRNO.ENOENT);
    expect(fd.ioctl(IommufdIoctl.DESTROY).ret).toBe(-ERRNO.EFAULT);
    expect(fd.ioctl(0x3b7f, new Uint8Array(8)).ret).toBe(-ERRNO.ENOTTY);
  });

  it("size below the minimum EINVAL; one non-zero extra byte E2BIG; a zero extra byte behaves as sizeof", () => {
    const { fd } = setup({ domain: false });
    const alloc = (size: number, extra: number) => {
      const b = new Uint8Array(13);
      b.set(encodeIommuIoasAlloc({ size, flags: 0, outIoasId: 0 }));
      b[12] = extra;
      return fd.ioctl(IommufdIoctl.IOAS_ALLOC, b);
    };
    expect(alloc(11, 0).ret).toBe(-ERRNO.EINVAL);
    expect(alloc(13, 1).ret).toBe(-ERRNO.E2BIG);
    const ok = alloc(13, 0);
    expect(ok.ret).toBe(0);
    expect(new DataView(ok.out.buffer).getUint32(8, true)).toBe(2);
    const destroy = new Uint8Array(9);
    destroy.set(encodeIommuDestroy({ size: 9, id: 2 }));
    destroy[8] = 7;
    expect(fd.ioctl(IommufdIoctl.DESTROY, destroy).ret).toBe(-ERRNO.E2BIG);
    expect(fd.ioctl(IommufdIoctl.DESTROY, encodeIommuDestroy({ size: 7, id: 2 })).ret).toBe(-ERRNO.EINVAL);
  });
});

describe("IOAS objects (5.10.5, 6, 28)", () => {
  it("destroying an IOAS with a device attached is EBUSY, without one fine even with areas", () => {
    const { fd, ioas, devId, map, m, device } = setup();
    map(P, P);
    expect(errno(() => fd.destroy(ioas))).toBe("EBUSY");
    fd.detach(devId!);
    expect(m.core.getDomainForDevice(device)).toBe(m.core.groupGet(device)!.blockingDomain);
    fd.destroy(ioas);
    expect(errno(() => fd.destroy(ioas))).toBe("ENOENT");
  });

  it("attaching to an id that does not exist is ENOENT; a page table with devices cannot be destroyed", () => {
    const { fd, devId, hwpt } = setup();
    fd.detach(devId!);
    expect(errno(() => fd.attach(devId!, 999))).toBe("ENOENT");
    const again = fd.attach(devId!, 1);
    expect(again).not.toBe(hwpt);
    expect(errno(() => fd.destroy(again))).toBe("EBUSY");
    // The old automatic page table is gone.
    expect(errno(() => fd.destroy(hwpt!))).toBe("ENOENT");
  });

  it("binding claims DMA ownership: EPERM with a kernel driver bound; closing gives the group back", () => {
    const { m, device, group } = setup({ domain: false });
    const other = m.addDevice(2);
    m.core.deviceUseDefaultDomain(other.device);
    const fd2 = createIommufd(m.core, { process: m.vfio.createProcess() });
    expect(errno(() => fd2.bindDevice(other.device))).toBe("EPERM");
    const id = fd2.bindDevice(device);
    expect(m.core.groupDmaOwnerClaimed(group)).toBe(true);
    fd2.destroy(id);
    expect(m.core.getDomainForDevice(device)).toBe(group.defaultDomain);
  });
});

describe("IOAS_MAP / IOAS_UNMAP (5.10.7-13, 23, 26)", () => {
  it("unmapping unmapped ranges is ENOENT; single-page maps and unmaps all succeed", () => {
    const { fd, ioas, map } = setup();
    for (let i = 0n; i < 10n; i++)
      expect(errno(() => fd.ioasUnmap(ioas, (i + 1n) * 16n * P, P))).toBe("ENOENT");
    for (let i = 0n; i < 10n; i++) expect(map((i + 1n) * 16n * P, P, undefined)).toBe((i + 1n) * 16n * P);
    for (let i = 0n; i < 10n; i++) expect(fd.ioasUnmap(ioas, (i + 1n) * 16n * P, P)).toBe(P);
  });

  it("no splitting: unmapping one page of a two-page area is ENOENT at either page", () => {
    const { fd, ioas, map } = setup();
    map(16n * P, 2n * P);
    expect(errno(() => fd.ioasUnmap(ioas, 16n * P, P))).toBe("ENOENT");
    expect(errno(() => fd.ioasUnmap(ioas, 17n * P, P))).toBe("ENOENT");
    expect(fd.ioasUnmap(ioas, 16n * P, 2n * P)).toBe(2n * P);
  });

  it("fixed maps overlapping an area are EEXIST: exact, inside, straddling below/above, superset", () => {
    const { map } = setup();
    map(16n * P, 4n * P);
    for (const [at, len] of [
      [16n, 4n],
      [17n, 1n],
      [15n, 2n],
      [19n, 2n],
      [14n, 8n],
    ] as const) {
      expect(errno(() => map(at * P, len * P))).toBe("EEXIST");
    }
  });

  it("unmap-all succeeds, also on an empty IOAS; four areas with holes unmap in one range, cutting ones are ENOENT", () => {
    const { fd, ioas, map, proc, buffer } = setup();
    for (let i = 0n; i < 4n; i++) map((16n + i * 16n) * P, 8n * P, buffer + i * 8n * P);
    expect(proc.lockedVm).toBe(32 * 4096);
    expect(errno(() => fd.ioasUnmap(ioas, 16n * P, 4n * P))).toBe("ENOENT");
    expect(errno(() => fd.ioasUnmap(ioas, 20n * P, 16n * P))).toBe("ENOENT");
    expect(fd.ioasUnmap(ioas, 16n * P, 64n * P)).toBe(32n * P);
    map(16n * P, P);
    expect(fd.ioasUnmap(ioas, 0n, U64_MAX)).toBe(P);
    expect(fd.ioasUnmap(ioas, 0n, U64_MAX)).toBe(0n);
    expect(proc.lockedVm).toBe(0);
  });

  it("automatic IOVAs: aligned to min(pow2(length), user address), never 0, avoiding a reserved range", () => {
    const { fd, ioas, buffer } = setup();
    fd.testAddReserved(ioas, 4n * P, 104n * P - 1n);
    const hugeAligned = buffer - (buffer % (1n << 21n)) + (1n << 21n); // not mapped; used as an address hint only
    expect(hugeAligned).toBeGreaterThan(0n);
    for (let n = 1n; n <= 10n; n++) {
      const iova = fd.ioasMap(ioas, { flags: RW, userVa: buffer, length: n * P });
      expect(iova).not.toBe(0n);
      let align = 1n;
      while (align < n * P) align <<= 1n;
      expect(iova % align).toBe(0n);
      expect(iova + n * P <= 4n * P || iova >= 104n * P).toBe(true);
    }
  });

  it("with a domain, lengths that are not page multiples are EINVAL; without one, any length maps", () => {
    const withDomain = setup();
    expect(errno(() => withDomain.map(undefined, P + 1n))).toBe("EINVAL");
    expect(errno(() => withDomain.map(undefined, 0n))).toBe("EINVAL");
    const bare = setup({ domain: false });
    for (let len = 1n; len < 2n * P; len += 511n)
      expect(errno(() => bare.map(undefined, len))).toBeUndefined();
  });

  it("a fixed IOVA over a reserved range is EINVAL; unknown flags EOPNOTSUPP; no access EINVAL; U64_MAX EOVERFLOW", () => {
    const { fd, ioas, buffer } = setup({ resv: [{ start: 0x10_0000, length: 0x1000 }] });
    expect(
      errno(() => fd.ioasMap(ioas, { flags: RW | FIXED, userVa: buffer, length: P, iova: 0x10_0000 })),
    ).toBe("EINVAL");
    expect(errno(() => fd.ioasMap(ioas, { flags: RW | 8, userVa: buffer, length: P }))).toBe("EOPNOTSUPP");
    expect(errno(() => fd.ioasMap(ioas, { flags: FIXED, userVa: buffer, length: P, iova: P }))).toBe(
      "EINVAL",
    );
    expect(errno(() => fd.ioasMap(ioas, { flags: RW, userVa: buffer, length: U64_MAX }))).toBe("EOVERFLOW");
  });

  it("bad user memory with a domain is EFAULT and leaves nothing pinned (5.10.26)", () => {
    const { proc, buffer, map, fd, ioas } = setup();
    proc.munmap(buffer + 8n * P, 8n * P);
    expect(errno(() => map(16n * P, 16n * P))).toBe("EFAULT");
    proc.munmap(buffer, P);
    expect(errno(() => map(16n * P, 2n * P))).toBe("EFAULT");
    expect(proc.pinnedPages).toBe(0);
    expect(fd.ioas(ioas).areas()).toEqual([]);
  });

  it("the device reaches the mapped pages through the auto domain; unmap faults (binary ioctls)", () => {
    const { fd, ioas, buffer, proc, m, device } = setup();
    const arg = encodeIommuIoasMap({
      size: 40,
      flags: RW,
      ioasId: ioas,
      userVa: buffer,
      length: 8n * P,
      iova: 0n,
    });
    const r = fd.ioctl(IommufdIoctl.IOAS_MAP, arg);
    expect(r.ret).toBe(0);
    const iova = new DataView(r.out.buffer).getBigUint64(32, true);
    expect(
      m.core.deviceDma(device, { iova: iova + 5n, length: 3, write: true, data: new Uint8Array([1, 2, 3]) })
        .ok,
    ).toBe(true);
    expect([...proc.read(buffer + 5n, 3)]).toEqual([1, 2, 3]);
    const un = fd.ioctl(
      IommufdIoctl.IOAS_UNMAP,
      encodeIommuIoasUnmap({ size: 24, ioasId: ioas, iova, length: 8n * P }),
    );
    expect(un.ret).toBe(0);
    expect(new DataView(un.out.buffer).getBigUint64(16, true)).toBe(8n * P);
    expect(m.core.deviceDma(device, { iova, length: 1, write: false }).ok).toBe(false);
  });

  it("attaching a domain later pins and maps the existing areas; a misaligned area refuses it (EADDRINUSE)", () => {
    const { fd, ioas, map, proc, device, m } = setup({ domain: false });
    map(16n * P, 4n * P);
    expect(proc.lockedVm).toBe(0); // no domain: nothing pinned
    const dev = fd.bindDevice(device);
    fd.attach(dev, ioas);
    expect(proc.lockedVm).toBe(16384);
    expect(m.core.deviceDma(device, { iova: 16n * P, length: 1, write: false }).ok).toBe(true);
    fd.detach(dev);
    expect(proc.lockedVm).toBe(0);
    map(64n * P + 1n, 5n);
    expect(errno(() => fd.attach(dev, ioas))).toBe("EADDRINUSE");
    expect(proc.lockedVm).toBe(0);
  });
});

describe("IOVA ranges, allowed and reserved (5.10.14-15, 17-19)", () => {
  it("an empty no-domain IOAS reports one range [0, U64_MAX] with alignment 1; with a domain its aperture", () => {
    expect(setup({ domain: false }).fd.ioasIovaRanges(1)).toEqual({
      ranges: [{ start: 0n, last: U64_MAX }],
      alignment: 1n,
    });
    const { fd, ioas } = setup();
    expect(fd.ioasIovaRanges(ioas)).toEqual({ ranges: [{ start: 0n, last: 2n ** 40n - 1n }], alignment: P });
  });

  it("EMSGSIZE protocol: num_iovas 0 reports the count and writes nothing; room for one fills one", () => {
    const { fd, ioas, proc, buffer } = setup({ domain: false });
    fd.testAddReserved(ioas, P, 2n * P - 1n);
    const ask = (num: number) =>
      fd.ioctl(
        IommufdIoctl.IOAS_IOVA_RANGES,
        encodeIommuIoasIovaRanges({
          size: 32,
          ioasId: ioas,
          numIovas: num,
          allowedIovas: buffer,
          outIovaAlignment: 0n,
        }),
      );
    proc.write(buffer, new Uint8Array(64).fill(0xee));
    const none = ask(0);
    expect(none.ret).toBe(-ERRNO.EMSGSIZE);
    expect(new DataView(none.out.buffer).getUint32(8, true)).toBe(2);
    expect(proc.read(buffer, 1)[0]).toBe(0xee);
    const one = ask(1);
    expect(one.ret).toBe(-ERRNO.EMSGSIZE);
    expect(decodeIommuIovaRanges(proc.read(buffer, 32), 2)).toEqual([
      { start: 0n, last: P - 1n },
      { start: 0xeeee_eeee_eeee_eeeen, last: 0xeeee_eeee_eeee_eeeen },
    ]);
    expect(ask(2).ret).toBe(0);
    expect(decodeIommuIovaRanges(proc.read(buffer, 32), 2)[1]).toEqual({ start: 2n * P, last: U64_MAX });
  });

  it("ALLOW_IOVAS over a reserved range is EADDRINUSE; auto IOVAs stay inside the allowed window", () => {
    const { fd, ioas, buffer } = setup({ resv: [{ start: 0x10_0000, length: 0x1000 }] });
    expect(errno(() => fd.ioasAllowIovas(ioas, [{ start: 0n, last: 0x1f_ffffn }]))).toBe("EADDRINUSE");
    expect(errno(() => fd.ioasAllowIovas(ioas, [{ start: 5n * P, last: 5n * P }]))).toBe("EINVAL");
    expect(
      errno(() =>
        fd.ioasAllowIovas(ioas, [
          { start: 0x20_0000n, last: 0x2f_ffffn },
          { start: 0x2f_0000n, last: 0x3f_ffffn },
        ]),
      ),
    ).toBe("EINVAL");
    fd.ioasAllowIovas(ioas, [{ start: 0x20_0000n, last: 0x2f_ffffn }]);
    for (let i = 0; i < 16; i++) {
      const iova = fd.ioasMap(ioas, { flags: RW, userVa: buffer + BigInt(i) * P, length: P });
      expect(iova >= 0x20_0000n && iova <= 0x2f_ffffn).toBe(true);
    }
    expect(errno(() => fd.ioasMap(ioas, { flags: RW, userVa: buffer, length: 0x10_0000n }))).toBe("ENOSPC");
  });

  it("a reserved range inside an allowed one is EADDRINUSE; after clearing it is accepted; re-allowing over it fails", () => {
    const { fd, ioas } = setup({ domain: false });
    fd.ioasAllowIovas(ioas, [{ start: 16n * P, last: 32n * P - 1n }]);
    expect(errno(() => fd.testAddReserved(ioas, 20n * P, 21n * P - 1n))).toBe("EADDRINUSE");
    fd.ioasAllowIovas(ioas, []);
    fd.testAddReserved(ioas, 20n * P, 21n * P - 1n);
    expect(errno(() => fd.ioasAllowIovas(ioas, [{ start: 16n * P, last: 32n * P - 1n }]))).toBe("EADDRINUSE");
  });
});

describe("IOAS_COPY (5.10.16, 25)", () => {
  it("copies within an IOAS and to another one, sharing pinned pages without double accounting", () => {
    const { fd, ioas, map, proc, m, device } = setup();
    map(16n * P, 8n * P);
    expect(proc.lockedVm).toBe(8 * 4096);
    fd.ioasCopy({
      flags: RW | FIXED,
      dstIoasId: ioas,
      srcIoasId: ioas,
      length: 8n * P,
      srcIova: 16n * P,
      dstIova: 64n * P,
    });
    expect(proc.lockedVm).toBe(8 * 4096);
    const second = fd.ioasAlloc();
    const at = fd.ioasCopy({
      flags: RW,
      dstIoasId: second,
      srcIoasId: ioas,
      length: 4n * P,
      srcIova: 18n * P,
    });
    expect(at).not.toBe(0n);
    expect(proc.lockedVm).toBe(8 * 4096);
    // The copy reaches the same memory.
    expect(
      m.core.deviceDma(device, { iova: 66n * P, length: 1, write: true, data: new Uint8Array([9]) }).ok,
    ).toBe(true);
    expect(m.core.deviceDma(device, { iova: 18n * P, length: 1, write: false })).toMatchObject({
      ok: true,
      data: new Uint8Array([9]),
    });
    // Pages stay pinned until the last area using them is gone.
    fd.ioasUnmap(ioas, 16n * P, 8n * P);
    expect(proc.lockedVm).toBe(8 * 4096);
    fd.ioasUnmap(ioas, 64n * P, 8n * P);
    expect(proc.lockedVm).toBe(0);
  });

  it("a source range not fully inside mapped areas is ENOENT", () => {
    const { fd, ioas, map } = setup();
    map(16n * P, 8n * P);
    const copy = (src: bigint, len: bigint) =>
      errno(() =>
        fd.ioasCopy({
          flags: RW | FIXED,
          dstIoasId: ioas,
          srcIoasId: ioas,
          length: len * P,
          srcIova: src * P,
          dstIova: 128n * P,
        }),
      );
    expect(copy(15n, 2n)).toBe("ENOENT");
    expect(copy(23n, 2n)).toBe("ENOENT");
    expect(copy(40n, 1n)).toBe("ENOENT");
    expect(copy(17n, 6n)).toBeUndefined();
  });
});
