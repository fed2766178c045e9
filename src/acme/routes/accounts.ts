/** RFC 8555 §7.3 accounts: newAccount, update and deactivation, the orders list, key rollover. */
import type Router from "@koa/router";
import { acmeErr } from "../../ra/acme/errors.js";
import { UUID } from "../linker.js";
import { decodeAccountUpdate, decodeKeyChange, decodeNewAccount } from "../payloads.js";
import { accountJson } from "../wire.js";
import { idParam, json, postJwk, postKid, type AcmeRouteDeps } from "./kit.js";

export function accountRoutes(router: Router, deps: AcmeRouteDeps): void {
  const { ra, linker } = deps;

  // §7.3 newAccount (jwk)
  postJwk(router, deps, "/new-account", async (ctx, st) => {
    const p = decodeNewAccount(st.body);
    const { account, created } = await ra.newAccount(st.dir, {
      jwk: st.jwk,
      thumbprint: st.thumbprint,
      contact: p.contact,
      termsOfServiceAgreed: p.termsOfServiceAgreed,
      onlyReturnExisting: p.onlyReturnExisting,
      externalAccountBinding: p.externalAccountBinding,
      newAccountUrl: linker.newAccount(st.dir.name),
      // Koa's ctx.ip: the X-Forwarded-For client with SIGIL_TRUST_PROXY (app.proxy), else the peer
      clientAddress: ctx.ip,
    });
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, created ? 201 : 200, accountJson(linker, st.dir.name, account));
  });

  // §7.3.2 account update, §7.3.6 deactivation; POST-as-GET reads it
  postKid(router, deps, "/acct/:id", async (ctx, st) => {
    if (idParam(ctx) !== st.account.id) throw acmeErr.unauthorized("the kid is not this account");
    const update = decodeAccountUpdate(st.body);
    const account = update ? await ra.updateAccount(st.account, update) : st.account;
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, 200, accountJson(linker, st.dir.name, account));
  });

  // §7.1.2.1 orders list, paginated with Link rel="next"
  postKid(
    router,
    deps,
    "/acct/:id/orders",
    async (ctx, st) => {
      if (idParam(ctx) !== st.account.id) throw acmeErr.unauthorized("the kid is not this account");
      const cursor = typeof ctx.query.cursor === "string" && UUID.test(ctx.query.cursor) ? ctx.query.cursor : undefined;
      const page = await ra.listOrders(st.account, cursor, deps.ordersPageSize);
      if (page.next) ctx.append("Link", `<${linker.orders(st.dir.name, st.account.id, page.next)}>;rel="next"`);
      json(ctx, 200, { orders: page.ids.map((id) => linker.order(st.dir.name, id)) });
    },
    { postAsGetOnly: true },
  );

  // §7.3.5 key rollover
  postKid(router, deps, "/key-change", async (ctx, st) => {
    // §7.3.5: the inner JWS (signed by the new key, naming the account and its old key) is ra's to verify
    const inner = decodeKeyChange(st.body);
    const { newJwk, newThumbprint: newThumb } = await ra.verifyKeyChange({ inner, outerUrl: st.header.url, accountUrl: st.kid, accountJwk: st.account.jwk });
    const account = await ra.changeAccountKey(st.account, newJwk, newThumb, (id) => linker.account(st.dir.name, id));
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, 200, accountJson(linker, st.dir.name, account));
  });
}
