/**
 * The ACME (RFC 8555) transport: a Koa router mounted at /acme/:directory/.
 * It parses, authenticates (jws.ts) and renders (wire.ts, problems.ts); every
 * state change is a call into ra/acme.
 */
import Router from "@koa/router";
import type { Context, Middleware, Next } from "koa";
import type { Logger } from "../logger.js";
import { changeAccountKey, findAccountById, newAccount, updateAccount } from "../ra/acme/accounts.js";
import { DirectoryCache } from "../ra/acme/directories.js";
import { verifyKeyChange } from "../ra/acme/inner-jws.js";
import { acmeErr } from "../ra/acme/errors.js";
import {
  ChainCache,
  RecentCertificates,
  certificateChain,
  deactivateAuthz,
  finalizeOrder,
  getAuthz,
  getChallenge,
  getOrder,
  listOrders,
  newOrder,
  startChallenge,
} from "../ra/acme/orders.js";
import { revokeCertificate, type RevocationAuth } from "../ra/acme/revoke.js";
import { ValidationScheduler, type ValidationSchedulerOptions } from "../ra/acme/validation.js";
import type { RaContext } from "../ra/context.js";
import type { ChallengeValidator } from "../validation/types.js";
import {
  acmeState,
  checkUrlAndNonce,
  DEFAULT_BODY_LIMIT,
  lookupKey,
  parseJws,
  postAsGetOnly,
  verifySignature,
  accountRequest,
  authenticated,
  jwkRequest,
  type AccountRequest,
  type AcmeRequestState,
  type AuthenticatedRequest,
  type JwkRequest,
  type JwsDeps,
  type KeyMode,
} from "./jws.js";
import { Linker, UUID } from "./linker.js";
import {
  decodeAccountUpdate,
  decodeAuthzUpdate,
  decodeChallengeResponse,
  decodeFinalize,
  decodeKeyChange,
  decodeNewAccount,
  decodeNewOrder,
  decodeRevokeCert,
} from "./payloads.js";
import { NonceStore, type NonceStoreOptions } from "./nonces.js";
import { methodNotAllowed, noSuchResource, renderProblem, sendProblem, unavailable } from "./problems.js";
import { accountJson, authzJson, challengeJson, directoryJson, orderJson } from "./wire.js";

export interface AcmeRouterDeps {
  ra: RaContext;
  /** performs http-01 / dns-01 / tls-alpn-01 checks (src/validation) */
  validator: ChallengeValidator;
  logger: Logger;
  /** default: a Linker on ra.publicUrl */
  linker?: Linker;
  /** request body limit in bytes (default 64 KiB) */
  bodyLimit?: number;
  /** orders per page of the orders list (default 100) */
  ordersPageSize?: number;
  /** how long directory rows are cached (default 5 s) */
  directoryCacheMs?: number;
  nonces?: NonceStoreOptions;
  validation?: ValidationSchedulerOptions;
}

export interface AcmeRouter {
  router: Router;
  nonces: NonceStore;
  validations: ValidationScheduler;
  linker: Linker;
  directories: DirectoryCache;
  /** stops the timers, aborts and awaits running validations */
  close(): Promise<void>;
}

/** a directory name as the URL may carry it: no U+0000 or other control character, bounded */
function isDirectoryName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[\u0000-\u001f\u007f]/.test(name);
}

/** seconds a client should wait before polling a pending authorization / processing order (§7.5.1, §7.4) */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Builds the ACME router (not listening; mount it on the HTTP app). Starts
 * the nonce cleanup and validation sweeper timers; `close()` stops them.
 */
