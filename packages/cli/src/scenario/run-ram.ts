/**
 * The system RAM of a scenario run, shared by the DMA API (coherent buffers, mapped buffers) and
 * VFIO (process memory): 256 MiB at 0x8000_0000, clear of every backend's page-table and structure
 * pages, in the first IOMMU instance's memory. Created on first use.
 */
import { createPageAllocator, type PhysMemory } from "@iommu-sim/hw";
import type { PageProvider, PhysBus } from "@iommu-sim/iommu";
import type { RunContext } from "./context.js";

/** Base of the run's RAM. */
export const RUN_RAM_BASE = 0x8000_0000;
/** Size of the run's RAM. */
export const RUN_RAM_SIZE = 0x1000_0000;

const perRun = new WeakMap<RunContext, { memory: PhysBus; ram: PageProvider }>();

const enomem = (message: string) => Object.assign(new Error(message), { code: "ENOMEM" });

// RAM over a memory that manages no frames (the reference backend's sparse memory): blocks are
// handed out once, naturally aligned, and never reused; unwritten memory reads as zero.
function createBumpRam(): PageProvider {
  let next = RUN_RAM_BASE;
  let pages = 0;
  let failIn = 0;
  return {
    alloc(bytes) {
      if (failIn > 0 && --failIn === 0) throw enomem("scenario RAM: injected failure");
      const at = Math.ceil(next / bytes) * bytes;
      if (at + bytes > RUN_RAM_BASE + RUN_RAM_SIZE) throw enomem(`scenario RAM: no room for ${bytes} bytes`);
      next = at + bytes;
      pages += Math.ceil(bytes / 4096);
      return at;
    },
    free(_pa, bytes) {
      pages -= Math.ceil(bytes / 4096);
    },
    get pagesInUse() {
      return pages;
    },
    failAfter(n) {
      failIn = n;
    },
  };
}

/** The run's memory bus and RAM allocator. */
export function runRam(ctx: RunContext): { memory: PhysBus; ram: PageProvider } {
  let r = perRun.get(ctx);
  if (!r) {
    const memory = ctx.memory();
    const ram =
      typeof (memory as Partial<PhysMemory>).releaseFrame === "function"
        ? createPageAllocator(memory as PhysMemory, {
            base: RUN_RAM_BASE,
            size: RUN_RAM_SIZE,
            name: "scenario RAM",
          })
        : createBumpRam();
    r = { memory, ram };
    perRun.set(ctx, r);
  }
  return r;
}
