/** RFC 9773 ACME Renewal Information: GET {renewalInfo}/{certID}, unauthenticated (§4.1). */
import type Router from "@koa/router";
import { renewalInfoMaxAge } from "../../ra/acme/renewal-info.js";
import { acmeState } from "../jws.js";
import { renewalInfoJson } from "../wire.js";
import { json, type AcmeRouteDeps } from "./kit.js";

export function renewalInfoRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { edge, ra } = deps;

  // §4.2: 200 with the suggestedWindow and Retry-After (§4.3) telling the client when to ask again
  router.get("/renewal-info/:certID", edge, async (ctx) => {
    const info = await ra.renewalInfo(acmeState(ctx).dir, ctx.params.certID ?? "");
    ctx.set("Retry-After", String(info.retryAfterSeconds));
    // RFC 9111 §5.2.2.1: the same for every client, but a revocation or a new campaign must not hide behind a cache for
    // the whole Retry-After (RFC 9773 §4.3): at most a few minutes (renewalInfoMaxAge)
    ctx.set("Cache-Control", `public, max-age=${renewalInfoMaxAge(info.retryAfterSeconds)}`);
    json(ctx, 200, renewalInfoJson(info.suggestedWindow, info.explanationUrl));
  });
}
