/**
 * The ACME (RFC 8555) transport: a Koa router mounted at /acme/:directory/.
 * It parses, authenticates (jws.ts) and renders (wire.ts, problems.ts); every
 * state change is a call into the registration authority through the narrow
 * port it declares (ra-port.ts), bound to src/ra/acme by ra-binding.ts. The
 * routes, one module per family, are in routes/; this file assembles them
 * behind the edge (nonce, directory, problem documents) and the fallbacks.
 */
import Router from "@koa/router";
import type { Context, Middleware, Next } from "koa";
import type { Logger } from "../logger.js";
import { acmeErr } from "../ra/acme/errors.js";
import type { RaContext } from "../ra/context.js";
import { checkUrlAndNonce, DEFAULT_BODY_LIMIT, lookupKey, parseJws, verifySignature, type AcmeRequestState, type JwsDeps, type KeyMode, type ReadAhead } from "./jws.js";
import { Linker } from "./linker.js";
import { methodNotAllowed, noSuchResource, renderProblem, sendProblem, unavailable } from "./problems.js";
import { bindAcmeRa, type AcmeRaBindingOptions } from "./ra-binding.js";
import type { AcmeDirectories, AcmeNonces, AcmeRa, AcmeValidations } from "./ra-port.js";
import { accountRoutes } from "./routes/accounts.js";
import { authorizationRoutes } from "./routes/authorizations.js";
import { directoryRoutes } from "./routes/directory.js";
import type { AcmeRouteDeps } from "./routes/kit.js";
import { orderRoutes } from "./routes/orders.js";
import { renewalInfoRoutes } from "./routes/renewal-info.js";
import { revocationRoutes } from "./routes/revocation.js";
import { rateLimitRoutes } from "./routes/rate-limits.js";

export { RETRY_AFTER_SECONDS } from "./routes/kit.js";

/** the transport's own settings, whoever provides the registration authority */
export interface AcmeTransportOptions {
  logger: Logger;
  /** request body limit in bytes (default 64 KiB) */
  bodyLimit?: number;
  /** orders per page of the orders list (default 100) */
  ordersPageSize?: number;
}

/** the router on the registration authority: `ra` is bound with bindAcmeRa (unless `port` is given) */
export interface AcmeRouterDeps extends AcmeTransportOptions, AcmeRaBindingOptions {
  ra: RaContext;
  /** default: a Linker on ra.acmeUrl (SIGIL_ACME_URL, else SIGIL_PUBLIC_URL) */
  linker?: Linker;
  /** overrides the binding of `ra` (validator, directoryCacheMs, nonces and validation then go unused) */
  port?: AcmeRa;
}

/** the router on a port alone (tests pass a fake AcmeRa) */
export interface AcmePortRouterDeps extends AcmeTransportOptions {
  port: AcmeRa;
  linker: Linker;
  ra?: never;
}

export interface AcmeRouter {
  router: Router;
  nonces: AcmeNonces;
  validations: AcmeValidations;
  linker: Linker;
  directories: AcmeDirectories;
  /** stops the timers, aborts and awaits running validations */
  close(): Promise<void>;
}

/** a directory name as the URL may carry it: no U+0000 or other control character, bounded */
function isDirectoryName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[\u0000-\u001f\u007f]/.test(name);
}

/**
 * Builds the ACME router (not listening; mount it on the HTTP app). Starts
 * the port's background work (nonce cleanup, validation sweeper); `close()`
 * stops it.
 */
