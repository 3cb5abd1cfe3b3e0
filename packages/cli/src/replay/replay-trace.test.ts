import { describe, expect, it } from "vitest";
import { capture } from "../commands/test-capture.js";
import { replayTrace } from "./replay-trace.js";

/** A synthetic trace with known answers (event numbers count map/unmap/io_page_fault lines). */
export const SYNTHETIC_TRACE = `# tracer: nop
      fio-100   [000] .....  10.000000: map: IOMMU: iova=0x0000000000100000 - 0x0000000000102000 paddr=0x0000000080000000 size=8192
      fio-100   [000] .....  10.000100: map: IOMMU: iova=0x0000000000200000 - 0x0000000000400000 paddr=0x0000000090000000 size=2097152
     bash-7     [001] .....  10.000150: sched_process_exec: filename=/bin/ls pid=7 old_pid=7
      fio-100   [000] .....  10.000200: unmap: IOMMU: iova=0x0000000000100000 - 0x0000000000102000 size=8192 unmapped_size=8192
   <idle>-0     [001] d.h1.  10.000300: io_page_fault: IOMMU:nvme 0000:02:00.0 iova=0x0000000000101000 flags=0x0000
   <idle>-0     [001] d.h1.  10.000400: io_page_fault: IOMMU:nvme 0000:02:00.0 iova=0x0000000000500000 flags=0x0001
      fio-100   [000] .....  10.000500: map: IOMMU: iova=0x0000000000600000 - 0x0000000000601000 paddr=0x00000000a0000000 size=4096 prot=0x1
   <idle>-0     [001] d.h1.  10.000600: io_page_fault: IOMMU:nvme 0000:02:00.0 iova=0x0000000000600800 flags=0x0001
`;

describe("replayTrace", () => {
  it("explains a fault after an unmap as use after unmap, with the unmap's event number and time", () => {
    const r = replayTrace(SYNTHETIC_TRACE);
    expect(r.faults[0]).toMatchObject({
      event: 4,
      line: 6,
      device: "0000:02:00.0",
      iova: "0x101000",
      write: false,
      cause: "use-after-unmap",
      byEvent: 3,
      byLine: 5,
      byTime: "10.000200",
    });
    expect(r.faults[0]!.explanation).toBe("use after unmap: unmapped by event 3 (line 5) at 10.000200");
  });
  it("explains never-mapped and read-only faults", () => {
    const r = replayTrace(SYNTHETIC_TRACE);
    expect(r.faults[1]).toMatchObject({ event: 5, cause: "never-mapped", write: true });
    expect(r.faults[2]).toMatchObject({ event: 7, cause: "permission", byEvent: 6 });
    expect(r.faults[2]!.explanation).toMatch(/^mapped READ by event 6 \(line 8\): a write is not allowed$/);
  });
  it("reports live mappings over time, the peak, a size histogram and the IOVA span", () => {
    const r = replayTrace(SYNTHETIC_TRACE);
    expect(r).toMatchObject({ events: 7, maps: 3, unmaps: 1, warnings: [] });
    expect(r.peak).toEqual({ liveBytes: 8192 + 2097152, event: 2 });
    expect(r.final).toEqual({ liveBytes: 2097152 + 4096, liveMappings: 2 });
    expect(r.sizeHistogram).toEqual([
      { size: "4K", bytes: 4096, count: 1 },
      { size: "8K", bytes: 8192, count: 1 },
      { size: "2M", bytes: 2097152, count: 1 },
    ]);
    expect(r.iovaSpan).toEqual({ low: "0x100000", high: "0x601000", bytes: "0x501000" });
    expect(r.series.map((p) => p.liveMappings)).toEqual([1, 2, 1, 1, 1, 2, 2]);
  });
  it("replays on a hardware backend too, and warns about events the model refuses", () => {
    const r = replayTrace(
      `${SYNTHETIC_TRACE}      fio-100   [000] .....  10.000700: map: IOMMU: iova=0x0000000000200000 - 0x0000000000201000 paddr=0x0000000090000000 size=4096\n`,
      { backend: "arm-smmu-v3" },
    );
    expect(r.backend).toBe("arm-smmu-v3");
    expect(r.faults.map((f) => f.cause)).toEqual(["use-after-unmap", "never-mapped", "permission"]);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^event 8 \(line 10\): map 0x200000 size 4K failed: /),
    ]);
  });
  it("reports progress", () => {
    const seen: number[] = [];
    replayTrace(SYNTHETIC_TRACE, { onProgress: (done) => seen.push(done) });
    expect(seen.at(-1)).toBe(7);
  });
});

describe("iommu-sim replay", () => {
  it("prints the report and exits 0", async () => {
    const { code, out } = await capture(["replay", "/dev/null"]);
    expect(code).toBe(0);
    expect(out).toMatch(/^replayed 0 events/);
  });
  it("refuses an unknown backend with exit 2 and an unreadable file with exit 1, one line each", async () => {
    const a = await capture(["replay", "x.trace", "--backend", "smmu9"]);
    expect(a.code).toBe(2);
    expect(a.err.split("\n")[0]).toMatch(/^error: unknown backend "smmu9"/);
    const b = await capture(["replay", "/nonexistent/x.trace"]);
    expect(b.code).toBe(1);
    expect(b.err).toBe("iommu-sim: cannot read '/nonexistent/x.trace': no such file or directory\n");
  });
});
