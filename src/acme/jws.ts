/**
 * RFC 8555 §6.2-6.5 request authentication as a chain of small Koa
 * middlewares: parse (flattened JSON, size limit) -> url and nonce ->
 * key lookup (jwk or kid) -> signature (jose) -> POST-as-GET guard.
 *
 * The chain leaves a typed request for the handler: an `AccountRequest`
 * (kid: the account is there) or a `JwkRequest` (jwk: the key and its
 * thumbprint are there), never a state where either is optional.
 */
import { calculateJwkThumbprint, type JWK } from "jose";
import type { Context, Next } from "koa";
import { createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ACCEPTED_ALGS, ALG_SPECS, isAcceptedAlg } from "../core/jws-algorithms.js";
import { canonicalJwk, publicJwk } from "../core/jwk.js";
import type { AccountInfo, AccountReads, NonceAccountResult } from "../ra/acme/accounts.js";
import type { PrefetchedAuthz } from "../ra/acme/authorizations.js";
import type { PrefetchedOrder } from "../ra/acme/orders.js";
import type { DirectoryInfo } from "../ra/acme/directories.js";
import { ACME_MESSAGES, AcmeError, acmeErr } from "../ra/acme/errors.js";
import { UUID, type Linker } from "./linker.js";
import { decodeB64Json, type RequestBody } from "./payloads.js";
import { payloadTooLarge, unsupportedMediaType } from "./problems.js";

export { ACCEPTED_ALGS };
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** a public key node:crypto verifies with */
export type VerifyKey = KeyObject;

const B64URL = /^[A-Za-z0-9_-]*$/;

export type KeyMode = "jwk" | "kid" | "either";

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** the chain's working state in ctx.state.acme (the handler gets an AccountRequest or a JwkRequest) */
export interface AcmeRequestState {
  dir: DirectoryInfo;
  jws?: FlattenedJws;
  header?: ProtectedHeader;
  /** the verified key (jwk requests, and kid requests via the account) */
  key?: VerifyKey;
  /** jwk requests: the JWK and its RFC 7638 thumbprint */
  jwk?: JWK;
  thumbprint?: string;
  /** kid requests: the account */
  account?: AccountInfo;
  /**
   * kid requests: the nonce checkUrlAndNonce left for lookupKey to consume
   * together with the account read (one round trip)
   */
  nonceToConsume?: string;
  /** kid requests of a route that reads an order: the order read with the nonce and account (one round trip) */
  prefetchedOrder?: { id: string; row: PrefetchedOrder };
  /** the same for a route that reads an authorization */
  prefetchedAuthz?: { id: string; row: PrefetchedAuthz };
  /** decoded payload; undefined for POST-as-GET (empty payload, §6.3) */
  payload?: unknown;
  postAsGet?: boolean;
}

export function acmeState(ctx: Context): AcmeRequestState {
  return ctx.state.acme as AcmeRequestState;
}

interface AuthenticatedBase {
  dir: DirectoryInfo;
  header: ProtectedHeader;
  /** the verified key */
  key: VerifyKey;
  body: RequestBody;
}

/** a request signed by an account key (`kid`, §6.2): the account is valid (§7.3.6) */
export interface AccountRequest extends AuthenticatedBase {
  by: "kid";
  account: AccountInfo;
  /** the kid URL as the client sent it */
  kid: string;
  /** the order of the path's `:id`, read with the nonce and account (routes chained with `readOrder`) */
  prefetchedOrder?: { id: string; row: PrefetchedOrder };
  /** the authorization of the path's `:id`, read with the nonce and account (routes chained with `readAhead.authorization`) */
  prefetchedAuthz?: { id: string; row: PrefetchedAuthz };
}

/** a request signed by the key in its `jwk` header (newAccount, revokeCert by certificate key) */
export interface JwkRequest extends AuthenticatedBase {
  by: "jwk";
  /** the public JWK in its canonical encoding, and its RFC 7638 thumbprint */
  jwk: JWK;
  thumbprint: string;
}

export type AuthenticatedRequest = AccountRequest | JwkRequest;

