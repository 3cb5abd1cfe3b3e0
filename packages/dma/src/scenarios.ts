/**
 * End-to-end DMA-API scenarios that run on any backend: each takes a factory of a fresh backend
 * (plus RAM for coherent buffers and bounce buffers), builds a machine, drives devices through the
 * DMA API and the hardware datapath, and throws a `DmaScenarioError` naming the first broken
 * expectation. They return what they observed, so callers can assert more. This module imports
 * nothing but `@iommu-sim/iommu` and this package: the cross-backend test package runs it on every
 * backend; this package's own tests run it on the reference backend.
 */
import {
  createIommuCore,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuBackend,
  type IommuCore,
  type IommuDevice,
  isIommuSimError,
  type PageProvider,
  type PhysBus,
} from "@iommu-sim/iommu";
import { DmaDirection } from "./direction.js";
import { createDmaApi, type DmaApi, type DmaApiOptions } from "./dma-api.js";
import { createScatterlist } from "./scatterlist.js";

/** What a scenario needs from a backend. */
export interface DmaScenarioBackend {
  /** A fresh backend; its `memory` is the machine's memory. */
  readonly backend: IommuBackend;
  /** Allocator of system RAM in `backend.memory`, below 4 GiB, disjoint from page-table pages. */
  readonly ram: PageProvider;
  /**
   * Adds the `index`-th bus master (0, 1, ...) behind the backend, alone in its group.
   * @default a PCIe root-complex integrated endpoint at 00:(index+1).0
   */
  addDevice?(core: IommuCore, index: number): IommuDevice;
}

/** Makes a fresh {@link DmaScenarioBackend} per call. */
export type DmaScenarioBackendFactory = () => DmaScenarioBackend;

/** A broken expectation of a scenario. */
export class DmaScenarioError extends Error {
  constructor(scenario: string, message: string) {
    super(`${scenario}: ${message}`);
    this.name = "DmaScenarioError";
  }
}

/** A machine built by {@link dmaScenarioMachine}. */
export interface DmaScenarioMachine {
  readonly core: IommuCore;
  readonly dma: DmaApi;
  readonly memory: PhysBus;
  readonly ram: PageProvider;
  readonly backend: IommuBackend;
  /** Adds the `index`-th bus master. */
  addDevice(index: number): IommuDevice;
}

/**
 * Builds a machine on a fresh backend: the core (strict or lazy), the backend registered, the DMA
 * API with debug on and a 1 MiB swiotlb pool (override with `dma`).
 */
export function dmaScenarioMachine(
  factory: DmaScenarioBackendFactory,
  options: { strict?: boolean; passthrough?: boolean; dma?: Partial<DmaApiOptions> } = {},
): DmaScenarioMachine {
  const made = factory();
  const memory = made.backend.memory;
  const core = createIommuCore({
    strict: options.strict ?? true,
    passthrough: options.passthrough ?? false,
    memory,
  });
  core.registerIommu(made.backend);
  const dma = createDmaApi(core, { ram: made.ram, swiotlb: { size: 1 << 20 }, debug: true, ...options.dma });
  const addDevice =
    made.addDevice ??
    ((c: IommuCore, index: number) => c.addPciDevice({ bus: 0, slot: index + 1, kind: "rc-endpoint" }));
  return {
    core,
    dma,
    memory,
    ram: made.ram,
    backend: made.backend,
    addDevice: (index) => addDevice(core, index),
  };
}

const pattern = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};
const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** What {@link runDmaStrictScenario} observed. */
export interface DmaStrictScenarioResult {
  /** The DMA address the device wrote through. */
  readonly dmaAddr: bigint;
  /** The fault reason after unmap. */
  readonly faultReason: string;
  /** DMA segments the scatterlist mapped to. */
  readonly sgSegments: number;
}

