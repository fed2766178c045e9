/**
 * Probe and scrape endpoints of the HTTP app(s):
 *
 *   GET /healthz  liveness: 200 {"status":"ok"} while the process answers
 *   GET /readyz   readiness: 200 when every check passes, else 503 naming the failing checks
 *   GET /metrics  Prometheus text exposition (when metrics are on)
 *
 * None is cacheable (RFC 9111 §5.2.2.5 no-store): a probe must see now.
 */
import Router from "@koa/router";
import type { SigilMetrics } from "../metrics/registry.js";
import type { Readiness } from "./readiness.js";

/** GET /healthz and GET /readyz (both listeners) */
export function buildHealthRouter(opts: { readiness: Readiness }): Router {
  const router = new Router();
  router.get("/healthz", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  });
  router.get("/readyz", async (ctx) => {
    const report = await opts.readiness.check();
    ctx.set("Cache-Control", "no-store");
    ctx.status = report.status === "ok" ? 200 : 503;
    ctx.body = report.status === "ok" ? { status: report.status, checks: report.checks } : report;
  });
  return router;
}

/** GET /metrics (the plain HTTP listener only, SIGIL_METRICS) */
export function buildMetricsRouter(metrics: SigilMetrics): Router {
  const router = new Router();
  router.get("/metrics", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.type = metrics.contentType;
    ctx.body = await metrics.render();
  });
  return router;
}
