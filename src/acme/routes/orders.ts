/** RFC 8555 §7.4 orders: newOrder, the order (POST-as-GET), finalize, certificate download (§7.4.2). */
import type Router from "@koa/router";
import { decodeFinalize, decodeNewOrder } from "../payloads.js";
import { orderJson } from "../wire.js";
import { idParam, json, postKid, RETRY_AFTER_SECONDS, type AcmeRouteDeps } from "./kit.js";

export function orderRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { ra, linker } = deps;

  // §7.4 newOrder
  postKid(router, deps, "/new-order", async (ctx, st) => {
    const order = await ra.newOrder(st.dir, st.account, decodeNewOrder(st.body));
    ctx.set("Location", linker.order(st.dir.name, order.id));
    json(ctx, 201, orderJson(linker, st.dir.name, order));
  });

  // §7.1.3 order (POST-as-GET)
  postKid(
    router,
    deps,
    "/order/:id",
    async (ctx, st) => {
      // the order was read with the nonce and the account (one round trip, src/db/store/nonces.ts)
      const order = await ra.getOrder(st.account, idParam(ctx), st.prefetchedOrder);
      if (order.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
      json(ctx, 200, orderJson(linker, st.dir.name, order));
    },
    { postAsGetOnly: true, readAhead: { order: true } },
  );

  // §7.4 finalize
  postKid(router, deps, "/order/:id/finalize", async (ctx, st) => {
    const { csr } = decodeFinalize(st.body);
    const id = idParam(ctx);
    const order = await ra.finalizeOrder(st.dir, st.account, id, csr);
    ctx.set("Location", linker.order(st.dir.name, id));
    if (order.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, orderJson(linker, st.dir.name, order));
  });

  // §7.4.2 certificate download
  postKid(
    router,
    deps,
    "/cert/:id",
    async (ctx, st) => {
      const pem = await ra.certificateChain(st.account, idParam(ctx));
      ctx.status = 200;
      ctx.type = "application/pem-certificate-chain";
      ctx.body = pem;
    },
    { postAsGetOnly: true },
  );
}
