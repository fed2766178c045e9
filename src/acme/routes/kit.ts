/**
 * What every ACME route module receives (`(router, deps)`), and the small
 * helpers they share: the JWS chain per key mode, typed handlers, JSON
 * rendering, the id parameter.
 */
import type Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { acmeErr } from "../../ra/acme/errors.js";
import { accountRequest, authenticated, jwkRequest, postAsGetOnly, type AccountRequest, type AuthenticatedRequest, type JwkRequest, type KeyMode, type ReadAhead } from "../jws.js";
import { UUID, type Linker } from "../linker.js";
import type { AcmeRa } from "../ra-port.js";

/** seconds a client should wait before polling a pending authorization / processing order (§7.5.1, §7.4) */
export const RETRY_AFTER_SECONDS = 1;

export interface AcmeRouteDeps {
  /** the registration authority, as far as the routes need it */
  ra: AcmeRa;
  linker: Linker;
  /** the edge: Replay-Nonce, the directory, Link rel=index, problem documents */
  edge: Middleware;
  /** the edge followed by the JWS chain for a key mode (§6.2); `readAhead`: what a kid request's first round trip also reads */
  chain(mode: KeyMode, readAhead?: ReadAhead): Middleware[];
  /** orders per page of the orders list */
  ordersPageSize: number;
}

/** a kid-mode route: the handler gets the request with its (valid) account */
export function postKid(
  router: Router,
  deps: AcmeRouteDeps,
  path: string,
  handler: (ctx: Context, req: AccountRequest) => Promise<void> | void,
  opts: { postAsGetOnly?: boolean; readAhead?: ReadAhead } = {},
): void {
  router.post(path, ...deps.chain("kid", opts.readAhead), ...(opts.postAsGetOnly ? [postAsGetOnly()] : []), (ctx: Context) => handler(ctx, accountRequest(ctx)));
}

/** a jwk-mode route: the handler gets the request with its JWK and thumbprint */
export function postJwk(router: Router, deps: AcmeRouteDeps, path: string, handler: (ctx: Context, req: JwkRequest) => Promise<void>): void {
  router.post(path, ...deps.chain("jwk"), (ctx: Context) => handler(ctx, jwkRequest(ctx)));
}

/** a route taking either (revokeCert, §7.6) */
export function postEither(router: Router, deps: AcmeRouteDeps, path: string, handler: (ctx: Context, req: AuthenticatedRequest) => Promise<void>): void {
  router.post(path, ...deps.chain("either"), (ctx: Context) => handler(ctx, authenticated(ctx)));
}

export function json(ctx: Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.type = "application/json";
  ctx.body = body;
}

/** the `:id` of the path; anything but a UUID names nothing */
export function idParam(ctx: Context): string {
  const id = ctx.params.id ?? "";
  if (!UUID.test(id)) throw acmeErr.notFound();
  return id;
}
