/** RFC 8555 §7.1.1 directory and §7.2 newNonce, with their POST-as-GET forms (§6.3). */
import type Router from "@koa/router";
import type { Context } from "koa";
import { acmeState } from "../jws.js";
import { directoryJson } from "../wire.js";
import { json, postKid, type AcmeRouteDeps } from "./kit.js";

export function directoryRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { edge, linker } = deps;

  // §7.1.1 directory
  router.get("/directory", edge, (ctx) => json(ctx, 200, directoryJson(linker, acmeState(ctx).dir)));

  // §7.2 newNonce: HEAD 200, GET 204, never cached
  router.head("/new-nonce", edge, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.status = 200;
    // the 200 has no content (RFC 9110 §8.6); without Content-Length node ends a HEAD answer by closing the keep-alive connection
    ctx.length = 0;
  });
  router.get("/new-nonce", edge, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.status = 204;
  });

  // §6.3: the directory and newNonce also answer POST-as-GET
  postKid(router, deps, "/directory", (ctx, st) => json(ctx, 200, directoryJson(linker, st.dir)), { postAsGetOnly: true });
  postKid(
    router,
    deps,
    "/new-nonce",
    (ctx: Context) => {
      ctx.set("Cache-Control", "no-store");
      ctx.status = 200;
    },
    { postAsGetOnly: true },
  );
}
