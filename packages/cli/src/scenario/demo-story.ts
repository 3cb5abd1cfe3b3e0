/**
 * The story the project tells, as a scenario the engine runs: `demoScenario(backend)`. The `demo`
 * command narrates it and the browser playground steps through it; both read the same steps and
 * notes. Every act starts with an `act` step; every step has a note written for a driver developer
 * or a student.
 */
import { loadScenario } from "./load.js";
import type { Scenario } from "./types.js";

/** The backends the demo runs on. */
export const DEMO_BACKENDS = ["arm-smmu-v3", "intel-vtd", "amd-vi", "arm-smmu"] as const;
/** A backend the demo runs on. */
export type DemoBackend = (typeof DEMO_BACKENDS)[number];

/** Whether `name` is a {@link DemoBackend}. */
export function isDemoBackend(name: string): name is DemoBackend {
  return (DEMO_BACKENDS as readonly string[]).includes(name);
}

const HARDWARE: Readonly<Record<DemoBackend, { instance: string; what: string; record: string }>> = {
  "arm-smmu-v3": {
    instance: "smmu0",
    what: "an Arm SMMUv3 (stream table, context descriptors, LPAE stage-1 tables)",
    record: "an event record in its event queue in memory",
  },
  "intel-vtd": {
    instance: "dmar0",
    what: "an Intel VT-d remapping unit (root and context tables, second-stage tables)",
    record: "a fault record in its fault recording registers",
  },
  "amd-vi": {
    instance: "ivhd0",
    what: "an AMD IOMMU (device table, v1 page tables)",
    record: "an entry in its event log in memory",
  },
  "arm-smmu": {
    instance: "smmu0",
    what: "an Arm SMMU v2 / MMU-500 (stream matching, context banks, LPAE stage-1 tables)",
    record: "its fault syndrome in the context bank's registers",
  },
};

type Step = Record<string, unknown>;