/** the request verifySignature authenticated (after the whole chain ran) */
export function authenticated(ctx: Context): AuthenticatedRequest {
  const st = acmeState(ctx);
  const header = st.header;
  const key = st.key;
  if (!header || !key || st.postAsGet === undefined) throw new Error("acme: the request was not authenticated (the JWS chain did not run)");
  const body: RequestBody = st.postAsGet ? { postAsGet: true } : { postAsGet: false, payload: st.payload };
  if (st.account && typeof header.kid === "string") return { by: "kid", dir: st.dir, header, key, body, account: st.account, kid: header.kid, prefetchedOrder: st.prefetchedOrder, prefetchedAuthz: st.prefetchedAuthz };
  if (st.jwk && st.thumbprint) return { by: "jwk", dir: st.dir, header, key, body, jwk: st.jwk, thumbprint: st.thumbprint };
  throw new Error("acme: the authenticated request has neither an account nor a jwk");
}

/** a kid-mode route's request */
export function accountRequest(ctx: Context): AccountRequest {
  const r = authenticated(ctx);
  if (r.by !== "kid") throw new Error("acme: a kid route got a jwk request");
  return r;
}

/** a jwk-mode route's request */
export function jwkRequest(ctx: Context): JwkRequest {
  const r = authenticated(ctx);
  if (r.by !== "jwk") throw new Error("acme: a jwk route got a kid request");
  return r;
}

/** the one account read the chain needs (ra/ implements it) */
export interface AccountLookup {
  findById(directoryId: string, id: string): Promise<AccountInfo | null>;
}

/** the nonce checks the chain needs (NonceStore implements them) */
export interface NonceChecker {
  consume(value: string): Promise<boolean>;
  /** `reads`: also read that order / authorization of the account in the same round trip (the result's `order` / `authorization`) */
  consumeWithAccount(value: string, directoryId: string, accountId: string, reads?: AccountReads): Promise<NonceAccountResult>;
}

export interface JwsDeps {
  accounts: AccountLookup;
  linker: Linker;
  nonces: NonceChecker;
  bodyLimit: number;
}

const badSignatureAlgorithm = (alg: unknown) =>
  new AcmeError("invalidArgument", "badSignatureAlgorithm", `JWS alg ${JSON.stringify(alg)} is not accepted`, { algorithms: [...ACCEPTED_ALGS] });
const badNonce = (m: string) => new AcmeError("invalidArgument", "badNonce", m);
const NONCE_REJECTED = () => badNonce("the nonce is unknown, expired or already used");

/** a nonce left by checkUrlAndNonce is consumed before any other check fails (badNonce comes first) */
async function consumeLeftNonce(deps: JwsDeps, st: AcmeRequestState): Promise<void> {
  const nonce = st.nonceToConsume;
  if (nonce === undefined) return;
  st.nonceToConsume = undefined;
  if (!(await deps.nonces.consume(nonce))) throw NONCE_REJECTED();
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  const tooLarge = () => payloadTooLarge(limit);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** §6.2 step 1: flattened JWS JSON only, application/jose+json, bounded size; header decoded and checked */
export function parseJws(deps: JwsDeps) {
  return async function parse(ctx: Context, next: Next): Promise<void> {
    const type = (ctx.get("content-type") || "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/jose+json") {
      throw unsupportedMediaType();
    }
    const raw = await readBody(ctx.req, deps.bodyLimit);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw acmeErr.malformed("request body is not JSON");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) throw acmeErr.malformed("request body is not a JWS object");
    if ("signatures" in body || "header" in body) throw acmeErr.malformed("only the flattened JWS serialization with a protected header only is accepted");
    const { protected: p, payload, signature } = body;
    if (typeof p !== "string" || typeof payload !== "string" || typeof signature !== "string") {
      throw acmeErr.malformed("JWS needs protected, payload and signature strings");
    }
    // U+0000 is refused here too (decodeB64Json): a kid or url holding it must not reach a query
    const header = decodeB64Json(p, "protected header") as Record<string, unknown>;
    if (!header || typeof header !== "object" || Array.isArray(header)) throw acmeErr.malformed("protected header must be an object");
    // §6.2: no `none`, no MAC algorithms
    if (!isAcceptedAlg(header.alg)) throw badSignatureAlgorithm(header.alg);
    // §6.2: exactly one of jwk and kid
    if ((header.jwk === undefined) === (header.kid === undefined)) throw acmeErr.malformed("the protected header must have exactly one of jwk and kid");
    if (typeof header.url !== "string") throw acmeErr.malformed("the protected header must carry url");
    const st = acmeState(ctx);
    st.jws = { protected: p, payload, signature };
    st.header = header as unknown as ProtectedHeader;
    await next();
  };
}

