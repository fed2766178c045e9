import Koa from "koa";
import type Router from "@koa/router";
import type { Logger } from "./logger.js";

/**
 * The HTTP listener's app: ACME (`/acme/...`) and relying-party routes
 * (`/crl`, `/ca`, `/ocsp`) on one Koa app. Each transport's router brings its
 * own error rendering (problem documents for ACME, plain status for public).
 * Returned without listening.
 */
export function buildHttpApp(opts: { routers: Router[]; logger: Logger }): Koa {
  const app = new Koa();
  app.proxy = false;
  app.use(async (ctx, next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      opts.logger.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, "http");
    }
  });
  for (const r of opts.routers) {
    app.use(r.routes());
    app.use(r.allowedMethods());
  }
  return app;
}