/**
 * Strict invalidation, end to end: a device maps a buffer FROM_DEVICE, writes it through the
 * hardware, the CPU sees the bytes after `syncSingleForCpu`; a TO_DEVICE buffer the CPU filled is
 * read back by the device; a three-entry scatterlist is written segment by segment; a coherent
 * buffer starts zeroed and sees device writes; after unmap the device's access faults, and nothing
 * is left mapped or leaked.
 */
export function runDmaStrictScenario(factory: DmaScenarioBackendFactory): DmaStrictScenarioResult {
  const name = "dma strict";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new DmaScenarioError(name, message);
  };
  const m = dmaScenarioMachine(factory, { strict: true });
  const dev = m.addDevice(0);
  const d = m.dma.device(dev);
  check(d.opsKind === "iommu", `expected dma-iommu ops, got ${d.opsKind}`);
  const ramBefore = m.ram.pagesInUse;

  // Device -> memory.
  const buf = BigInt(m.ram.alloc(8192));
  const data = pattern(6000, 7);
  const addr = d.mapSingle(buf + 100n, 6000, DmaDirection.FROM_DEVICE);
  check(d.mappingError(addr) === 0, "mapSingle failed");
  const w = m.dma.deviceDma(dev, { iova: addr, length: 6000, write: true, data });
  check(w.ok, `device write faulted: ${JSON.stringify(w.ok ? "" : w.reason)}`);
  d.syncSingleForCpu(addr, 6000, DmaDirection.FROM_DEVICE);
  check(same(m.memory.read(buf + 100n, 6000), data), "CPU does not see the device's bytes");
  d.unmapSingle(addr, 6000, DmaDirection.FROM_DEVICE);
  const after = m.dma.deviceDma(dev, { iova: addr, length: 4, write: true, data: new Uint8Array(4) });
  check(!after.ok, "DMA after a strict unmap succeeded");
  const faultReason = after.ok ? "" : after.reason;

  // Memory -> device.
  const out = pattern(4096, 99);
  m.memory.write(buf, out);
  const a2 = d.mapPage(buf, 0, 4096, DmaDirection.TO_DEVICE);
  check(d.mappingError(a2) === 0, "mapPage failed");
  const r = m.dma.deviceDma(dev, { iova: a2, length: 4096, write: false });
  check(r.ok && r.data !== undefined && same(r.data, out), "device does not read the CPU's bytes");
  const wr = m.dma.deviceDma(dev, { iova: a2, length: 4, write: true, data: new Uint8Array(4) });
  check(!wr.ok, "device wrote through a TO_DEVICE (read-only) mapping");
  d.unmapPage(a2, 4096, DmaDirection.TO_DEVICE);

  // Scatterlist.
  const sgBase = m.ram.alloc(65536);
  const sg = createScatterlist([
    { paddr: sgBase, length: 4096 },
    { paddr: sgBase + 4096, length: 8192 },
    { paddr: sgBase + 32768, length: 1000 },
  ]);
  const n = d.mapSg(sg, 3, DmaDirection.FROM_DEVICE);
  check(n > 0, "mapSg failed");
  let seed = 1;
  for (let i = 0; i < n; i++) {
    const s = sg[i]!;
    const res = m.dma.deviceDma(dev, {
      iova: s.dmaAddress,
      length: s.dmaLength,
      write: true,
      data: pattern(s.dmaLength, seed++),
    });
    check(res.ok, `sg segment ${i} faulted`);
  }
  d.syncSgForCpu(sg, 3, DmaDirection.FROM_DEVICE);
  // The bytes landed where the CPU's entries are, in order.
  const written: number[] = [];
  seed = 1;
  for (let i = 0; i < n; i++) written.push(...pattern(sg[i]!.dmaLength, seed++));
  const cpuView = [
    ...m.memory.read(sgBase, 4096),
    ...m.memory.read(sgBase + 4096, 8192),
    ...m.memory.read(sgBase + 32768, 1000),
  ];
  check(same(new Uint8Array(cpuView), new Uint8Array(written)), "sg bytes did not land in the CPU's entries");
  d.unmapSg(sg, 3, DmaDirection.FROM_DEVICE);

  // Coherent.
  const coh = d.allocCoherent(10000);
  check(coh !== null, "allocCoherent failed");
  check(
    m.memory.read(coh!.cpuAddr, 10000).every((v) => v === 0),
    "coherent buffer is not zeroed",
  );
  const cw = m.dma.deviceDma(dev, { iova: coh!.dmaAddr + 16n, length: 8, write: true, data: pattern(8, 3) });
  check(
    cw.ok && same(m.memory.read(coh!.cpuAddr + 16n, 8), pattern(8, 3)),
    "coherent buffer misses device writes",
  );
  d.freeCoherent(10000, coh!.cpuAddr, coh!.dmaAddr);

  m.ram.free(Number(buf), 8192);
  m.ram.free(sgBase, 65536);
  const stats = m.dma.stats();
  check(stats.liveMappings === 0, `${stats.liveMappings} mappings left`);
  check(stats.iova.inUse === 0, `${stats.iova.inUse} IOVA ranges left`);
  check(m.ram.pagesInUse === ramBefore, "RAM leaked");
  check(
    m.dma.debugReports.length === 0,
    `debug reports: ${m.dma.debugReports.map((x) => x.message).join("; ")}`,
  );
  check(stats.invalidations.iotlbSyncs >= 4, "strict unmaps issued no IOTLB syncs");
  d.release();
  return { dmaAddr: addr, faultReason, sgSegments: n };
}

