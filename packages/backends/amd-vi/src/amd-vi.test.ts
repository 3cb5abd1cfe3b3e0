import { amdEventWords, decodeAmdEvent, encodeAmdCommand } from "@iommu-sim/hw";
import {
  createIommuCore,
  createIotlbGather,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuCore,
  type IommuDomain,
} from "@iommu-sim/iommu";
import { describe, expect, it } from "vitest";
import { dteQwords } from "./arch/dte.js";
import {
  CONTROL_EVT_INT_EN,
  MMIO_CMD_TAIL_OFFSET,
  MMIO_CONTROL_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  MMIO_STATUS_EVT_OVERFLOW,
  MMIO_STATUS_EVT_RUN,
  MMIO_STATUS_OFFSET,
} from "./arch/registers.js";
import { type AmdViBackend, type AmdViOptions, createAmdVi } from "./backend.js";

// Layout of the default allocators (backend.ts): the system allocator hands out, in order, the
// 2 MiB device table at 0x4000_0000, the command buffer at 0x4020_0000, the event log at
// 0x4020_2000 and the semaphore page at 0x4020_4000; page tables start at 0x4100_0000, one 4 KiB
// top table per paging domain in allocation order.
const DEV_TABLE = 0x4000_0000;
const CMD_BUF = 0x4020_0000;
const EVT_LOG = 0x4020_2000;
const SEMAPHORE = 0x4020_4000;
const PA = 0x8000_0000;

function setup(options: AmdViOptions = {}) {
  const backend = createAmdVi(options);
  const core = createIommuCore({});
  core.registerIommu(backend);
  // 03:00.0: requester ID 0x0300. Its default DMA domain takes DomainID 1 and the first table page.
  const dev = core.addPciDevice({ bus: 3, slot: 0, iommu: backend.name });
  return { backend, core, dev };
}

/** Allocates unmanaged domains until one gets DomainID `id` (IDs are handed out lowest-free first). */
function domainWithId(
  core: IommuCore,
  dev: Parameters<IommuCore["domainAlloc"]>[0],
  id: number,
): IommuDomain {
  let domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  // The default domain holds ID 1, so the n-th unmanaged domain gets ID n + 1.
  for (let next = 3; next <= id; next++) domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  return domain;
}

const dteOf = (b: AmdViBackend, deviceId: number) => {
  const bytes = b.memory.read(DEV_TABLE + deviceId * 32, 32);
  return dteQwords(new Uint32Array(bytes.buffer, bytes.byteOffset, 8));
};

/** The commands queued between two tail values, as four u32 each. */
const commandsBetween = (b: AmdViBackend, from: number, to: number): number[][] => {
  const out: number[][] = [];
  for (let at = from; at !== to; at = (at + 16) % 8192) {
    const bytes = b.memory.read(CMD_BUF + at, 16);
    out.push([...new Uint32Array(bytes.buffer, bytes.byteOffset, 4)]);
  }
  return out;
};
const tail = (b: AmdViBackend) => Number(b.hardware.readMmio(MMIO_CMD_TAIL_OFFSET));
const semaphore = (b: AmdViBackend) =>
  Number(new DataView(b.memory.read(SEMAPHORE, 8).buffer).getBigUint64(0, true));

