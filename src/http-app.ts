import Koa from "koa";
import type Router from "@koa/router";
import { forwardedClientAddress, type TrustProxy } from "./core/client-address.js";
import { loggedUserAgent, requestContext, requestIdFrom, type Logger } from "./logger.js";
import { buildMetricsRouter } from "./health/routes.js";
import { compileRoutes } from "./http-dispatch.js";
import { acmeOperationOf, problemTypeOf } from "./metrics/observe.js";
import type { SigilMetrics } from "./metrics/registry.js";

export interface HttpAppOptions {
  routers: Router[];
  logger: Logger;
  /** request counts, latencies and ACME operations; default none */
  metrics?: SigilMetrics;
  /** serve `metrics` at GET /metrics on this app (SIGIL_METRICS; the plain HTTP listener only) */
  exposeMetrics?: boolean;
  /** true once the process drains: every answer then carries `Connection: close` (RFC 9112 §9.6) */
  draining?: () => boolean;
  /** SIGIL_TRUST_PROXY: honour X-Forwarded-Proto/Host/For (Koa `app.proxy`) for logging and client addresses; the client is the rightmost untrusted X-Forwarded-For entry (src/core/client-address.ts; true = one hop) */
  trustProxy?: boolean | TrustProxy;
}

/** What the app puts on `ctx.state` for the routers of one request. */
export interface RequestState {
  /** the request id (X-Request-Id), also in every log line of the request */
  requestId: string;
  /** the logger of this request (its lines carry reqId through the request context) */
  log: Logger;
  /** the instance's metrics, when on */
  metrics?: SigilMetrics;
}

/**
 * The HTTP listener's app: ACME (`/acme/...`), relying-party routes (`/crl`,
 * `/ca`, `/ocsp`) and the probes (`/healthz`, `/readyz`, `/metrics`) on one
 * Koa app. Each transport's router brings its own error rendering (problem
 * documents for ACME, plain status for public). Every request gets a request
 * id (echoed in X-Request-Id), one log line with the client address and user
 * agent, and its metrics under the matched route template. Returned without
 * listening.
 */
export function buildHttpApp(opts: HttpAppOptions): Koa {
  const app = new Koa();
  const trust = opts.trustProxy ?? false;
  app.proxy = trust !== false;
  // Koa's ctx.ips keeps only what our proxies appended (review 2 H4: never the client-typed leftmost entry)
  if (trust !== false && typeof trust === "object" && "hops" in trust) app.maxIpsCount = trust.hops;
  else if (trust === true) app.maxIpsCount = 1;
  const { logger, metrics } = opts;
  app.use(async (ctx, next) => {
    const start = process.hrtime.bigint();
    if (trust !== false) ctx.request.ip = forwardedClientAddress(ctx.req.socket.remoteAddress, ctx.req.headers["x-forwarded-for"], trust) ?? "";
    const requestId = requestIdFrom(ctx.req.headers["x-request-id"]);
    ctx.set("X-Request-Id", requestId);
    const state: RequestState = { requestId, log: logger, metrics };
    Object.assign(ctx.state, state);
    let failed = false;
    try {
      await requestContext.run({ reqId: requestId }, next);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      // draining: a request in flight still gets its answer, then its connection closes (headers are not sent yet)
      if (opts.draining?.() && !ctx.headerSent) ctx.set("Connection", "close");
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      // an error that escaped every router: Koa answers it with its status (500 unless it says)
      const status = failed ? 500 : ctx.status;
      // the template of the route that answered (never the raw path: bounded label values)
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? "unmatched";
      if (metrics) {
        metrics.httpRequest(route, ctx.method, status, seconds);
        const op = acmeOperationOf(ctx.method, route, Boolean((ctx.state.acme as { postAsGet?: boolean } | undefined)?.postAsGet));
        if (op) metrics.acmeOperation(op, status < 400 ? "success" : "error", status < 400 ? "" : problemTypeOf(ctx.body));
      }
      // the access line's fields are read only when it is written (the bench and many deployments log at warn)
      if (logger.isLevelEnabled("info")) {
        logger.info(
          {
            reqId: requestId,
            method: ctx.method,
            path: ctx.path,
            route,
            status,
            ms: Math.round(seconds * 1e4) / 10,
            client: ctx.ip,
            userAgent: loggedUserAgent(ctx.get("User-Agent")),
          },
          "http",
        );
      }
    }
  });
  const routers = metrics && opts.exposeMetrics ? [...opts.routers, buildMetricsRouter(metrics)] : opts.routers;
  for (const r of routers) {
    // r.routes() with the matching and chain composition done once (src/http-dispatch.ts)
    app.use(compileRoutes(r));
    app.use(r.allowedMethods());
  }
  return app;
}
