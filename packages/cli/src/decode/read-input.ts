import { readFile } from "node:fs/promises";

/** Human wording for the errno codes a file read commonly fails with. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a path component is not a directory",
  EMFILE: "too many open files",
};

/** Reads all of a stream into one buffer. */
export async function readStream(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * Reads the log to decode: the file `source`, or `stdin` when `source` is `-`. Throws an `Error`
 * with one clear line (`cannot read 'x.log': no such file or directory`, `'x.bin' is not text:
 * NUL byte on line 3`) when the input cannot be read or is binary.
 */
export async function readLogInput(
  source: string,
  stdin: AsyncIterable<Buffer | string> = process.stdin,
): Promise<string> {
  const name = source === "-" ? "standard input" : `'${source}'`;
  let data: Buffer;
  try {
    data = source === "-" ? await readStream(stdin) : await readFile(source);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason =
      typeof code === "string" && REASONS[code]
        ? REASONS[code]
        : error instanceof Error
          ? error.message
          : String(error);
    throw new Error(`cannot read ${name}: ${reason}`, { cause: error });
  }
  const nul = data.indexOf(0);
  if (nul >= 0) {
    let line = 1;
    for (let i = 0; i < nul; i++) if (data[i] === 0x0a) line++;
    throw new Error(`${name} is not text: NUL byte on line ${line}`);
  }
  return data.toString("utf8");
}
