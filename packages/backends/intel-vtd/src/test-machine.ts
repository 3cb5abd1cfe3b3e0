/** A core with one VT-d unit and PCI devices behind it, for this package's tests. */
import { createIommuCore, type IommuCore, type IommuCoreOptions, type PciDevice } from "@iommu-sim/iommu";
import { createIntelVtd, type IntelVtdBackend } from "./backend.js";
import type { IntelVtdOptions } from "./options.js";

/** A machine: the core, the backend, and a way to add endpoints `bus:slot.fn`. */
export interface VtdMachine {
  readonly core: IommuCore;
  readonly vtd: IntelVtdBackend;
  add(bus: number, slot: number, fn?: number): PciDevice;
}

/** Creates a machine with a VT-d unit made with `options`. */
export function vtdMachine(options: IntelVtdOptions = {}, coreOptions: IommuCoreOptions = {}): VtdMachine {
  const vtd = createIntelVtd(options);
  const core = createIommuCore(coreOptions);
  core.registerIommu(vtd);
  return {
    core,
    vtd,
    add: (bus, slot, fn = 0) => core.addPciDevice({ bus, slot, fn, iommu: vtd.name }),
  };
}

/** The two little-endian quadwords of a 16-byte entry or descriptor at `pa`. */
export function qwords(vtd: IntelVtdBackend, pa: number): [bigint, bigint] {
  return [vtd.memory.readU64(pa), vtd.memory.readU64(pa + 8)];
}
