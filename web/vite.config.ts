import { defineConfig } from "vitest/config";

// `npm run dev` serves the console with hot reload and forwards the API to a fightwatch server
// (FIGHTWATCH_URL, default the demo's http://127.0.0.1:8080). `npm run build` writes dist/,
// which the server itself serves.
const server = process.env.FIGHTWATCH_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: { target: "es2022", sourcemap: true },
  server: {
    proxy: {
      "/api": server,
      "/ws": { target: server.replace(/^http/, "ws"), ws: true },
    },
  },
  test: { include: ["src/**/*.test.ts"] },
});