/** What {@link runDmaLazyScenario} observed. */
export interface DmaLazyScenarioResult {
  /** The domain was DMA_FQ but the IOMMU lacks `deferred-flush`: it ran strict. */
  readonly demoted: boolean;
  /** The backend answers `staleTranslation` (false: `EOPNOTSUPP`). */
  readonly staleSupported: boolean;
  /** Whether the device's access after unmap was served by a stale IOTLB entry. */
  readonly staleHit: boolean;
  /** The stale window of the unmap, ns of virtual time. */
  readonly windowNs: number;
}

/**
 * Lazy invalidation, end to end: on a DMA-FQ default domain a device writes a mapped buffer, the
 * buffer is unmapped, and the device writes the same IOVA again before the flush queue's timeout.
 * That access is counted in the stale window (and, where the backend can tell, attributed to a stale
 * IOTLB entry or not; a stale hit must be a successful access); after 10 ms of virtual time the
 * flush runs and the same access faults.
 */
export function runDmaLazyScenario(factory: DmaScenarioBackendFactory): DmaLazyScenarioResult {
  const name = "dma lazy";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new DmaScenarioError(name, message);
  };
  const m = dmaScenarioMachine(factory, { strict: false });
  const dev = m.addDevice(0);
  const d = m.dma.device(dev);
  const info = m.dma.iommuDmaDomain(dev);
  check(info !== undefined, "no dma-iommu domain");
  const demoted = info!.demoted;
  check(demoted === !m.core.capable(dev, "deferred-flush"), "demotion does not follow deferred-flush");

  const buf = m.ram.alloc(4096);
  const addr = d.mapSingle(buf, 4096, DmaDirection.BIDIRECTIONAL);
  check(d.mappingError(addr) === 0, "mapSingle failed");
  check(
    m.dma.deviceDma(dev, { iova: addr, length: 64, write: true, data: pattern(64, 5) }).ok,
    "DMA faulted",
  );
  d.unmapSingle(addr, 4096, DmaDirection.BIDIRECTIONAL);
  const t0 = m.core.now();

  let staleSupported = true;
  try {
    m.core.staleTranslation(dev, addr);
  } catch (error) {
    if (!isIommuSimError(error) || error.code !== "EOPNOTSUPP") throw error;
    staleSupported = false;
  }
  const before = m.dma.stats().staleWindow;
  const again = m.dma.deviceDma(dev, { iova: addr, length: 64, write: true, data: pattern(64, 6) });
  const sw = m.dma.stats().staleWindow;
  let staleHit = false;
  if (demoted) {
    check(!again.ok, "DMA after a (demoted, strict) unmap succeeded");
    check(sw.accesses === before.accesses, "a strict unmap has no stale window");
  } else {
    check(sw.pending === 1, `expected one unmap pending its flush, got ${sw.pending}`);
    check(sw.accesses === before.accesses + 1, "the access to the unflushed IOVA was not counted");
    if (staleSupported) {
      staleHit = sw.staleHits === before.staleHits + 1;
      check(staleHit || sw.staleMisses === before.staleMisses + 1, "stale access neither hit nor missed");
      check(staleHit === again.ok, "a stale-IOTLB hit must be exactly a successful access");
    } else {
      check(sw.unknown === before.unknown + 1, "EOPNOTSUPP access not counted as unknown");
    }
    check(sw.succeeded === before.succeeded + (again.ok ? 1 : 0), "successful stale accesses miscounted");
    // The flush queue's timer (10 ms on the virtual clock) flushes the domain's IOTLB.
    m.core.advance(10_000_000);
    const flushed = m.dma.stats();
    check(flushed.staleWindow.pending === 0, "flush queue did not flush on timeout");
    check(flushed.invalidations.flushAlls >= 1, "no flush-all issued");
    const window = flushed.staleWindow.maxNs;
    check(window > 0 && window <= m.core.now() - t0, `stale window ${window} ns is not within the wait`);
  }
  const late = m.dma.deviceDma(dev, { iova: addr, length: 64, write: true, data: pattern(64, 7) });
  check(!late.ok, "DMA after the flush succeeded");
  const windowNs = m.dma.stats().staleWindow.maxNs;
  m.ram.free(buf, 4096);
  d.release();
  return { demoted, staleSupported, staleHit, windowNs };
}

