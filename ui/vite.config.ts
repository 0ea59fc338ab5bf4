/// <reference types="vitest/config" />
// Vite builds the UI into dist/ (served by `dtq serve --ui-dir ui/dist`);
// `npm run dev` serves it with hot reload and forwards the API to a running
// `dtq serve` ($DTQ_API_URL, default http://127.0.0.1:8080), so the page and
// the API share one origin as they do in production.
import { defineConfig } from "vite";

const api = process.env.DTQ_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      onwarn(warning, warn) {
        // React libraries mark modules "use client" for server components; meaningless in a browser bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: Object.fromEntries(["/v1", "/healthz", "/readyz", "/metrics"].map((path) => [path, api])),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
