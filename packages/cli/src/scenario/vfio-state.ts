/**
 * VFIO in a scenario run (`@iommu-sim/vfio` over the run's core and RAM), created on first use:
 * user-space processes by name, each with its open container, group and device files, and the
 * regions its steps mapped. `allow_unsafe_interrupts` is on (no simulated IOMMU reports interrupt
 * remapping).
 */

import type { IommuDevice } from "@iommu-sim/iommu";
import {
  createVfio,
  type SimProcess,
  type Vfio,
  type VfioContainer,
  type VfioGroupFile,
} from "@iommu-sim/vfio";
import type { RunContext } from "./context.js";
import { runRam } from "./run-ram.js";

/** A process that opened a device through VFIO. */
export interface VfioUser {
  readonly proc: SimProcess;
  readonly container: VfioContainer;
  readonly group: VfioGroupFile;
  readonly device: IommuDevice;
  /** Regions it mapped, by name. */
  readonly regions: Map<
    string,
    { readonly vaddr: bigint; readonly iova: bigint; readonly size: bigint; live: boolean }
  >;
  /** Closes the device, group and container files. */
  close(): void;
}

/** VFIO state of one run. */
export interface VfioState {
  readonly vfio: Vfio;
  readonly users: Map<string, VfioUser>;
  /** A named process; throws for an unknown one. */
  user(name: string): VfioUser;
}

const states = new WeakMap<RunContext, VfioState>();

/** The run's VFIO state. */
export function vfioState(ctx: RunContext): VfioState {
  let s = states.get(ctx);
  if (s) return s;
  const { memory, ram } = runRam(ctx);
  const vfio = createVfio(ctx.core, { ram, memory, allowUnsafeInterrupts: true });
  const users = new Map<string, VfioUser>();
  s = {
    vfio,
    users,
    user(name) {
      const u = users.get(name);
      if (!u)
        throw new Error(
          `no process named "${name}" opened a VFIO device (known: ${[...users.keys()].join(", ") || "none"})`,
        );
      return u;
    },
  };
  states.set(ctx, s);
  return s;
}