/** What {@link runArmSharedMappingScenario} observed. */
export interface ArmSharedMappingScenarioResult {
  /** IOVAs handed out, in order. */
  readonly iovas: readonly bigint[];
}

/**
 * ARM's explicit flow: one `arm_iommu` mapping, two bus masters attached. An IOVA mapped through one
 * device's DMA API is translated for both; allocations through either never overlap; detaching both
 * and releasing the mapping frees its domain; the devices go back to their default domains.
 */
export function runArmSharedMappingScenario(
  factory: DmaScenarioBackendFactory,
  sizes: readonly number[] = [4096, 8192, 100, 65536, 4096 * 3],
): ArmSharedMappingScenarioResult {
  const name = "arm shared mapping";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new DmaScenarioError(name, message);
  };
  const m = dmaScenarioMachine(factory, { strict: true });
  const a = m.addDevice(0);
  const b = m.addDevice(1);
  const mapping = m.dma.armIommuCreateMapping(a, 0x1000_0000n, 0x1000_0000n);
  m.dma.armIommuAttachDevice(a, mapping);
  m.dma.armIommuAttachDevice(b, mapping);
  check(mapping.refcount === 3, `refcount ${mapping.refcount}, expected 3`);
  const da = m.dma.device(a);
  const db = m.dma.device(b);
  check(da.opsKind === "arm" && db.opsKind === "arm", "devices do not use the ARM ops");

  const buf = m.ram.alloc(1 << 20);
  const live: { addr: bigint; size: number; dev: typeof da }[] = [];
  const iovas: bigint[] = [];
  sizes.forEach((size, i) => {
    const d = i % 2 === 0 ? da : db;
    const addr = d.mapSingle(buf + (i % 4) * 4096, size, DmaDirection.BIDIRECTIONAL);
    check(d.mappingError(addr) === 0, `map ${i} failed`);
    for (const other of live) {
      const overlap = addr < other.addr + BigInt(other.size) && other.addr < addr + BigInt(size);
      check(!overlap, `IOVA ${addr} overlaps ${other.addr}`);
    }
    live.push({ addr, size, dev: d });
    iovas.push(addr);
  });
  // Mapped through A, reachable from B (and the other way round): one address space.
  const first = live[0]!;
  const wB = m.dma.deviceDma(b, { iova: first.addr, length: 16, write: true, data: pattern(16, 1) });
  check(wB.ok, "B cannot reach an IOVA mapped through A");
  const rA = m.dma.deviceDma(a, { iova: first.addr, length: 16, write: false });
  check(rA.ok && rA.data !== undefined && same(rA.data, pattern(16, 1)), "A does not see B's write");
  const second = live[1]!;
  check(m.dma.deviceDma(a, { iova: second.addr, length: 4, write: false }).ok, "A cannot reach B's IOVA");

  for (const l of live) l.dev.unmapSingle(l.addr, l.size, DmaDirection.BIDIRECTIONAL);
  check(m.dma.stats().iova.armPages === 0, "ARM IOVA pages left allocated");
  check(
    !m.dma.deviceDma(b, { iova: first.addr, length: 4, write: false }).ok,
    "unmapped IOVA still reachable",
  );
  m.dma.armIommuDetachDevice(a);
  m.dma.armIommuDetachDevice(b);
  check(mapping.refcount === 1, "detach did not drop references");
  m.dma.armIommuReleaseMapping(mapping);
  check(mapping.refcount === 0 && mapping.domain.freed, "last release did not free the domain");
  check(da.opsKind === "iommu", "device did not return to dma-iommu after detach");
  m.ram.free(buf, 1 << 20);
  check(m.dma.debugReports.length === 0, "unexpected debug reports");
  da.release();
  db.release();
  return { iovas };
}