export function buildAcmeRouter(deps: AcmeRouterDeps): AcmeRouter {
  const { ra, logger } = deps;
  const linker = deps.linker ?? new Linker(ra.publicUrl);
  const nonces = new NonceStore(ra.store, ra.clock, deps.nonces);
  const directories = new DirectoryCache(ra, deps.directoryCacheMs);
  const validations = new ValidationScheduler(ra, deps.validator, logger, deps.validation);
  const chains = new ChainCache();
  const recentCertificates = new RecentCertificates();
  const pageSize = deps.ordersPageSize ?? 100;
  const jwsDeps: JwsDeps = { accounts: { findById: (directoryId, id) => findAccountById(ra, directoryId, id) }, linker, nonces, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT };
  nonces.startCleanup((e) => logger.error({ err: e }, "nonce cleanup failed"));
  validations.startSweeper();

  const router = new Router({ prefix: "/acme/:directory" });

  /**
   * problem documents, Replay-Nonce on every response (§6.5), Link rel=index (§7.1).
   * The nonce is issued before anything else: when it cannot be (the database is
   * unavailable) the answer is a 503 problem with Retry-After, before any state
   * changed, and never a success (or an error) without Replay-Nonce (§6.5, §7.2).
   */
  const edge: Middleware = async (ctx: Context, next: Next) => {
    let nonce: string;
    try {
      nonce = await nonces.issue();
    } catch (e) {
      logger.error({ err: e, path: ctx.path }, "cannot issue a nonce");
      sendProblem(ctx, unavailable());
      return;
    }
    ctx.set("Replay-Nonce", nonce);
    try {
      const name = ctx.params.directory ?? "";
      // no directory name holds U+0000 or another control character: unknown, without a query
      if (!isDirectoryName(name)) throw acmeErr.notFound();
      const dir = await directories.get(name);
      if (!dir) throw acmeErr.notFound();
      ctx.state.acme = { dir } satisfies AcmeRequestState;
      ctx.append("Link", `<${linker.directory(dir.name)}>;rel="index"`);
      await next();
    } catch (e) {
      const p = renderProblem(e);
      if (p.internal) logger.error({ err: e, path: ctx.path }, "ACME request failed");
      sendProblem(ctx, p);
    }
  };

  const chain = (mode: KeyMode): Middleware[] => [edge, parseJws(jwsDeps), checkUrlAndNonce(jwsDeps), lookupKey(jwsDeps, mode), verifySignature()];
  /** a kid-mode route: the handler gets the request with its (valid) account */
  const postKid = (path: string, handler: (ctx: Context, req: AccountRequest) => Promise<void> | void, opts: { postAsGetOnly?: boolean } = {}) =>
    router.post(path, ...chain("kid"), ...(opts.postAsGetOnly ? [postAsGetOnly()] : []), (ctx: Context) => handler(ctx, accountRequest(ctx)));
  /** a jwk-mode route: the handler gets the request with its JWK and thumbprint */
  const postJwk = (path: string, handler: (ctx: Context, req: JwkRequest) => Promise<void>) =>
    router.post(path, ...chain("jwk"), (ctx: Context) => handler(ctx, jwkRequest(ctx)));
  /** a route taking either (revokeCert, §7.6) */
  const postEither = (path: string, handler: (ctx: Context, req: AuthenticatedRequest) => Promise<void>) =>
    router.post(path, ...chain("either"), (ctx: Context) => handler(ctx, authenticated(ctx)));
  const json = (ctx: Context, status: number, body: unknown) => {
    ctx.status = status;
    ctx.type = "application/json";
    ctx.body = body;
  };
  const idParam = (ctx: Context): string => {
    const id = ctx.params.id ?? "";
    if (!UUID.test(id)) throw acmeErr.notFound();
    return id;
  };

  // §7.1.1 directory
  router.get("/directory", edge, (ctx) => json(ctx, 200, directoryJson(linker, acmeState(ctx).dir)));

  // §7.2 newNonce: HEAD 200, GET 204, never cached
  router.head("/new-nonce", edge, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.status = 200;
  });
  router.get("/new-nonce", edge, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.status = 204;
  });

  // §7.3 newAccount (jwk)
  postJwk("/new-account", async (ctx, st) => {
    const p = decodeNewAccount(st.body);
    const { account, created } = await newAccount(ra, st.dir, {
      jwk: st.jwk,
      thumbprint: st.thumbprint,
      contact: p.contact,
      termsOfServiceAgreed: p.termsOfServiceAgreed,
      onlyReturnExisting: p.onlyReturnExisting,
      externalAccountBinding: p.externalAccountBinding,
      newAccountUrl: linker.newAccount(st.dir.name),
    });
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, created ? 201 : 200, accountJson(linker, st.dir.name, account));
  });

  // §7.3.2 account update, §7.3.6 deactivation; POST-as-GET reads it
  postKid("/acct/:id", async (ctx, st) => {
    if (idParam(ctx) !== st.account.id) throw acmeErr.unauthorized("the kid is not this account");
    const update = decodeAccountUpdate(st.body);
    const account = update ? await updateAccount(ra, st.account, update) : st.account;
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, 200, accountJson(linker, st.dir.name, account));
  });

  // §7.1.2.1 orders list, paginated with Link rel="next"
  postKid(
    "/acct/:id/orders",
    async (ctx, st) => {
      if (idParam(ctx) !== st.account.id) throw acmeErr.unauthorized("the kid is not this account");
      const cursor = typeof ctx.query.cursor === "string" && UUID.test(ctx.query.cursor) ? ctx.query.cursor : undefined;
      const page = await listOrders(ra, st.account, cursor, pageSize);
      if (page.next) ctx.append("Link", `<${linker.orders(st.dir.name, st.account.id, page.next)}>;rel="next"`);
      json(ctx, 200, { orders: page.ids.map((id) => linker.order(st.dir.name, id)) });
    },
    { postAsGetOnly: true },
  );

  // §7.3.5 key rollover
  postKid("/key-change", async (ctx, st) => {
    // §7.3.5: the inner JWS (signed by the new key, naming the account and its old key) is ra's to verify
    const inner = decodeKeyChange(st.body);
    const { newJwk, newThumbprint: newThumb } = await verifyKeyChange({ inner, outerUrl: st.header.url, accountUrl: st.kid, accountJwk: st.account.jwk });
    const account = await changeAccountKey(ra, st.account, newJwk, newThumb, (id) => linker.account(st.dir.name, id));
    ctx.set("Location", linker.account(st.dir.name, account.id));
    json(ctx, 200, accountJson(linker, st.dir.name, account));
  });

  // §7.4 newOrder
  postKid("/new-order", async (ctx, st) => {
    const order = await newOrder(ra, st.dir, st.account, decodeNewOrder(st.body));
    ctx.set("Location", linker.order(st.dir.name, order.id));
    json(ctx, 201, orderJson(linker, st.dir.name, order));
  });

  // §7.1.3 order (POST-as-GET)
  postKid(
    "/order/:id",
    async (ctx, st) => {
      const order = await getOrder(ra, st.account, idParam(ctx));
      if (order.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
      json(ctx, 200, orderJson(linker, st.dir.name, order));
    },
    { postAsGetOnly: true },
  );

  // §7.4 finalize
  postKid("/order/:id/finalize", async (ctx, st) => {
    const { csr } = decodeFinalize(st.body);
    const id = idParam(ctx);
    const order = await finalizeOrder(ra, st.dir, st.account, id, csr, recentCertificates);
    ctx.set("Location", linker.order(st.dir.name, id));
    if (order.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, orderJson(linker, st.dir.name, order));
  });

  // §7.5 authorization (POST-as-GET), §7.5.2 deactivation
  postKid("/authz/:id", async (ctx, st) => {
    const id = idParam(ctx);
    const update = decodeAuthzUpdate(st.body);
    const authz = update ? await deactivateAuthz(ra, st.account, id) : await getAuthz(ra, st.account, id);
    if (authz.status === "pending") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, authzJson(linker, st.dir.name, authz));
  });

  // §7.5.1 challenge: POST {} starts validation (once) and answers with its
  // outcome when it comes within answerWithinMs, else processing; POST-as-GET reads it
  postKid("/chall/:id", async (ctx, st) => {
    const id = idParam(ctx);
    let challenge;
    if (decodeChallengeResponse(st.body) === "read") challenge = await getChallenge(ra, st.account, id);
    else {
      const r = await startChallenge(ra, st.account, id);
      const outcome = r.started ? await validations.scheduleAndWait(id, r.job) : false;
      challenge = outcome === false ? r.challenge : outcome === true ? await getChallenge(ra, st.account, id) : outcome;
    }
    ctx.append("Link", `<${linker.authz(st.dir.name, challenge.authorizationId)}>;rel="up"`);
    if (challenge.status === "processing") ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
    json(ctx, 200, challengeJson(linker, st.dir.name, challenge));
  });

  // §7.4.2 certificate download
  postKid(
    "/cert/:id",
    async (ctx, st) => {
      const pem = await certificateChain(ra, chains, st.account, idParam(ctx), recentCertificates);
      ctx.status = 200;
      ctx.type = "application/pem-certificate-chain";
      ctx.body = pem;
    },
    { postAsGetOnly: true },
  );

  // §7.6 revokeCert: by the ordering account (kid) or the certificate key (jwk)
  postEither("/revoke-cert", async (ctx, st) => {
    const p = decodeRevokeCert(st.body);
    // §7.6: by the account (kid) or by the certificate's key (jwk, already verified as st.key)
    const auth: RevocationAuth = st.by === "kid" ? { kind: "account", account: st.account } : { kind: "certKey", publicKey: st.key };
    await revokeCertificate(ra, st.dir, auth, p.certificate, p.reason);
    ctx.status = 200;
    ctx.body = "";
  });

  // §6.3: the directory and newNonce also answer POST-as-GET
  postKid("/directory", (ctx, st) => json(ctx, 200, directoryJson(linker, st.dir)), { postAsGetOnly: true });
  postKid(
    "/new-nonce",
    (ctx) => {
      ctx.set("Cache-Control", "no-store");
      ctx.status = 200;
    },
    { postAsGetOnly: true },
  );

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
    nonces,
    validations,
    linker,
    directories,
    async close() {
      nonces.stop();
      await validations.close();
    },
  };
}