export function buildAcmeRouter(deps: AcmeRouterDeps | AcmePortRouterDeps): AcmeRouter {
  const { logger } = deps;
  const ra: AcmeRa = deps.ra === undefined ? deps.port : (deps.port ?? bindAcmeRa(deps.ra, deps));
  const linker = deps.ra === undefined ? deps.linker : (deps.linker ?? new Linker(deps.ra.acmeUrl ?? deps.ra.publicUrl));
  const jwsDeps: JwsDeps = { accounts: ra.accounts, linker, nonces: ra.nonces, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT };
  ra.start();

  const router = new Router({ prefix: "/acme/:directory" });

  /**
   * problem documents, Replay-Nonce on every response of a directory (§6.5), Link
   * rel=index (§7.1). The directory is looked up first (cached): a name that names
   * no directory gets its 404 problem without a nonce, so requests to made-up
   * directories store nothing and cannot fill the nonce table (§6.5 asks a nonce
   * of every successful POST answer and only SHOULD of errors; no ACME server
   * answers under an unknown name). Then the nonce is issued before anything else:
   * when it cannot be (or the directory cannot be read: the database is
   * unavailable) the answer is a 503 problem with Retry-After, before any state
   * changed, and never a success (or an error) without Replay-Nonce (§6.5, §7.2).
   */
  const edge: Middleware = async (ctx: Context, next: Next) => {
    const name = ctx.params.directory ?? "";
    let dir: Awaited<ReturnType<AcmeDirectories["get"]>>;
    try {
      // no directory name holds U+0000 or another control character: unknown, without a query
      dir = isDirectoryName(name) ? await ra.directories.get(name) : null;
    } catch (e) {
      logger.error({ err: e, path: ctx.path }, "cannot read the directory");
      sendProblem(ctx, unavailable());
      return;
    }
    if (!dir) {
      sendProblem(ctx, renderProblem(acmeErr.notFound()));
      return;
    }
    let nonce: string;
    try {
      nonce = await ra.nonces.issue();
    } catch (e) {
      logger.error({ err: e, path: ctx.path }, "cannot issue a nonce");
      sendProblem(ctx, unavailable());
      return;
    }
    ctx.set("Replay-Nonce", nonce);
    try {
      ctx.state.acme = { dir } satisfies AcmeRequestState;
      ctx.append("Link", `<${linker.directory(dir.name)}>;rel="index"`);
      await next();
    } catch (e) {
      const p = renderProblem(e);
      if (p.internal) logger.error({ err: e, path: ctx.path }, "ACME request failed");
      sendProblem(ctx, p);
    }
  };

  const routeDeps: AcmeRouteDeps = {
    ra,
    linker,
    edge,
    chain: (mode: KeyMode, readAhead?: ReadAhead): Middleware[] => [edge, parseJws(jwsDeps), checkUrlAndNonce(jwsDeps), lookupKey(jwsDeps, mode, readAhead), verifySignature()],
    ordersPageSize: deps.ordersPageSize ?? 100,
  };
  directoryRoutes(router, routeDeps);
  accountRoutes(router, routeDeps);
  orderRoutes(router, routeDeps);
  authorizationRoutes(router, routeDeps);
  revocationRoutes(router, routeDeps);
  renewalInfoRoutes(router, routeDeps);
  rateLimitRoutes(router, routeDeps);

  // resources are read with POST-as-GET (§6.3); a plain GET gets a problem, not a 404
  const postOnly = ["/new-account", "/new-order", "/key-change", "/revoke-cert", "/acct/:id", "/acct/:id/orders", "/order/:id", "/order/:id/finalize", "/authz/:id", "/chall/:id", "/cert/:id"];
  for (const path of postOnly) {
    router.get(path, edge, (ctx) => {
      ctx.set("Allow", "POST");
      throw methodNotAllowed();
    });
  }
  // any other method, or a path that names nothing: a problem document with Replay-Nonce and
  // Link rel="index" (§6.5, §7.1) rather than the bare 404/405 of the HTTP app
  for (const [path, allow] of [...postOnly.map((p) => [p, "POST"] as const), ["/directory", "GET, HEAD, POST"] as const, ["/new-nonce", "GET, HEAD, POST"] as const]) {
    router.all(path, edge, (ctx) => {
      ctx.set("Allow", allow);
      throw methodNotAllowed(`this resource allows ${allow}`);
    });
  }
  router.all("/{*rest}", edge, () => {
    throw noSuchResource();
  });

  return {
    router,
    nonces: ra.nonces,
    validations: ra.validations,
    linker,
    directories: ra.directories,
    close: () => ra.close(),
  };
}