/** The demo's steps, act by act. */
function demoSteps(backend: DemoBackend): Step[] {
  const hw = HARDWARE[backend];
  return [
    {
      act: { title: "Probe: every device gets a group and a default DMA domain" },
      note: `The machine has ${hw.what} and five PCIe devices. At boot the IOMMU core probes each one, puts it in an IOMMU group (the smallest set of devices the hardware can isolate; here each device is alone) and attaches the group to a default domain. With iommu.strict=1 that domain is of type DMA: the DMA API will manage its IO addresses.`,
    },
    {
      expect: {
        group: [{ of: "nic", members: ["nic"] }],
        domain: ["nic", "gpu", "display", "rproc", "vdev"].map((device) => ({
          device,
          type: "DMA",
          default: true,
        })),
      },
      note: "Every device is on its own DMA default domain; no driver has done anything yet.",
    },
    {
      act: { title: "A driver uses the DMA API, unaware of the IOMMU" },
      note: "The network driver is written for any platform: it asks the DMA API for addresses it can give its device. Behind the API, iommu-dma allocates IO virtual addresses (IOVAs) and maps them in the default domain.",
    },
    {
      "dmaapi.bind": { device: "nic" },
      note: "The driver binds. iommu_device_use_default_domain() records a kernel DMA user of the group, so user space cannot claim it now.",
    },
    {
      "dmaapi.map": { device: "nic", name: "rx", size: "4K", dir: "from-device" },
      note: "dma_map_single() of a 4 KiB receive buffer, DMA_FROM_DEVICE. iommu-dma takes an IOVA below 4 GiB (PCI devices try there first) and maps it write-only for the device. The driver programs rx.dma into the NIC; it never sees a page table.",
    },
    {
      walk: { device: "nic", iova: "rx.dma" },
      note: "What the IOMMU will read to translate rx.dma: one descriptor per level, each chosen by a slice of the IOVA's bits, down to the leaf that holds the buffer's physical page.",
    },
    {
      "dma.write": { device: "nic", iova: "rx.dma", data: "45 00 00 54" },
      note: "The NIC writes a packet header. The IOTLB has no entry for this page (a miss), so the hardware walks the table above, caches the translation and the bytes reach the buffer.",
    },
    {
      "dma.write": { device: "nic", iova: "rx.dma + 4", data: "00 00 40 00" },
      note: "The next write to the same page hits in the IOTLB: no walk.",
    },
    {
      "dmaapi.sync": { name: "rx", for: "cpu" },
      note: "dma_sync_single_for_cpu() hands the buffer back to the CPU before it reads (a no-op for this coherent device; with bounce buffering it would copy).",
    },
    {
      expect: { memory: { paddr: "rx.cpu", bytes: "45 00 00 54 00 00 40 00" } },
      note: "The CPU finds the packet at the buffer's physical address.",
    },
    {
      "dmaapi.unmap": { name: "rx" },
      note: "dma_unmap_single(). In strict mode the page-table entry is cleared and the IOTLB invalidated before the call returns; the IOVA goes back to the allocator.",
    },
    {
      act: { title: "Two bus masters share one ARM-style mapping" },
      note: "Older 32-bit ARM platforms have no default domains: platform code calls arm_iommu_create_mapping() and attaches every bus master that must share one IO address space, here a GPU and a display controller sharing a frame buffer.",
    },
    {
      "arm.create-mapping": { name: "shared", device: "gpu", base: "0x10000000", size: "256M" },
      note: "An unmanaged domain plus a bitmap IOVA allocator over 0x10000000..0x1fffffff; the creator holds the first reference.",
    },
    {
      "arm.attach": { mapping: "shared", device: "gpu" },
      note: "arm_iommu_attach_device() attaches the GPU (iommu_attach_device(), so it must be alone in its group) and routes its DMA API to the mapping.",
    },
    {
      "arm.attach": { mapping: "shared", device: "display" },
      note: "The display controller joins the same mapping.",
    },
    {
      expect: {
        domain: [
          { device: "gpu", is: "shared", default: false },
          { device: "display", is: "shared", default: false },
        ],
      },
      note: "Both devices now translate through the one shared domain.",
    },
    {
      "dmaapi.alloc-coherent": { device: "gpu", name: "fb", size: "64K" },
      note: "dma_alloc_coherent() for the GPU: the mapping's bitmap allocator gives the first free IOVA, the mapping's base.",
    },
    {
      "dma.write": { device: "gpu", iova: "fb.dma", data: "ff 80 00 ff" },
      note: "The GPU renders a pixel into the frame buffer.",
    },
    {
      "dma.read": { device: "display", iova: "fb.dma", expect: "ff 80 00 ff" },
      note: "The display controller scans out the same IOVA and reads the pixel: one IO address space, two masters.",
    },
    { "dmaapi.free-coherent": { name: "fb" }, note: "dma_free_coherent(): unmapped from the shared domain." },
    {
      "arm.detach": { device: "gpu" },
      note: "arm_iommu_detach_device(): the GPU goes back to its default domain.",
    },
    { "arm.detach": { device: "display" }, note: "The display controller too." },
    {
      "arm.release": { mapping: "shared" },
      note: "arm_iommu_release_mapping() drops the creator's reference: the last one, so the domain is freed.",
    },
    {
      act: { title: "A driver takes its device into its own domain" },
      note: "A remote-processor driver must place firmware at fixed IO addresses, so it manages the address space itself: it allocates an unmanaged domain, maps what it wants with iommu_map() and attaches its device.",
    },
    {
      "domain.alloc": { name: "fw", device: "rproc", type: "unmanaged" },
      note: "iommu_domain_alloc() on the device's IOMMU: an empty IO address space.",
    },
    {
      map: { domain: "fw", iova: "0x100000", paddr: "0x90000000", size: "64K", prot: "rw" },
      note: "iommu_map(): the firmware image at physical 0x90000000 appears at IOVA 0x100000, where the firmware expects it.",
    },
    {
      attach: { domain: "fw", device: "rproc" },
      note: "iommu_attach_device(): the group leaves its default domain for fw.",
    },
    {
      "dma.read": { device: "rproc", iova: "0x100000", expect: "7f 45 4c 46" },
      note: "The remote processor fetches its firmware (an ELF header) through the driver's mapping.",
    },
    {
      "dmaapi.map": { device: "rproc", name: "ring", size: "4K", dir: "to-device" },
      error: "EBUSY",
      note: "Meanwhile the DMA API is refused: the group is not on the domain the DMA layer manages, so dma_map_single() cannot be served (-EBUSY).",
    },
    {
      detach: { domain: "fw", device: "rproc" },
      note: "iommu_detach_device() does not leave the device untranslated: the group goes back to its default domain.",
    },
    {
      expect: {
        domain: { device: "rproc", type: "DMA", default: true },
        dmaApi: { device: "rproc", usable: true },
      },
      note: "Back on the default domain, the DMA API may be used again.",
    },
    {
      "dmaapi.map": { device: "rproc", name: "ring", size: "4K", dir: "to-device" },
      note: "The same dma_map_single() now succeeds.",
    },
    {
      act: { title: "A process maps its memory for a device through VFIO" },
      note: "User space can own a whole IOMMU group. A process (a VMM such as QEMU, or DPDK) opens the group through VFIO, chooses IO addresses itself and maps its own memory at them; the kernel pins the pages and maps them in a domain the container owns.",
    },
    {
      "vfio.open": { process: "vmm", device: "vdev" },
      note: "The process opens a container and the device's group (viable: no kernel driver uses the DMA API in it), selects the type1 IOMMU model, which claims DMA ownership and attaches the group to the container's unmanaged domain, and opens the device.",
    },
    {
      "vfio.map": { process: "vmm", name: "guest", iova: "0x10000000", size: "64K" },
      note: "mmap() of 64 KiB, then VFIO_IOMMU_MAP_DMA at IOVA 0x10000000: type1 pins every page (charged to RLIMIT_MEMLOCK) and maps it for the device.",
    },
    {
      "vfio.write": { process: "vmm", vaddr: "guest.vaddr", data: "de ad be ef" },
      note: "The process writes a descriptor into its own memory, at a virtual address.",
    },
    {
      "dma.read": { device: "vdev", iova: "guest.iova", expect: "de ad be ef" },
      note: "The device reads it at the IOVA the process chose: the IOMMU translates to the pinned page, with no kernel buffer and no copy.",
    },
    {
      "dmaapi.bind": { device: "vdev" },
      error: "EBUSY",
      note: "A kernel driver cannot bind to the device with the DMA API now (-EBUSY): user space owns the group.",
    },
    {
      "vfio.unmap": { process: "vmm", name: "guest" },
      note: "VFIO_IOMMU_UNMAP_DMA: the range is unmapped, the IOTLB invalidated and the pages unpinned.",
    },
    {
      "vfio.close": { process: "vmm" },
      note: "The process closes its files and exits: ownership is released and the group goes back to its default domain.",
    },
    {
      expect: { domain: { device: "vdev", type: "DMA", default: true } },
      note: "vdev is on its default domain again, ready for a kernel driver.",
    },
    {
      act: { title: "A stray access faults" },
      note: `A device that keeps using an address after the driver unmapped it is a classic bug. The IOMMU stops it and reports it: ${hw.record}.`,
    },
    {
      walk: { device: "nic", iova: "rx.dma", expect: "unmapped" },
      note: "The NIC's table no longer maps rx.dma: the walk ends at an invalid descriptor.",
    },
    {
      "dma.read": { device: "nic", iova: "rx.dma", length: 4, fault: "unmapped" },
      note: "The NIC reads rx.dma after dma_unmap_single() (use after unmap). Strict invalidation left no stale IOTLB entry, so the IOMMU walks, finds nothing and blocks the read.",
    },
    {
      expect: { faults: { count: 1, last: { device: "nic", write: false } } },
      note: "The driver handed the fault to the IOMMU core (report_iommu_fault()); no handler claimed it, so it was logged.",
    },
  ];
}

/** The demo scenario for `backend` as a plain object (the JSON/YAML document). */
export function demoScenarioDocument(backend: DemoBackend): Record<string, unknown> {
  const hw = HARDWARE[backend];
  return {
    name: "The IOMMU story",
    description: `Default DMA domains, the DMA API, ARM shared mappings, driver-owned domains, VFIO and a fault, on ${hw.what}.`,
    machine: {
      core: { strict: true },
      iommus: [{ name: hw.instance, backend }],
      pci: [
        { name: "nic", bus: 0, slot: 1 },
        { name: "gpu", bus: 0, slot: 2 },
        { name: "display", bus: 0, slot: 3 },
        { name: "rproc", bus: 0, slot: 4 },
        { name: "vdev", bus: 0, slot: 5 },
      ],
      memory: [{ paddr: "0x90000000", data: "7f 45 4c 46 02 01 01 00" }],
    },
    steps: demoSteps(backend),
  };
}

/** The demo scenario for `backend`, loaded and ready for `runScenario`. */
export function demoScenario(backend: DemoBackend = "arm-smmu-v3"): Scenario {
  return loadScenario(JSON.stringify(demoScenarioDocument(backend), null, 2), `demo:${backend}`);
}
