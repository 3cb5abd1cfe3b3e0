/**
 * A one-line progress bar on a terminal's stderr (`[#####.....]  45%  12000/27000 events`), drawn
 * only on a TTY and only for long inputs, cleared when done.
 */

/** A progress sink: call with done/total; `done()` clears the line. */
export interface ProgressBar {
  update(done: number, total: number): void;
  done(): void;
}

/** Creates a bar on `stream` when it is a TTY and `total` will reach `threshold`; else a no-op. */
export function createProgressBar(
  stream: { isTTY?: boolean; write(text: string): boolean },
  label: string,
  threshold = 10_000,
): ProgressBar {
  let drawn = false;
  let lastPercent = -1;
  return {
    update(done, total) {
      if (!stream.isTTY || total < threshold) return;
      const percent = Math.floor((done / total) * 100);
      if (percent === lastPercent) return;
      lastPercent = percent;
      const width = 30;
      const filled = Math.round((percent / 100) * width);
      stream.write(
        `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(percent).padStart(3)}%  ${done}/${total} ${label}`,
      );
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
