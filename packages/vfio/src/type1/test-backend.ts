/**
 * A recording {@link DmaBackend} for tests: tracks which mappings are "pinned and mapped", can be
 * told to fail the n-th pinAndMap, and refuses double unmaps. Test-only (excluded from the build).
 */
import type { DmaBackend, VfioDma } from "./dma-list.js";

/** The fake backend with its record. */
export interface FakeBackend<O = unknown> extends DmaBackend<O> {
  iommuBacked: boolean;
  /** Mappings currently pinned and mapped, by iova. */
  readonly live: Map<number, VfioDma<O>>;
  /** Every call, in order. */
  readonly calls: string[];
  /** Makes the n-th pinAndMap from now throw `code` (0 disarms). */
  failAt(n: number, code?: string): void;
}

/** Creates a {@link FakeBackend}. */
export function createFakeBackend<O = unknown>(): FakeBackend<O> {
  const live = new Map<number, VfioDma<O>>();
  const calls: string[] = [];
  let failIn = 0;
  let failCode = "ENOMEM";
  return {
    iommuBacked: true,
    live,
    calls,
    failAt(n, code = "ENOMEM") {
      failIn = n;
      failCode = code;
    },
    pinAndMap(dma) {
      if (failIn > 0 && --failIn === 0) {
        calls.push(`fail ${dma.iova.toString(16)}`);
        throw Object.assign(new Error(`fake ${failCode}`), { code: failCode });
      }
      if (live.has(dma.iova)) throw new Error(`double map at ${dma.iova}`);
      live.set(dma.iova, dma);
      calls.push(`map ${dma.iova.toString(16)}+${dma.size.toString(16)}`);
    },
    unmapAndUnpin(dma) {
      if (dma.iommuMapped && !live.delete(dma.iova)) throw new Error(`unmap of unmapped ${dma.iova}`);
      calls.push(`unmap ${dma.iova.toString(16)}+${dma.size.toString(16)}`);
    },
  };
}