/**
 * The x86 flow's ownership rule: a bound driver moves its device to a domain of its own; while
 * there, the DMA API refuses the device (`EBUSY`) and leaves everything as it was; after detach the
 * device is back on its default domain and the DMA API works again.
 */
export function runDriverDomainScenario(factory: DmaScenarioBackendFactory): { readonly refusal: string } {
  const name = "driver-owned domain";
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new DmaScenarioError(name, message);
  };
  const m = dmaScenarioMachine(factory, { strict: true });
  const dev = m.addDevice(0);
  const d = m.dma.device(dev);
  const buf = m.ram.alloc(4096);
  const own = m.core.domainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
  m.core.attachDevice(own, dev);
  let refusal = "";
  try {
    d.mapSingle(buf, 4096, DmaDirection.TO_DEVICE);
  } catch (error) {
    refusal = isIommuSimError(error) ? error.code : String(error);
  }
  check(refusal === "EBUSY", `expected EBUSY, got ${refusal || "success"}`);
  check(m.dma.opsKind(dev) === "refused", "opsKind does not report the refusal");
  // The driver's own mappings work meanwhile.
  m.core.map(own, 0x5000_0000, buf, 4096, IOMMU_READ | IOMMU_WRITE);
  check(
    m.core.deviceDma(dev, { iova: 0x5000_0000, length: 4, write: false }).ok,
    "driver's domain does not translate",
  );
  m.core.unmap(own, 0x5000_0000, 4096);
  m.core.detachDevice(own, dev);
  m.core.domainFree(own);
  const addr = d.mapSingle(buf, 4096, DmaDirection.TO_DEVICE);
  check(d.mappingError(addr) === 0, "DMA API does not work after detach");
  check(m.dma.deviceDma(dev, { iova: addr, length: 4, write: false }).ok, "DMA after detach faulted");
  d.unmapSingle(addr, 4096, DmaDirection.TO_DEVICE);
  m.ram.free(buf, 4096);
  d.release();
  return { refusal };
}
