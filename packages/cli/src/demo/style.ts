/**
 * Terminal styling for the narrated demo: plain ANSI SGR codes, used only when the output is a
 * terminal (and `NO_COLOR` is unset), so piped output and tests see plain text.
 */

/** The styles the narration uses; each wraps text, or returns it unchanged without colour. */
export interface Style {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly heading: (s: string) => string;
  readonly ok: (s: string) => string;
  readonly bad: (s: string) => string;
  readonly accent: (s: string) => string;
}

const sgr =
  (open: string, close: string) =>
  (s: string): string =>
    `\u001b[${open}m${s}\u001b[${close}m`;
const plain = (s: string): string => s;

/** The styles, coloured or not. */
export function createStyle(color: boolean): Style {
  if (!color) return { bold: plain, dim: plain, heading: plain, ok: plain, bad: plain, accent: plain };
  return {
    bold: sgr("1", "22"),
    dim: sgr("2", "22"),
    heading: (s) => sgr("1", "22")(sgr("36", "39")(s)),
    ok: sgr("32", "39"),
    bad: sgr("31", "39"),
    accent: sgr("33", "39"),
  };
}

/**
 * Whether to colour output written to `stream`: a TTY, and neither `NO_COLOR` (no-color.org) set
 * nor `TERM=dumb`.
 */
export function wantColor(
  stream: { readonly isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
}
