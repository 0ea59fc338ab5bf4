/// <reference types="vitest/config" />
// Vite builds the UI into dist/ (served by `dtq serve --ui-dir ui/dist`);
// `npm run dev` serves it with hot reload and forwards /graphql (HTTP and
// the subscriptions' WebSocket) to a running `dtq serve`'s GraphQL gateway
// ($DTQ_API_URL, default http://127.0.0.1:8081: serve's --listen port + 1),
// so the page and the API share one origin as they do in production.
import { defineConfig } from "vite";

const api = process.env.DTQ_API_URL ?? "http://127.0.0.1:8081";

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
    proxy: { "/graphql": { target: api, ws: true } },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    // Shared CI machines are slow to warm up jsdom, Apollo and rjsf.
    testTimeout: 30_000,
  },
});
