import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { serveStatic } from "./playground.js";

describe("iommu-sim playground's static server", () => {
  it("serves the folder's files with their types, index.html for /, and nothing outside it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "playground-"));
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(dir, "assets", "app.js"), "export {};");
    writeFileSync(join(tmpdir(), "outside.txt"), "secret");
    const server = await serveStatic(dir);
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await fetch(server.url);
      expect(index.status).toBe(200);
      expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await index.text()).toContain("<title>t</title>");
      const js = await fetch(new URL("assets/app.js", server.url));
      expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect((await fetch(new URL("missing.js", server.url))).status).toBe(404);
      expect((await fetch(new URL("/..%2Foutside.txt", server.url))).status).toBe(403);
      expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
