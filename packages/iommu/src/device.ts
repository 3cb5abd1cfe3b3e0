/**
 * The device model: PCI functions (endpoints and bridges, with ACS, multi-function and DMA aliases)
 * and platform devices with a firmware IOMMU specifier. Devices are created through the core
 * (`core.addPciDevice`, `core.addPlatformDevice`), which probes them against the registered IOMMUs.
 */
import type { IommuGroup } from "./group.js";

/** ACS Source Validation (`PCI_ACS_SV`). */
export const PCI_ACS_SV = 0x01;
/** ACS P2P Request Redirect (`PCI_ACS_RR`). */
export const PCI_ACS_RR = 0x04;
/** ACS P2P Completion Redirect (`PCI_ACS_CR`). */
export const PCI_ACS_CR = 0x08;
/** ACS Upstream Forwarding (`PCI_ACS_UF`). */
export const PCI_ACS_UF = 0x10;
/** The ACS controls that must all be enabled for isolation (`REQ_ACS_FLAGS` in iommu.c). */
export const REQ_ACS_FLAGS = PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF;

/**
 * What a PCI function is, after the PCIe capability's device/port type (`PCI_EXP_TYPE_*`):
 * - `endpoint`: PCIe endpoint; `rc-endpoint`: root-complex integrated endpoint;
 * - `root-port`, `switch-upstream`, `switch-downstream`: PCIe ports (bridges);
 * - `pcie-to-pci-bridge`: PCIe-to-PCI/PCI-X bridge (`PCI_EXP_TYPE_PCI_BRIDGE`): devices behind it
 *   issue DMA with the requester ID (secondary bus, devfn 0);
 * - `pci-bridge`: conventional (non-PCIe) PCI-to-PCI bridge: takes ownership of its devices' DMA
 *   with its own requester ID;
 * - `pci`: conventional PCI device (no PCIe capability, hence no ACS).
 */
export type PciKind =
  | "endpoint"
  | "rc-endpoint"
  | "root-port"
  | "switch-upstream"
  | "switch-downstream"
  | "pcie-to-pci-bridge"
  | "pci-bridge"
  | "pci";

/** True for the kinds that forward to a secondary bus. */
export function isBridgeKind(kind: PciKind): boolean {
  return (
    kind === "root-port" ||
    kind === "switch-upstream" ||
    kind === "switch-downstream" ||
    kind === "pcie-to-pci-bridge" ||
    kind === "pci-bridge"
  );
}

/** A firmware IOMMU specifier (a DT `iommus` property / IORT mapping, Linux's `iommu_fwspec`). */
export interface FirmwareSpec {
  /** Name of the IOMMU instance the device is behind. */
  readonly iommu: string;
  /** Stream IDs (or requester IDs) the device's transactions carry. */
  readonly ids: readonly number[];
}

/** What PCI and platform devices share. */
export interface IommuDeviceBase {
  /** Device name: `SSSS:BB:DD.F` for PCI, the given name for platform devices. */
  readonly name: string;
  /** Stable index in the machine, in creation order. */
  readonly index: number;
  /** Addressing limit for streaming DMA. @default 0xffffffff (32-bit, as Linux) */
  dmaMask: bigint;
  /** Addressing limit for coherent allocations. @default 0xffffffff (32-bit, as Linux) */
  coherentDmaMask: bigint;
  /** The device's group, once probed by an IOMMU (Linux's `dev->iommu_group`). */
  readonly group: IommuGroup | undefined;
  /** The IOMMU specifier the core probed the device with; `undefined` when no IOMMU translates it. */
  readonly fwspec: FirmwareSpec | undefined;
  /** False once `core.removeDevice` has run. */
  readonly present: boolean;
  /** Private data a driver may hang on the device (Linux's `dev_iommu_priv_set`). */
  driverData: unknown;
}

