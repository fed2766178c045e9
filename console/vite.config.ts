// The operator console's build (docs/console.md): `vite build --config console/vite.config.ts`,
// run by `npm run build` and the `prepare` script, writes dist/console, which
// src/console/serve.ts serves at /console on the HTTPS listener.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "/console/",
  // no public/ folder: everything the console needs is imported and bundled
  publicDir: false,
  logLevel: "warn",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  // development: `npx vite --config console/vite.config.ts` serves the sources with hot reload on
  // http://localhost:5173/console/ and passes the admin API to a running Sigil (CONSOLE_API_URL,
  // default its HTTPS listener on 8443, whose self-issued certificate is accepted here only)
  server: {
    proxy: {
      "/sigil.admin.v1.": {
        target: process.env.CONSOLE_API_URL ?? "https://127.0.0.1:8443",
        secure: false,
        changeOrigin: true,
      },
    },
  },
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    // the manifest marks a built bundle (src/console/serve.ts) and lists what was emitted
    manifest: true,
    target: "es2022",
    sourcemap: false,
    // CSP script-src 'self': no inline script, so no module-preload polyfill injected into the page
    modulePreload: { polyfill: false },
    // never inline assets as data: URIs into scripts; small files stay files
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
