/**
 * The operator web console's static files at `/console` (docs/console.md).
 * Mounted on the HTTPS listener's app only (src/server.ts): the console calls
 * the admin API over Connect on the same origin, and the plain HTTP listener
 * carries neither.
 *
 * The bundle is what `vite build` wrote (console/vite.config.ts, run by
 * `npm run build` / the `prepare` script) to dist/console; it is read once at
 * start-up into memory (it is small) with a gzip copy of each text file.
 * - every answer carries a Content-Security-Policy without 'unsafe-inline'
 *   (the build emits no inline script or style), X-Content-Type-Options:
 *   nosniff, X-Frame-Options / frame-ancestors 'none', no referrer;
 * - content-hashed files under /console/assets/ are immutable for a year,
 *   index.html is `no-cache` (revalidated on each load, so a new build is
 *   picked up at once);
 * - every other path under /console/ without a file answers index.html (the
 *   console's own routes, e.g. /console/certificates/ID); a missing asset is
 *   a plain 404.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import Router from "@koa/router";
import type { Context } from "koa";

/** The policy of every console answer: same-origin scripts, styles, images and API calls only. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

interface ConsoleFile {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** The built bundle: a directory with index.html and vite's manifest (the source folder console/ has none). */
function isBundle(dir: string): boolean {
  return existsSync(path.join(dir, "index.html")) && existsSync(path.join(dir, ".vite", "manifest.json"));
}

/**
 * Where the bundle is: dist/console next to the sources (run through tsx from
 * src/) or next to the compiled server (dist/src/console -> dist/console).
 */
export function defaultConsoleDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = path.resolve(here, "..", "..");
  for (const dir of [path.join(up, "dist", "console"), path.join(up, "console")]) if (isBundle(dir)) return dir;
  return undefined;
}

function walk(dir: string, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name.startsWith(".")) continue; // .vite/manifest.json is build metadata, not served
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, base, out);
    else out.push(path.relative(base, full).split(path.sep).join("/"));
  }
  return out;
}

/** Reads the bundle into memory: request path (relative to /console/) -> file. */
export function loadConsoleFiles(dir: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  for (const rel of walk(dir)) {
    const body = readFileSync(path.join(dir, rel));
    const ext = path.extname(rel).toLowerCase();
    const type = TYPES[ext] ?? "application/octet-stream";
    const textual = /^(text\/|application\/json|image\/svg)/.test(type);
    const gzip = textual && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined;
    files.set(rel, {
      body,
      gzip: gzip && gzip.length < body.length ? gzip : undefined,
      type,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
      immutable: rel.startsWith("assets/"),
    });
  }
  return files;
}

export interface ConsoleRouterOptions {
  /** the built bundle; default defaultConsoleDir() */
  dir?: string;
}

function securityHeaders(ctx: Context): void {
  ctx.set("Content-Security-Policy", CONSOLE_CSP);
  ctx.set("X-Content-Type-Options", "nosniff");
  ctx.set("X-Frame-Options", "DENY");
  ctx.set("Referrer-Policy", "no-referrer");
  ctx.set("Cross-Origin-Opener-Policy", "same-origin");
  ctx.set("Cross-Origin-Resource-Policy", "same-origin");
}

function send(ctx: Context, f: ConsoleFile): void {
  ctx.set("ETag", f.etag);
  ctx.set("Cache-Control", f.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  ctx.set("Vary", "Accept-Encoding");
  ctx.type = f.type;
  // ctx.fresh compares If-None-Match with the ETag, for a 2xx answer only
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  if (f.gzip && ctx.acceptsEncodings("gzip", "identity") === "gzip") {
    ctx.set("Content-Encoding", "gzip");
    ctx.body = f.gzip;
  } else ctx.body = f.body;
}

/**
 * GET/HEAD /console and /console/*: the console bundle. Without a built
 * bundle every console path answers 503 naming the build command.
 */
export function buildConsoleRouter(opts: ConsoleRouterOptions = {}): Router {
  const dir = opts.dir ?? defaultConsoleDir();
  const files = dir ? loadConsoleFiles(dir) : new Map<string, ConsoleFile>();
  const index = files.get("index.html");
  const router = new Router();
  const serve = (ctx: Context, rel: string) => {
    securityHeaders(ctx);
    if (!index) {
      ctx.status = 503;
      ctx.type = "text/plain";
      ctx.body = "the console is not built: run `npm run build`\n";
      return;
    }
    const f = files.get(rel);
    if (f) return send(ctx, f);
    // a missing file (an asset of an older build, a typo) is a 404; any other path is one of the console's routes
    if (rel.startsWith("assets/") || /\.[a-z0-9]+$/i.test(rel)) {
      ctx.status = 404;
      ctx.type = "text/plain";
      ctx.body = "not found\n";
      return;
    }
    send(ctx, index);
  };
  router.get("/console", (ctx) => {
    if (ctx.path === "/console") {
      securityHeaders(ctx);
      ctx.status = 308;
      ctx.redirect("/console/");
      return;
    }
    serve(ctx, "index.html");
  });
  router.get("/console/*rest", (ctx) => serve(ctx, ctx.path.slice("/console/".length)));
  return router;
}
