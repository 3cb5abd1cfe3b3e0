import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";

const HELP_AFTER = `
Serves the playground, a web page where you step through a scenario and watch the machine (groups,
domains, page tables, the IOTLB, faults), on localhost and prints its address. In a checkout of the
repository the page is packages/playground/dist, built first when missing; --dir serves another
copy of the built folder (it is static and uses relative URLs, so any web server can host it).

Examples:
  $ iommu-sim playground
  $ iommu-sim playground --port 8080 --host 0.0.0.0
`;

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".map": "application/json; charset=utf-8",
  ".yaml": "text/yaml; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/** A running static server. */
export interface StaticServer {
  /** `http://HOST:PORT/`. */
  readonly url: string;
  /** Stops accepting connections and closes the open ones. */
  close(): Promise<void>;
}

/**
 * Serves the files of `dir` over HTTP (GET and HEAD; `/` and folders answer their `index.html`;
 * nothing outside `dir`). `port` 0 picks a free port. @default host 127.0.0.1, port 0
 */
export function serveStatic(
  dir: string,
  options: { host?: string; port?: number } = {},
): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
      } catch {
        res.writeHead(400).end("bad request\n");
        return;
      }
      let file = normalize(join(root, path));
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end("forbidden\n");
        return;
      }
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
      try {
        const body = await readFile(file);
        res.writeHead(200, {
          "content-type": TYPES[extname(file)] ?? "application/octet-stream",
          "content-length": body.length,
          "cache-control": "no-cache",
        });
        res.end(req.method === "HEAD" ? undefined : body);
      } catch {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      }
    })();
  });
  const host = options.host ?? "127.0.0.1";
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 0, host, () => {
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(":") ? `[${host}]` : host;
      ok({
        url: `http://${shown}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The playground package of this checkout (`packages/playground`), or `undefined` outside one. */
function playgroundPackage(): string | undefined {
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), "../../../playground");
  return existsSync(join(dir, "package.json")) && existsSync(join(dir, "index.html")) ? dir : undefined;
}

/** `iommu-sim playground [--port N] [--host H] [--dir DIR]`: serve the web playground. */
export function registerPlayground(program: Command): void {
  program
    .command("playground")
    .description("serve the web playground on localhost and print its address")
    .option("--port <port>", "port to listen on (0: any free port)", "5180")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--dir <dir>", "serve this built playground folder instead of the checkout's")
    .option("--no-build", "never build the playground, even when its folder is missing")
    .addHelpText("after", HELP_AFTER)
    .action(async (options: { port: string; host: string; dir?: string; build: boolean }) => {
      const pkg = playgroundPackage();
      const dir = options.dir ?? (pkg && join(pkg, "dist"));
      if (!dir) throw new Error("playground: no built playground here; pass --dir with a built copy");
      if (!existsSync(join(dir, "index.html"))) {
        if (options.dir !== undefined || !pkg || !options.build)
          throw new Error(`playground: ${join(dir, "index.html")} does not exist; build it first`);
        process.stderr.write("playground: building packages/playground (vite build)...\n");
        const built = spawnSync("pnpm", ["--filter", "@iommu-sim/playground", "run", "build"], {
          cwd: pkg,
          stdio: ["ignore", 2, 2],
        });
        if (built.status !== 0 || !existsSync(join(dir, "index.html")))
          throw new Error("playground: the build failed (run `pnpm --filter @iommu-sim/playground build`)");
      }
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`playground: --port ${options.port} is not a port number`);
      const server = await serveStatic(dir, { host: options.host, port });
      process.stdout.write(`iommu-sim playground: ${server.url} (serving ${dir}; Ctrl-C to stop)\n`);
    });
}
