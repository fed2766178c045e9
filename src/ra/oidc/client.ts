/**
 * The relying-party side of OpenID Connect that talks to a provider:
 * discovery (OpenID Connect Discovery 1.0 §4), the JWKS (RFC 7517) the ID
 * tokens are verified with, the token request (RFC 6749 §4.1.3 with the
 * PKCE code_verifier, RFC 7636 §4.5) and the UserInfo request (OIDC Core
 * §5.3). Every request goes through the injected `fetch` (the global fetch
 * in production; tests run it against a real provider on loopback), with a
 * timeout, no redirects followed and a bounded body.
 *
 * Discovery documents are cached DISCOVERY_TTL_MS, key sets JWKS_TTL_MS;
 * an ID token signed with a key id the cached set lacks refetches the set
 * (the provider rotated keys), at most once per JWKS_REFETCH_COOLDOWN_MS.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../../core/clock.js";
import { SigilError } from "../../core/errors.js";

/** The fetch the client uses (the WHATWG fetch signature; `globalThis.fetch` in production). */
export type OidcFetch = (input: string, init: RequestInit) => Promise<Response>;

export const DISCOVERY_TTL_MS = 60 * 60 * 1000;
export const JWKS_TTL_MS = 10 * 60 * 1000;
export const JWKS_REFETCH_COOLDOWN_MS = 30 * 1000;
export const OIDC_HTTP_TIMEOUT_MS = 10 * 1000;
/** Largest response body read from a provider. */
export const OIDC_MAX_BODY_BYTES = 512 * 1024;

export const PROVIDER_UNREACHABLE = "the identity provider could not be reached or gave an unusable answer";

/** What Sigil uses of a discovery document (OpenID Connect Discovery 1.0 §3). */
export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  id_token_signing_alg_values_supported?: string[];
  code_challenge_methods_supported?: string[];
}

/** The token endpoint's answer (RFC 6749 §5.1, OIDC Core §3.1.3.3). */
export interface TokenResponse {
  id_token: string;
  access_token?: string;
  token_type?: string;
}

/** http(s) URL checks shared by discovery and provider configuration. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Whether `u` may be used as an issuer or endpoint: https, or http on a
 * loopback address when the operator allowed it (SIGIL_OIDC_ALLOW_HTTP_LOOPBACK,
 * a provider run beside Sigil, tests). Off by default: a tenant admin must
 * not make the server fetch its own loopback ports.
 */
export function allowedProviderUrl(u: URL, allowHttpLoopback: boolean): boolean {
  return u.protocol === "https:" || (allowHttpLoopback && u.protocol === "http:" && isLoopbackHost(u.hostname));
}

