/** Rendering a replay report as text. */
import { sizeText } from "../scenario/format.js";
import type { ReplayReport } from "./replay-trace.js";

const BAR = 40;

/** Renders the report: summary, live-mapping series (up to 20 rows), size histogram, span, faults. */
export function renderReplay(report: ReplayReport): string {
  const out: string[] = [
    `replayed ${report.events} events (${report.maps} map, ${report.unmaps} unmap, ${report.faults.length} io_page_fault) on ${report.backend}`,
    `live at the end: ${report.final.liveMappings} mappings, ${sizeText(report.final.liveBytes)}; peak ${sizeText(report.peak.liveBytes)} at event ${report.peak.event}`,
  ];
  if (report.iovaSpan)
    out.push(
      `IOVA span: ${report.iovaSpan.low} .. ${report.iovaSpan.high} (${sizeText(BigInt(report.iovaSpan.bytes))})`,
    );
  if (report.series.length) {
    out.push("", "live mappings over time:", "  EVENT  TIME            MAPPINGS  BYTES");
    const step = Math.max(1, Math.ceil(report.series.length / 20));
    report.series
      .filter((_, i) => i % step === 0 || i === report.series.length - 1)
      .forEach((p) => {
        out.push(
          `  ${String(p.event).padEnd(6)} ${(p.time ?? "-").padEnd(15)} ${String(p.liveMappings).padEnd(9)} ${sizeText(p.liveBytes)}`,
        );
      });
  }
  if (report.sizeHistogram.length) {
    out.push("", "map sizes:");
    const max = Math.max(...report.sizeHistogram.map((h) => h.count));
    for (const h of report.sizeHistogram)
      out.push(
        `  ${h.size.padStart(6)}  ${String(h.count).padStart(7)}  ${"#".repeat(Math.max(1, Math.round((h.count / max) * BAR)))}`,
      );
  }
  if (report.faults.length) {
    out.push("", "faults:");
    for (const f of report.faults)
      out.push(
        `  event ${f.event} (line ${f.line}${f.time ? `, ${f.time}` : ""}): ${f.device ?? "?"} ${f.write ? "write" : "read"} ${f.iova}: ${f.explanation}`,
      );
  }
  if (report.warnings.length) {
    out.push("", `warnings (${report.warnings.length}):`);
    for (const w of report.warnings.slice(0, 20)) out.push(`  ${w}`);
    if (report.warnings.length > 20) out.push(`  ... ${report.warnings.length - 20} more (see --json)`);
  }
  return `${out.join("\n")}\n`;
}