/** §6.4 url must be this request's URL; §6.5 nonce consumed exactly once */
export function checkUrlAndNonce(deps: JwsDeps) {
  return async function urlAndNonce(ctx: Context, next: Next): Promise<void> {
    const st = acmeState(ctx);
    const header = st.header!;
    if (header.url !== deps.linker.requestUrl(ctx.originalUrl)) throw acmeErr.unauthorized("the JWS url does not match the request URL");
    if (typeof header.nonce !== "string") throw badNonce("the protected header must carry a nonce");
    // kid requests: consumed by lookupKey in the statement that reads the account
    if (typeof header.kid === "string") acmeState(ctx).nonceToConsume = header.nonce;
    else if (!(await deps.nonces.consume(header.nonce))) throw NONCE_REJECTED();
    await next();
  };
}

/** imported account keys by thumbprint (key import is not free) */
const keyCache = new Map<string, VerifyKey>();

async function importAccountKey(jwk: JWK, alg: string, thumbprint: string): Promise<VerifyKey> {
  const cacheKey = `${alg}:${thumbprint}`;
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  let key: VerifyKey;
  try {
    const spec = ALG_SPECS[alg as keyof typeof ALG_SPECS];
    if (!spec || jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) throw new Error("the key does not fit the alg");
    key = createPublicKey({ key: publicJwk(jwk) as JsonWebKey, format: "jwk" });
  } catch {
    throw new AcmeError("invalidArgument", "badPublicKey", "the JWK is not a usable public key for this alg");
  }
  if (keyCache.size > 10_000) keyCache.clear();
  keyCache.set(cacheKey, key);
  return key;
}

/** what a route reads ahead with the nonce and account of a kid request */
export interface ReadAhead {
  /** the order named by the path's `:id` (RFC 8555 §7.1.3 order poll) */
  order?: boolean;
  /** the authorization named by the path's `:id` (RFC 8555 §7.5) */
  authorization?: boolean;
}

/**
 * §6.2: by `jwk` (newAccount, revokeCert) or by `kid` (everything else).
 * `readAhead.order`: a kid request's first round trip also reads the order
 * of the path's `:id` (a read without side effects; the handler sees it only
 * once the signature and the account's status have been checked).
 */