/** An endpoint a provider named: https, or http on loopback when allowed. */
function checkEndpoint(value: unknown, name: string, allowHttpLoopback: boolean): string {
  if (typeof value !== "string") throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (discovery lacks ${name})`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (discovery ${name} is not a URL)`);
  }
  if (!allowedProviderUrl(u, allowHttpLoopback)) {
    throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (discovery ${name} must be https)`);
  }
  return value;
}

interface Cached<T> {
  value: T;
  at: number;
}

/** Discovery, JWKS, token and UserInfo requests to OpenID providers, with caches. One per server. */
export class OidcClient {
  readonly #fetch: OidcFetch;
  readonly #clock: Clock;
  /** SIGIL_OIDC_ALLOW_HTTP_LOOPBACK */
  readonly allowHttpLoopback: boolean;
  readonly #discovery = new Map<string, Cached<ProviderMetadata>>();
  readonly #jwks = new Map<string, Cached<{ set: JSONWebKeySet; getKey: JWTVerifyGetKey }>>();

  /** the server log (warnings with what a caller is not told, e.g. why discovery failed) */
  readonly log: (fields: Record<string, unknown>, msg: string) => void;

  constructor(opts: { fetch: OidcFetch; clock: Clock; allowHttpLoopback?: boolean; log?: (fields: Record<string, unknown>, msg: string) => void }) {
    this.#fetch = opts.fetch;
    this.#clock = opts.clock;
    this.allowHttpLoopback = opts.allowHttpLoopback ?? false;
    this.log = opts.log ?? (() => {});
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  /** One request; any transport failure, non-2xx status or oversized body is UNAVAILABLE with PROVIDER_UNREACHABLE. */
  async #request(url: string, init: RequestInit, what: string): Promise<{ status: number; body: unknown }> {
    let res: Response;
    let text: string | undefined;
    try {
      res = await this.#fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(OIDC_HTTP_TIMEOUT_MS) });
      text = await readBounded(res);
    } catch (e) {
      throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (${what})`, e);
    }
    if (text === undefined) throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (${what}: answer too large)`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  }

  /**
   * The provider's metadata from `${issuer}/.well-known/openid-configuration`
   * (Discovery §4); its `issuer` must equal the configured one exactly
   * (Discovery §4.3).
   */
  async discover(issuer: string, opts: { fresh?: boolean } = {}): Promise<ProviderMetadata> {
    const hit = this.#discovery.get(issuer);
    if (hit && !opts.fresh && this.#now() - hit.at < DISCOVERY_TTL_MS) return hit.value;
    // a provider stored while http on loopback was allowed is not fetched once it is not
    if (!URL.canParse(issuer) || !allowedProviderUrl(new URL(issuer), this.allowHttpLoopback)) throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (issuer must be https)`);
    const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const { status, body } = await this.#request(url, { method: "GET", headers: { accept: "application/json" } }, "discovery");
    if (status !== 200 || !body || typeof body !== "object") throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (discovery answered ${status})`);
    const m = body as Record<string, unknown>;
    if (m.issuer !== issuer) throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (discovery names another issuer)`);
    const meta: ProviderMetadata = {
      issuer,
      authorization_endpoint: checkEndpoint(m.authorization_endpoint, "authorization_endpoint", this.allowHttpLoopback),
      token_endpoint: checkEndpoint(m.token_endpoint, "token_endpoint", this.allowHttpLoopback),
      jwks_uri: checkEndpoint(m.jwks_uri, "jwks_uri", this.allowHttpLoopback),
      ...(m.userinfo_endpoint !== undefined ? { userinfo_endpoint: checkEndpoint(m.userinfo_endpoint, "userinfo_endpoint", this.allowHttpLoopback) } : {}),
      ...(Array.isArray(m.token_endpoint_auth_methods_supported) ? { token_endpoint_auth_methods_supported: m.token_endpoint_auth_methods_supported.map(String) } : {}),
      ...(Array.isArray(m.id_token_signing_alg_values_supported) ? { id_token_signing_alg_values_supported: m.id_token_signing_alg_values_supported.map(String) } : {}),
      ...(Array.isArray(m.code_challenge_methods_supported) ? { code_challenge_methods_supported: m.code_challenge_methods_supported.map(String) } : {}),
    };
    this.#discovery.set(issuer, { value: meta, at: this.#now() });
    return meta;
  }

  /**
   * A key resolver over the provider's JWKS for jose's jwtVerify: the cached
   * set, refetched when stale or when a token names a key id it lacks.
   */
  keys(meta: ProviderMetadata): JWTVerifyGetKey {
    return async (header, token) => {
      let entry = await this.#keySet(meta.jwks_uri, false);
      const known = (kid: string | undefined) => kid === undefined || entry.set.keys.some((k) => k.kid === kid);
      if (!known(header.kid) && this.#now() - entry.at >= JWKS_REFETCH_COOLDOWN_MS) entry = await this.#keySet(meta.jwks_uri, true);
      return entry.value.getKey(header, token);
    };
  }

  async #keySet(uri: string, fresh: boolean): Promise<Cached<{ set: JSONWebKeySet; getKey: JWTVerifyGetKey }> & { set: JSONWebKeySet }> {
    const hit = this.#jwks.get(uri);
    if (hit && !fresh && this.#now() - hit.at < JWKS_TTL_MS) return { ...hit, set: hit.value.set };
    const { status, body } = await this.#request(uri, { method: "GET", headers: { accept: "application/json" } }, "jwks");
    if (status !== 200 || !body || !Array.isArray((body as { keys?: unknown }).keys)) throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (jwks answered ${status})`);
    const set = body as JSONWebKeySet;
    const entry = { value: { set, getKey: createLocalJWKSet(set) }, at: this.#now() };
    this.#jwks.set(uri, entry);
    return { ...entry, set };
  }

  /**
   * The authorization code grant's token request (RFC 6749 §4.1.3) with
   * the PKCE verifier (RFC 7636 §4.5). A confidential client authenticates
   * with client_secret_basic (RFC 6749 §2.3.1) unless the provider offers
   * only client_secret_post; a public client sends its client_id.
   * A refusal by the provider (invalid_grant, ...) is UNAUTHENTICATED.
   */
  async exchangeCode(
    meta: ProviderMetadata,
    p: { clientId: string; clientSecret: string | null; code: string; redirectUri: string; codeVerifier: string },
  ): Promise<TokenResponse> {
    const form = new URLSearchParams({ grant_type: "authorization_code", code: p.code, redirect_uri: p.redirectUri, code_verifier: p.codeVerifier });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    const methods = meta.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
    if (p.clientSecret === null) {
      form.set("client_id", p.clientId);
    } else if (!methods.includes("client_secret_basic") && methods.includes("client_secret_post")) {
      form.set("client_id", p.clientId);
      form.set("client_secret", p.clientSecret);
    } else {
      // RFC 6749 §2.3.1: both form-urlencoded before base64
      const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, "+");
      headers.authorization = `Basic ${Buffer.from(`${enc(p.clientId)}:${enc(p.clientSecret)}`).toString("base64")}`;
    }
    const { status, body } = await this.#request(meta.token_endpoint, { method: "POST", headers, body: form.toString() }, "token");
    const b = (body ?? {}) as Record<string, unknown>;
    if (status >= 400 && status < 500 && typeof b.error === "string") {
      // RFC 6749 §5.2: the provider refused the code (expired, used, wrong verifier, wrong client)
      throw SigilError.unauthenticated(`the identity provider refused the sign-in (${b.error.replace(/[^\w.-]/g, "").slice(0, 64)})`);
    }
    if (status !== 200 || typeof b.id_token !== "string") throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (token answered ${status})`);
    return {
      id_token: b.id_token,
      ...(typeof b.access_token === "string" ? { access_token: b.access_token } : {}),
      ...(typeof b.token_type === "string" ? { token_type: b.token_type } : {}),
    };
  }

  /** The UserInfo claims (OIDC Core §5.3.2) for an access token, or undefined when the provider has no endpoint. */
  async userInfo(meta: ProviderMetadata, accessToken: string): Promise<Record<string, unknown> | undefined> {
    if (!meta.userinfo_endpoint) return undefined;
    const { status, body } = await this.#request(meta.userinfo_endpoint, { method: "GET", headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" } }, "userinfo");
    if (status !== 200 || !body || typeof body !== "object" || Array.isArray(body)) throw SigilError.unavailable(`${PROVIDER_UNREACHABLE} (userinfo answered ${status})`);
    return body as Record<string, unknown>;
  }
}

/** The body as text, or undefined past OIDC_MAX_BODY_BYTES. */
async function readBounded(res: Response): Promise<string | undefined> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > OIDC_MAX_BODY_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
