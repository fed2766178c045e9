/**
 * GET /acme/{directory}/rate-limits: the rate limits in force in this
 * directory (docs/rate-limits.md), the default Link rel="help" target of
 * rateLimited answers (RFC 8555 §6.6) when neither SIGIL_RATE_LIMITS_HELP_URL
 * nor the directory's website is set. Unauthenticated, like the directory.
 */
import type Router from "@koa/router";
import { acmeState } from "../jws.js";
import { json, type AcmeRouteDeps } from "./kit.js";

export function rateLimitRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { edge, ra, linker } = deps;
  router.get("/rate-limits", edge, (ctx) => {
    const dir = acmeState(ctx).dir;
    json(ctx, 200, {
      directory: linker.directory(dir.name),
      // each limit: its name (as in rateLimited details), what it counts, count per period
      limits: ra.rateLimits?.(dir) ?? [],
      refusal:
        "a request over a limit is answered 429 with the problem type urn:ietf:params:acme:error:rateLimited, naming the limit, and a Retry-After header (seconds); the budget refills continuously (GCRA), one request per period/count",
    });
  });
}