describe("amd-vi: device table entries written by the driver", () => {
  it("places its structures where the layout comment says", () => {
    const { backend } = setup();
    expect(backend.driver.layout).toEqual({
      deviceTable: { base: DEV_TABLE, bytes: 0x20_0000 },
      commandBuffer: { base: CMD_BUF, bytes: 8192 },
      eventLog: { base: EVT_LOG, bytes: 8192 },
      semaphore: SEMAPHORE,
    });
  });

  it("writes V|TV|Mode|root|IR|IW and the DomainID for a paging domain (all four u64)", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    // Second paging domain: DomainID 2, top table at 0x4100_1000 (the default domain has 0x4100_0000).
    // data[0] = IW (1<<62) | IR (1<<61) | root 0x4100_1000 | Mode 4 << 9 (0x800) | TV 2 | V 1
    //         = 0x6000_0000_0000_0000 | 0x4100_1000 | 0x803 = 0x6000_0000_4100_1803
    // data[1] = DomainID 2; data[2] = data[3] = 0 (no interrupt remapping, no v2).
    expect(dteOf(backend, 0x300)).toEqual([0x6000_0000_4100_1803n, 0x2n, 0n, 0n]);
    // An untouched entry keeps Linux's boot value V | TV (Mode 0, IR = IW = 0: DMA refused).
    expect(dteOf(backend, 0x301)).toEqual([0x3n, 0n, 0n, 0n]);
  });

  it("writes V|TV|IR|IW with Mode 0 and the DomainID for an identity domain", () => {
    const { backend, core, dev } = setup();
    const identity = core.domainAlloc(dev, IOMMU_DOMAIN_IDENTITY);
    core.attachDevice(identity, dev);
    // data[0] = IW | IR | TV | V = 0x6000_0000_0000_0003; data[1] = DomainID 2.
    expect(dteOf(backend, 0x300)).toEqual([0x6000_0000_0000_0003n, 0x2n, 0n, 0n]);
    const data = Uint8Array.of(1, 2, 3, 4);
    expect(core.deviceDma(dev, { iova: PA + 0x10, length: 4, write: true, data }).ok).toBe(true);
    expect(backend.memory.read(PA + 0x10, 4)).toEqual(data);
  });

  it("switches domains by clearing the DTE, flushing the old domain, then writing the new entry", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    const before = tail(backend);
    core.attachDevice(domain, dev);
    const cmds = commandsBetween(backend, before, tail(backend));
    const cw = (seq: number) => [SEMAPHORE | 1, 0x1000_0000, seq, 0];
    const s = semaphore(backend);
    expect(cmds).toEqual([
      [0x300, 0x2000_0000, 0, 0], // INVALIDATE_DEVTAB_ENTRY 03:00.0 (entry now V only)
      cw(s - 2),
      [0, 0x3000_0001, 0xffff_f003, 0x7fff_ffff], // INVALIDATE_IOMMU_PAGES all of DomainID 1, S|PDE
      cw(s - 1),
      [0x300, 0x2000_0000, 0, 0], // INVALIDATE_DEVTAB_ENTRY with the new entry
      cw(s),
    ]);
  });
});

