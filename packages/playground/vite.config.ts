import { defineConfig } from "vite";

/**
 * The playground is a static page: `vite build` writes `dist/` with relative URLs (`base: "./"`), so
 * the folder can be served from any path (`iommu-sim playground`, GitHub Pages, a file server).
 * Workspace packages are bundled from their TypeScript sources through the `@iommu-sim/source`
 * export condition, so the build also proves that the libraries import nothing Node-only.
 */
export default defineConfig({
  base: "./",
  resolve: { conditions: ["@iommu-sim/source", "module", "browser", "development|production"] },
  server: { fs: { allow: ["../.."] } },
  build: {
    target: "es2023",
    outDir: "dist",
    emptyOutDir: true,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 1500,
  },
});
