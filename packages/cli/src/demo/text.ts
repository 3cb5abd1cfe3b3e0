/** Plain-text layout helpers for the narration: word wrapping and aligned tables. */

/** Wraps `text` at `width` columns, each line prefixed with `indent`. */
export function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/**
 * An aligned table: a header row (passed through `head` for styling) and rows, columns separated
 * by two spaces, each line prefixed with `indent`. The last column is not padded.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  indent: string,
  head: (s: string) => string = (s) => s,
): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const render = (r: readonly string[]) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [indent + head(render(header)), ...rows.map((r) => indent + render(r))];
}