describe("amd-vi: invalidation on unmap", () => {
  it("sends INVALIDATE_IOMMU_PAGES for the gathered range (hw-facts 4.3 vector) then COMPLETION_WAIT", () => {
    const { backend, core, dev } = setup();
    const domain = domainWithId(core, dev, 0x0b);
    core.attachDevice(domain, dev);
    expect(dteOf(backend, 0x300)[1]).toBe(0x0bn);
    core.map(domain, 0x3000, PA, 0x2000, IOMMU_READ | IOMMU_WRITE);
    const before = tail(backend);
    expect(core.unmap(domain, 0x3000, 0x2000)).toBe(0x2000n);
    const cmds = commandsBetween(backend, before, tail(backend));
    // build_inv_address(0x3000, 0x2000): msb of 0x3000 ^ 0x4fff is bit 14 -> 0x3fff & ~0xfff | S = 0x3001;
    // PDE (bit 1) -> data[2] = 0x3003; data[1] = opcode 3 << 28 | DomainID 0x0b.
    expect(cmds).toEqual([
      [0, 0x3000_000b, 0x0000_3003, 0],
      [SEMAPHORE | 1, 0x1000_0000, semaphore(backend), 0],
    ]);
  });

  it("flushes a whole domain with the all-pages address", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    const before = tail(backend);
    core.flushIotlbAll(domain);
    expect(commandsBetween(backend, before, tail(backend))[0]).toEqual([
      0, 0x3000_0002, 0xffff_f003, 0x7fff_ffff,
    ]);
  });

  it("sends nothing for a domain no device uses", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.map(domain, 0x3000, PA, 0x1000, IOMMU_READ);
    const before = tail(backend);
    core.unmap(domain, 0x3000, 0x1000);
    expect(tail(backend)).toBe(before);
  });

  it("keeps a stale IOTLB entry until the COMPLETION_WAIT makes the hardware run the invalidation", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x5000, PA, 0x1000, IOMMU_READ);
    expect(core.deviceDma(dev, { iova: 0x5000, length: 4, write: false }).ok).toBe(true);
    const gather = createIotlbGather();
    core.unmapFast(domain, 0x5000, 0x1000, gather);
    expect(core.staleTranslation(dev, 0x5000)).toBe(true);
    // The driver's invalidation alone, tail moved, no wait yet: the lazy hardware has not run it.
    const t = tail(backend);
    backend.memory.write(
      CMD_BUF + t,
      encodeAmdCommand("INVALIDATE_IOMMU_PAGES", { domainId: 2, pde: true, addr: 0x5000n }),
    );
    backend.hardware.writeMmio(MMIO_CMD_TAIL_OFFSET, (t + 16) % 8192);
    expect(core.staleTranslation(dev, 0x5000)).toBe(true);
    // The driver's sync: INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT; the wait drains the queue.
    core.iotlbSync(domain, gather);
    expect(core.staleTranslation(dev, 0x5000)).toBe(false);
    expect(core.deviceDma(dev, { iova: 0x5000, length: 4, write: false }).ok).toBe(false);
  });
});