export function lookupKey(deps: JwsDeps, mode: KeyMode, readAhead: ReadAhead = {}) {
  return async function keyLookup(ctx: Context, next: Next): Promise<void> {
    const st = acmeState(ctx);
    const header = st.header!;
    if (header.jwk !== undefined) {
      await consumeLeftNonce(deps, st);
      if (mode === "kid") throw acmeErr.malformed("this resource needs a kid, not a jwk");
      const jwk = header.jwk;
      if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) throw acmeErr.malformed("jwk must be a JSON object");
      if ("d" in jwk || "p" in jwk || "k" in jwk) throw acmeErr.malformed("jwk must be a public key");
      if (jwk.kty !== "RSA" && jwk.kty !== "EC" && jwk.kty !== "OKP") throw new AcmeError("invalidArgument", "badPublicKey", "jwk kty must be RSA, EC or OKP");
      let thumbprint: string;
      try {
        thumbprint = await calculateJwkThumbprint(jwk, "sha256");
      } catch {
        throw acmeErr.malformed("jwk is incomplete");
      }
      st.key = await importAccountKey(publicJwk(jwk), header.alg, thumbprint);
      // one key, one thumbprint: the JWK as node re-encodes it (base64url trailing bits, RSA leading zeros)
      st.jwk = canonicalJwk(st.key);
      st.thumbprint = await calculateJwkThumbprint(st.jwk, "sha256");
    } else {
      const id = typeof header.kid === "string" && mode !== "jwk" ? deps.linker.accountIdFromKid(st.dir.name, header.kid) : undefined;
      let account: AccountInfo | null = null;
      if (id && st.nonceToConsume !== undefined) {
        const nonce = st.nonceToConsume;
        st.nonceToConsume = undefined;
        const param = readAhead.order || readAhead.authorization ? (ctx.params as Record<string, string> | undefined)?.id : undefined;
        const readId = param !== undefined && UUID.test(param) ? param : undefined;
        const reads: AccountReads = readId === undefined ? {} : readAhead.order ? { orderId: readId } : { authorizationId: readId };
        const r = await deps.nonces.consumeWithAccount(nonce, st.dir.id, id, reads);
        if (!r.nonceOk) throw NONCE_REJECTED();
        account = r.account;
        if (readId !== undefined && r.order !== undefined) st.prefetchedOrder = { id: readId, row: r.order };
        if (readId !== undefined && r.authorization !== undefined) st.prefetchedAuthz = { id: readId, row: r.authorization };
      } else {
        await consumeLeftNonce(deps, st);
        if (mode === "jwk") throw acmeErr.malformed("this resource needs a jwk, not a kid");
        if (typeof header.kid !== "string") throw acmeErr.malformed("kid must be a string");
        if (id) account = await deps.accounts.findById(st.dir.id, id);
      }
      if (!account) throw acmeErr.accountDoesNotExist();
      st.account = account;
      st.key = await importAccountKey(account.jwk, header.alg, account.keyThumbprint);
    }
    await next();
  };
}

/**
 * RFC 7515 §5.2 with node:crypto (the checks jose's flattenedVerify makes,
 * without its WebCrypto round trip): `crit` may only name `b64`, and the
 * payload must be base64url-encoded (b64 not false); RSA keys of at least
 * 2048 bits; ECDSA signatures are R || S (RFC 7518 §3.4).
 */
function verifyJws(jws: FlattenedJws, header: ProtectedHeader & { crit?: unknown; b64?: unknown }, key: KeyObject): boolean {
  const spec = ALG_SPECS[header.alg as keyof typeof ALG_SPECS];
  if (!spec) return false;
  if (header.crit !== undefined) {
    if (!Array.isArray(header.crit) || header.crit.length === 0 || header.crit.some((c) => c !== "b64")) return false;
    if (header.b64 !== true) return false;
  }
  if (!B64URL.test(jws.payload) || !B64URL.test(jws.signature)) return false;
  if (spec.minRsaBits && (key.asymmetricKeyDetails?.modulusLength ?? 0) < spec.minRsaBits) return false;
  const input = Buffer.from(`${jws.protected}.${jws.payload}`, "ascii");
  const signature = Buffer.from(jws.signature, "base64url");
  return cryptoVerify(spec.hash, input, spec.p1363 ? { key, dsaEncoding: "ieee-p1363" } : key, signature);
}

/** §6.2: signature verification, then the account must be valid (§7.3.6) */
export function verifySignature() {
  return async function verify(ctx: Context, next: Next): Promise<void> {
    const st = acmeState(ctx);
    let ok = false;
    try {
      ok = verifyJws(st.jws!, st.header!, st.key!);
    } catch {
      ok = false;
    }
    if (!ok) throw acmeErr.malformed("JWS signature verification failed");
    if (st.account && st.account.status !== "valid") throw acmeErr.unauthorized(ACME_MESSAGES.accountDeactivated);
    if (st.jws!.payload === "") {
      st.postAsGet = true;
    } else {
      // decodeB64Json refuses U+0000 in any string or member name of the payload
      st.payload = decodeB64Json(st.jws!.payload, "payload");
      st.postAsGet = false;
    }
    await next();
  };
}

/** §6.3: resources that are only read take POST-as-GET (empty payload) */
export function postAsGetOnly() {
  return async function guard(ctx: Context, next: Next): Promise<void> {
    if (!acmeState(ctx).postAsGet) throw acmeErr.malformed("this resource is read with POST-as-GET (an empty payload)");
    await next();
  };
}