/** A PCI function. */
export interface PciDevice extends IommuDeviceBase {
  readonly busType: "pci";
  /** PCI segment (domain). */
  readonly segment: number;
  /** Bus number. */
  readonly bus: number;
  /** Slot number (0-31). */
  readonly slot: number;
  /** Function number (0-7). */
  readonly fn: number;
  /** `slot << 3 | fn`. */
  readonly devfn: number;
  /** Requester ID, `bus << 8 | devfn` (Linux's `pci_dev_id()`). */
  readonly requesterId: number;
  /** PCIe device/port type. */
  readonly kind: PciKind;
  /** ACS controls implemented and enabled (`PCI_ACS_*` bits); 0 without an ACS capability. */
  readonly acs: number;
  /** Part of a multi-function device. */
  readonly multifunction: boolean;
  /** External-facing or behind an external-facing port: gets a translated default domain. */
  readonly untrusted: boolean;
  /** Secondary bus number, for bridges. */
  readonly secondaryBus: number | undefined;
  /** The bridge whose secondary bus this device sits on; `undefined` on a root bus. */
  readonly upstream: PciDevice | undefined;
  /** Extra devfns on the same bus this device's DMA also appears with (quirks; `dma_alias_mask`). */
  readonly dmaAliasDevfns: readonly number[];
}

/** A platform (DT/ACPI-described, non-discoverable) device. */
export interface PlatformDevice extends IommuDeviceBase {
  readonly busType: "platform";
  /** Platform devices are trusted. */
  readonly untrusted: false;
}

/** Any device the core knows. */
export type IommuDevice = PciDevice | PlatformDevice;

/** Options for `core.addPciDevice`. */
export interface PciDeviceOptions {
  /** PCI segment. @default 0 */
  segment?: number;
  /** Bus number (0-255). A bus no bridge of the segment forwards to is a root bus. */
  bus: number;
  /** Slot (0-31). */
  slot: number;
  /** Function (0-7). @default 0 */
  fn?: number;
  /** Device/port type. @default "endpoint" */
  kind?: PciKind;
  /** Enabled ACS controls. @default 0 (no ACS capability) */
  acs?: number;
  /** Multi-function device. @default true when `fn` is not 0, else false */
  multifunction?: boolean;
  /** Secondary bus, required for bridges. */
  secondaryBus?: number;
  /** External-facing / untrusted (Thunderbolt): forces a DMA default domain. Inherited from upstream bridges. @default false */
  untrusted?: boolean;
  /** Extra DMA alias devfns on the same bus (`pci_add_dma_alias`). @default [] */
  dmaAliasDevfns?: readonly number[];
  /** IOMMU instance; inherited from the upstream bridge, else the only registered IOMMU. */
  iommu?: string;
  /** Streaming DMA mask. @default 0xffffffff */
  dmaMask?: bigint;
  /** Coherent DMA mask. @default 0xffffffff */
  coherentDmaMask?: bigint;
}

/** Options for `core.addPlatformDevice`. */
export interface PlatformDeviceOptions {
  /** Device name (unique). */
  name: string;
  /** Firmware IOMMU specifier; without one the device is not behind an IOMMU. */
  firmware?: { iommu: string; streamIds: readonly number[] };
  /** Streaming DMA mask. @default 0xffffffff */
  dmaMask?: bigint;
  /** Coherent DMA mask. @default 0xffffffff */
  coherentDmaMask?: bigint;
}

/** Formats a PCI device name `SSSS:BB:DD.F` (Linux's `pci_name()`). */
export function pciName(segment: number, bus: number, slot: number, fn: number): string {
  const h = (v: number, w: number) => v.toString(16).padStart(w, "0");
  return `${h(segment, 4)}:${h(bus, 2)}:${h(slot, 2)}.${fn}`;
}

/** Default DMA mask of a new device, 32 bits as in Linux. */
export const DEFAULT_DMA_MASK = 0xffff_ffffn;