describe("amd-vi: DMA and faults", () => {
  it("moves bytes through a mapped IOVA to the mapped physical page", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x1_0000_0000, PA + 0x20_0000, 0x20_0000, IOMMU_READ | IOMMU_WRITE);
    const data = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
    expect(core.deviceDma(dev, { iova: 0x1_0012_3ff0, length: 64, write: true, data }).ok).toBe(true);
    expect(backend.memory.read(PA + 0x32_3ff0, 64)).toEqual(data);
    const read = core.deviceDma(dev, { iova: 0x1_0012_3ff0, length: 64, write: false });
    expect(read.ok && read.data).toEqual(data);
  });

  it("logs IO_PAGE_FAULT for an unmapped write (hw-facts 5.3 vector), Linux's line, and a core report", () => {
    const { backend, core, dev } = setup();
    const domain = domainWithId(core, dev, 0x0b);
    core.attachDevice(domain, dev);
    const seen: [bigint, number][] = [];
    core.setFaultHandler(domain, (_d, _dev, iova, flags) => {
      seen.push([iova, flags]);
      return "ENOSYS";
    });
    const evtTail = Number(backend.hardware.readMmio(MMIO_EVT_TAIL_OFFSET));
    const r = core.deviceDma(dev, { iova: 0xffff_f000, length: 4, write: true, data: new Uint8Array(4) });
    expect(r).toMatchObject({
      ok: false,
      iova: 0xffff_f000n,
      flags: IOMMU_FAULT_WRITE,
      reason: "unmapped",
      reported: "ENOSYS",
    });
    expect(seen).toEqual([[0xffff_f000n, IOMMU_FAULT_WRITE]]);
    // The handler consumed and zeroed the entry (erratum 732); the tail shows where it was written.
    expect(Number(backend.hardware.readMmio(MMIO_EVT_TAIL_OFFSET))).toBe(evtTail + 16);
    expect(backend.driver.context.log.at(-1)).toBe(
      "pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xfffff000 flags=0x0020]",
    );
    expect(core.log.at(-1)?.message).toContain("IO_PAGE_FAULT domain=0x000b address=0xfffff000 flags=0x0020");
  });

  it("writes the exact event-log entry (read before the handler runs)", () => {
    const { backend, core, dev } = setup();
    const domain = domainWithId(core, dev, 0x0b);
    core.attachDevice(domain, dev);
    const ctl = backend.hardware.readMmio(MMIO_CONTROL_OFFSET);
    backend.hardware.writeMmio(MMIO_CONTROL_OFFSET, ctl & ~BigInt(CONTROL_EVT_INT_EN));
    const at = Number(backend.hardware.readMmio(MMIO_EVT_TAIL_OFFSET));
    const r = core.deviceDma(dev, { iova: 0xffff_f000, length: 4, write: true, data: new Uint8Array(4) });
    expect(r).toMatchObject({ ok: false, reported: undefined });
    const entry = backend.memory.read(EVT_LOG + at, 16);
    expect(amdEventWords(entry)).toEqual([0x0000_0300, 0x2020_000b, 0xffff_f000, 0]);
    expect(decodeAmdEvent(entry).faultFlags).toMatchObject({ rw: true, pr: false, pe: false });
    // Unmasking the interrupt with EventLogInt pending delivers it now.
    backend.hardware.writeMmio(MMIO_CONTROL_OFFSET, ctl);
    expect(core.faults.at(-1)).toMatchObject({ iova: 0xffff_f000n, flags: IOMMU_FAULT_WRITE });
  });

  it("reports a read of a read-only page as a permission fault (PR|PE) and logs nothing when handled", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x7000, PA, 0x1000, IOMMU_READ);
    core.setFaultHandler(domain, () => 0);
    const lines = backend.driver.context.log.length;
    const r = core.deviceDma(dev, { iova: 0x7008, length: 4, write: true, data: new Uint8Array(4) });
    expect(r).toMatchObject({ ok: false, reason: "permission", reported: 0 });
    expect(backend.driver.context.log.length).toBe(lines);
  });

  it("blocks without an event once the group is owned (blocked domain: V=1, TV=0)", () => {
    const { backend, core, dev } = setup();
    core.groupClaimDmaOwner(core.groupGet(dev)!, {});
    expect(dteOf(backend, 0x300)).toEqual([0x1n, 0n, 0n, 0n]);
    const written = backend.hardware.stats().events.written;
    expect(core.deviceDma(dev, { iova: 0x1000, length: 4, write: false })).toMatchObject({
      ok: false,
      reason: "blocked",
    });
    expect(backend.hardware.stats().events.written).toBe(written);
  });

  it("passes DMA through untranslated for a device whose DTE has V=0", () => {
    const backend = createAmdVi();
    // Nothing probed this device: clear its boot-time entry (V | TV) to V = 0 and invalidate it.
    backend.memory.fill(DEV_TABLE + 0x500 * 32, 32, 0);
    const data = Uint8Array.of(9, 8, 7);
    expect(backend.hardware.dma(0x500, PA, 3, true, data).ok).toBe(true);
    expect(backend.memory.read(PA, 3)).toEqual(data);
    // Another unprobed device keeps V | TV with IR = IW = 0: refused with a logged IO_PAGE_FAULT.
    expect(backend.hardware.dma(0x501, PA, 4, false)).toMatchObject({
      ok: false,
      reason: "permission",
      logged: true,
    });
    expect(backend.driver.context.log.at(-1)).toBe(
      "AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:05:00.1 domain=0x0000 address=0x80000000 flags=0x0040]",
    );
  });
});

describe("amd-vi: hardware caches and rings", () => {
  it("does not see a DTE change in memory until INVALIDATE_DEVTAB_ENTRY", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    core.map(domain, 0x9000, PA, 0x1000, IOMMU_READ);
    expect(core.deviceDma(dev, { iova: 0x9000, length: 4, write: false }).ok).toBe(true);
    // Write V only (block) behind the hardware's back: the cached entry still translates.
    backend.memory.write(
      DEV_TABLE + 0x300 * 32,
      new Uint8Array(32).fill(0, 0).map((_, i) => (i === 0 ? 1 : 0)),
    );
    expect(core.deviceDma(dev, { iova: 0x9000, length: 4, write: false }).ok).toBe(true);
    expect(backend.hardware.cachedDte(0x300)?.tv).toBe(true);
    const t = tail(backend);
    backend.memory.write(CMD_BUF + t, encodeAmdCommand("INVALIDATE_DEVTAB_ENTRY", { deviceId: 0x300 }));
    backend.hardware.writeMmio(MMIO_CMD_TAIL_OFFSET, t + 16);
    backend.hardware.drainCommands();
    expect(core.deviceDma(dev, { iova: 0x9000, length: 4, write: false })).toMatchObject({
      ok: false,
      reason: "blocked",
    });
  });

  it("overflows the event log at 511 entries, then the driver drains it and restarts logging", () => {
    const { backend, core, dev } = setup();
    const domain = core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
    core.attachDevice(domain, dev);
    const ctl = backend.hardware.readMmio(MMIO_CONTROL_OFFSET);
    backend.hardware.writeMmio(MMIO_CONTROL_OFFSET, ctl & ~BigInt(CONTROL_EVT_INT_EN));
    for (let i = 0; i < 600; i++)
      core.deviceDma(dev, { iova: 0x10_0000 + i * 0x1000, length: 1, write: false });
    const stats = backend.hardware.stats().events;
    // 512 slots, one kept empty: 511 written, the 512th sets EventOverflow and stops the log.
    expect(stats).toMatchObject({ written: 511, dropped: 89, overflows: 1 });
    const status = Number(backend.hardware.readMmio(MMIO_STATUS_OFFSET));
    expect(status & MMIO_STATUS_EVT_OVERFLOW).toBeTruthy();
    expect(status & MMIO_STATUS_EVT_RUN).toBe(0);
    const faults = core.faults.length;
    backend.hardware.writeMmio(MMIO_CONTROL_OFFSET, ctl);
    expect(core.faults.length - faults).toBe(511);
    expect(backend.driver.context.log).toContain("AMD-Vi: IOMMU Event log restarting");
    const after = Number(backend.hardware.readMmio(MMIO_STATUS_OFFSET));
    expect(after & MMIO_STATUS_EVT_OVERFLOW).toBe(0);
    expect(after & MMIO_STATUS_EVT_RUN).toBeTruthy();
    expect(core.deviceDma(dev, { iova: 0x1000, length: 1, write: false })).toMatchObject({
      reported: "ENOSYS",
    });
  });
});

describe("amd-vi: reserved regions", () => {
  it("reports unity maps as direct (exclusion ranges reserved), the MSI window and the HT range", () => {
    const { core, dev } = setup({
      unityMaps: [
        { start: 0xa_0000, length: 0x2_0000, write: false, firstDeviceId: 0x300, lastDeviceId: 0x3ff },
        { start: 0xd_0000, length: 0x1000, exclusion: true },
        { start: 0xe_0000, length: 0x1000, firstDeviceId: 0x400 },
      ],
    });
    expect(core.deviceResvRegions(dev)).toEqual([
      { start: 0xa_0000n, length: 0x2_0000n, prot: IOMMU_READ, type: "direct" },
      { start: 0xd_0000n, length: 0x1000n, prot: IOMMU_READ | IOMMU_WRITE, type: "reserved" },
      { start: 0xfee0_0000n, length: 0x10_0000n, prot: 0, type: "msi" },
      { start: 0xfd_0000_0000n, length: 0x3_0000_0000n, prot: 0, type: "reserved" },
    ]);
    // The default DMA domain identity-maps the direct region.
    expect(core.iovaToPhys(core.getDomainForDevice(dev)!, 0xa_1234)).toBe(0xa_1234n);
  });
});
