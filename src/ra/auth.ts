/**
 * Authentication of the admin plane: password login with lockout and a
 * per-address throttle, short-lived access tokens (JWT, RFC 7519, HS256,
 * following the JWT BCP RFC 8725: explicit algorithm, typed "at+jwt" as in
 * RFC 9068 §2.1, iss/aud/exp/jti checked), opaque single-use refresh tokens
 * in rotating families (OAuth 2.0 Security BCP, RFC 9700 §4.14.2: a reused
 * refresh token revokes its family), and service-account API keys.
 *
 * Secrets are never stored or logged in the clear: refresh tokens and API
 * keys are kept as SHA-256 hashes, passwords as bcrypt hashes, and the JWT
 * signing key encrypted under the master key in system_settings (so every
 * instance behind a load balancer shares it).
 */
import { randomBytes, timingSafeEqual, webcrypto } from "node:crypto";
import bcrypt from "bcrypt";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { Capability } from "../core/types.js";
import type { ServiceAccount, Session, User } from "../db/entities/index.js";
import { findApiKeyByHash, touchApiKey } from "../db/store/service-accounts.js";
import { throttleKey, throttleKey48Prefix } from "../core/client-address.js";
import {
  addressLockedUntil,
  clearUserFailures,
  countAddressFailures,
  countAddressPrefixFailures,
  countUserFailures,
  findAccessSession,
  findRefreshToken,
  insertLoginFailure,
  insertLoginSession,
  insertRefreshToken,
  lockLoginAddress,
  lockLoginSession,
  lockRefreshToken,
  pruneLoginFailures,
  recentSessionAddresses,
  revokeLoginSessions,
  touchLoginSession,
} from "../db/store/sessions.js";
import { findOrganization } from "../db/store/organizations.js";
import { settingsOf } from "./organization-settings.js";
import { getSetting, putSettingIfAbsent } from "../db/store/system-settings.js";
import { findPasswordHash, findUser, findUserForLogin } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { DEFAULT_BCRYPT_COST, inTransaction, type RaContext, type Tx } from "./context.js";
import { endAllSessions, sha256Hex } from "./sessions.js";
import { notFoundFor } from "./not-found.js";
import { isJwtBearer, usableExchangedKey, verifyJwtBearer } from "./jwt-bearer.js";

// ---------------------------------------------------------------------------
// Policy constants

/** Lifetime of an access token. */
export const ACCESS_TOKEN_TTL_MS = 15 * 60 * 1000;
/** Lifetime of one refresh token (each use issues a new one). */
export const REFRESH_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;
/** Absolute lifetime of a session (refresh-token family): log in again after this. */
export const SESSION_MAX_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * Lockout (issue 13 item 6), every count a sliding window over the
 * login_failures rows (wrong password, unknown user), shared by all
 * instances. In the order they are checked:
 * 1. per address, any accounts: LOGIN_THROTTLE_FAILURES within
 *    LOGIN_THROTTLE_WINDOW_MS answer RESOURCE_EXHAUSTED (before any bcrypt);
 * 2. per account and address: LOCKOUT_THRESHOLD wrong passwords within
 *    LOCKOUT_WINDOW_MS lock that address out of that account for
 *    LOCKOUT_DURATION_MS (other addresses still log in);
 * 3. per account, any addresses: ACCOUNT_LOCKOUT_THRESHOLD wrong passwords
 *    within LOCKOUT_WINDOW_MS lock the account everywhere for
 *    LOCKOUT_DURATION_MS, except a superuser's: anyone who knows its name
 *    could otherwise keep it locked out, so it has only rules 1 and 2,
 *    which lock out the guessing addresses and not the superuser.
 * 4. a superuser's account, any addresses (it has no rule 3):
 *    SUPERUSER_THROTTLE_FAILURES wrong passwords within LOCKOUT_WINDOW_MS
 *    refuse further tries (the same UNAUTHENTICATED, the password not
 *    checked, nothing counted) until the window slides, from every address
 *    but one it logged in from within SUPERUSER_KNOWN_ADDRESS_MS, so an
 *    attacker slows guessing to that rate and cannot lock the real superuser
 *    out of its usual addresses.
 * Addresses are counted by throttleKey (src/core/client-address.ts): an
 * IPv4 address as is, an IPv6 address by its /64; rule 1 also holds a whole
 * IPv6 /48 to LOGIN_THROTTLE_48_FAILURES. The same failures are recorded by
 * a wrong current password of a self-service change (verifyCurrentPassword).
 * UserService.UnlockUser lifts 2 and 3 for one account.
 */
export const LOCKOUT_THRESHOLD = 5;
export const LOCKOUT_WINDOW_MS = 15 * 60 * 1000;
/** How long a lockout (2 or 3) lasts from the failure that triggered it. */
export const LOCKOUT_DURATION_MS = 15 * 60 * 1000;
export const ACCOUNT_LOCKOUT_THRESHOLD = 20;
export const LOGIN_THROTTLE_FAILURES = 20;
export const LOGIN_THROTTLE_WINDOW_MS = 10 * 60 * 1000;
/** Rule 1 for a whole IPv6 /48 (a site): this many failures within LOGIN_THROTTLE_WINDOW_MS. */
export const LOGIN_THROTTLE_48_FAILURES = 100;
/** Rule 4: wrong superuser passwords within LOCKOUT_WINDOW_MS, from anywhere, before further tries are refused. */
export const SUPERUSER_THROTTLE_FAILURES = 20;
/** Rule 4 spares an address (its throttle key) a superuser session was started from within this long. */
export const SUPERUSER_KNOWN_ADDRESS_MS = 30 * 24 * 60 * 60 * 1000;
/** Update sessions.last_used_at at most this often per session. */
export const SESSION_LAST_USED_RESOLUTION_MS = 60 * 1000;
/** Update api_keys.last_used_at at most this often per key. */
export const API_KEY_LAST_USED_RESOLUTION_MS = 60 * 1000;

/** The one message for every failed login: unknown user, wrong password, inactive or locked account. */
export const INVALID_CREDENTIALS = "invalid username or password";
/** The one message for any unusable bearer credential. */
export const INVALID_TOKEN = "invalid or expired credential";
export const INVALID_REFRESH_TOKEN = "invalid or expired refresh token";
export const LOGIN_THROTTLED = "too many failed logins from this address; try again later";
/** The retry delay of LOGIN_THROTTLED (google.rpc.RetryInfo at the admin edge): the throttle window bounds the wait. */
export const LOGIN_THROTTLED_RETRY = { retryAfterMs: LOGIN_THROTTLE_WINDOW_MS, reason: "LOGIN_THROTTLED" } as const;

/** At most this many verified access tokens are remembered (~0.5 KiB each); the oldest goes first. */
export const VERIFIED_TOKEN_CACHE_MAX = 4096;

/** The claims of a verified access token (jose checked sub, jti, exp and iat are present). */
interface AccessTokenClaims {
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  nbf?: number;
  /** a user's token: its session and the user's session generation */
  sid?: unknown;
  gen?: unknown;
  /** a service account's exchanged token: its public key */
  pk?: unknown;
}

/** Every API key starts with this. */
export const API_KEY_PREFIX = "sigil_";
/** Characters of the key kept for recognition ("sigil_" + 6). */
export const API_KEY_DISPLAY_CHARS = API_KEY_PREFIX.length + 6;

const JWT_ISSUER = "sigil";
const JWT_AUDIENCE = "sigil-admin";
const JWT_TYPE = "at+jwt";
const SIGNING_KEY_SETTING = "jwt_signing_key";

// ---------------------------------------------------------------------------
// Actors

/** The capability flags of a user or service account as a set. */
export function capabilitiesOf(flags: {
  canCreateCa: boolean;
  canCreateCert: boolean;
  canRevokeCert: boolean;
  canExportPrivateKey: boolean;
  canDeleteCa: boolean;
}): Set<Capability> {
  const out = new Set<Capability>();
  if (flags.canCreateCa) out.add("create_ca");
  if (flags.canCreateCert) out.add("create_cert");
  if (flags.canRevokeCert) out.add("revoke_cert");
  if (flags.canExportPrivateKey) out.add("export_private_key");
  if (flags.canDeleteCa) out.add("delete_ca");
  return out;
}

/** The actor a user acts as. */
export function userActor(user: User): Actor {
  return {
    kind: "user",
    id: user.id,
    name: user.username,
    role: user.role,
    organizationId: user.organization?.id ?? null,
    capabilities: capabilitiesOf(user),
  };
}

/**
 * The actor a service account acts as (like a ROLE_USER of its
 * organization), restricted to `scopes` (its credential's, issue 13 item 3)
 * when given.
 */
export function serviceAccountActor(sa: ServiceAccount, scopes?: readonly string[]): Actor {
  return {
    kind: "serviceAccount",
    id: sa.id,
    name: sa.name,
    organizationId: sa.organization.id,
    capabilities: capabilitiesOf(sa),
    ...(scopes === undefined ? {} : { scopes }),
  };
}

/** An anonymous actor for audit entries of unauthenticated attempts (the attempted name). */
function anonymousActor(attemptedUsername: string): Actor {
  return { kind: "system", name: attemptedUsername.slice(0, 255) || "(empty)" };
}

// ---------------------------------------------------------------------------
// Results

/** How the caller authenticated. */
export type Credential =
  | { kind: "session"; sessionId: string; tokenId: string; expiresAt: Date }
  | { kind: "apiKey"; apiKeyId: string; expiresAt: Date | null }
  /** a JWT the service account signed, presented directly (RFC 7523; src/ra/jwt-bearer.ts); publicKeyId is the key's kid */
  | { kind: "jwtBearer"; publicKeyId: string; expiresAt: Date }
  /** an access token ExchangeJwt issued for such a JWT */
  | { kind: "serviceAccountToken"; publicKeyId: string; expiresAt: Date };

export interface Authenticated {
  actor: Actor;
  credential: Credential;
  /** the user or service account behind the actor */
  principal: { kind: "user"; user: User } | { kind: "serviceAccount"; serviceAccount: ServiceAccount };
}

export interface TokenPair {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export interface LoginResult extends TokenPair {
  user: User;
}

/** "ipv4:127.0.0.1:5000", "127.0.0.1:5000", "[::1]:5000" -> the address without port. */
export function clientAddress(peer: string): string {
  let p = peer.replace(/^(ipv4|ipv6|unix):/, "");
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracket) return bracket[1]!.slice(0, 64);
  if ((p.match(/:/g) ?? []).length === 1) p = p.slice(0, p.lastIndexOf(":"));
  return p.slice(0, 64);
}

// ---------------------------------------------------------------------------

function newOpaqueToken(): string {
  // 256 bits, base64url
  return randomBytes(32).toString("base64url");
}

/** A new API key: "sigil_" + 256 random bits in base64url. */
export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** Rule 1 (LOCKOUT_THRESHOLD comment): the address key, or its IPv6 /48, failed too often lately. */
async function addressThrottled(s: Tx | RaContext["store"], key: string, now: Date): Promise<boolean> {
  const since = new Date(now.getTime() - LOGIN_THROTTLE_WINDOW_MS);
  if ((await countAddressFailures(s, key, since)) >= LOGIN_THROTTLE_FAILURES) return true;
  const p48 = throttleKey48Prefix(key);
  return p48 !== undefined && (await countAddressPrefixFailures(s, p48, since)) >= LOGIN_THROTTLE_48_FAILURES;
}

/** Rule 4: the superuser's recent failures reached the budget and `key` is none of its usual addresses. */
async function superuserThrottled(tx: Tx, userId: string, key: string, now: Date): Promise<boolean> {
  if ((await countUserFailures(tx, userId, new Date(now.getTime() - LOCKOUT_WINDOW_MS))) < SUPERUSER_THROTTLE_FAILURES) return false;
  const usual = await recentSessionAddresses(tx, userId, new Date(now.getTime() - SUPERUSER_KNOWN_ADDRESS_MS));
  return !usual.some((a) => throttleKey(a) === key);
}

/**
 * Records one counted failure (a wrong password or an unknown user) of
 * `user` from address key `key` and applies rules 2 and 3; returns the lock
 * it caused, if any. Shared by login and the current-password check.
 */
export async function recordLoginFailure(tx: Tx, user: User | null, key: string, now: Date): Promise<{ scope: "address" | "account"; until: Date } | undefined> {
  const windowStart = new Date(now.getTime() - LOCKOUT_WINDOW_MS);
  await pruneLoginFailures(tx, new Date(now.getTime() - Math.max(LOCKOUT_WINDOW_MS, LOGIN_THROTTLE_WINDOW_MS)), now);
  let locked: { scope: "address" | "account"; until: Date } | undefined;
  let locksUntil: Date | null = null;
  if (user) {
    // this failure included
    const fromHere = (await countUserFailures(tx, user.id, windowStart, key)) + 1;
    if (fromHere >= LOCKOUT_THRESHOLD) {
      locksUntil = new Date(now.getTime() + LOCKOUT_DURATION_MS);
      locked = { scope: "address", until: locksUntil };
    }
    const everywhere = (await countUserFailures(tx, user.id, windowStart)) + 1;
    if (everywhere >= ACCOUNT_LOCKOUT_THRESHOLD && user.role !== "superuser") {
      user.lockedUntil = new Date(now.getTime() + LOCKOUT_DURATION_MS);
      locked = { scope: "account", until: user.lockedUntil };
    }
  }
  insertLoginFailure(tx, { id: uuidv7(), userId: user?.id ?? null, address: key, failedAt: now, locksUntil });
  return locked;
}

/**
 * Review 2 M4: the current password of a self-service change (own password
 * or email) is a password check like a login, so it is throttled and
 * counted like one: rule 1 refuses before bcrypt (RESOURCE_EXHAUSTED), a
 * locked account or address is refused without checking, and a wrong one is
 * recorded as a login failure of the user from `peer` (rules 2 and 3 apply,
 * audited as login_failure with reason bad_current_password). Throws
 * INVALID_ARGUMENT `wrongMessage` on current_password when refused.
 */
export async function verifyCurrentPassword(ra: RaContext, actor: Actor, userId: string, password: string, peer: string, wrongMessage: string): Promise<void> {
  const address = clientAddress(peer);
  const key = throttleKey(address);
  if (await addressThrottled(ra.store, key, ra.clock.now())) throw SigilError.resourceExhausted(LOGIN_THROTTLED, LOGIN_THROTTLED_RETRY);
  const hash = await findPasswordHash(ra.store, userId);
  const matches = hash !== null && (await bcrypt.compare(password, hash));
  const ok = await inTransaction(ra, async (tx) => {
    const now = ra.clock.now();
    await lockLoginAddress(tx, key);
    const user = await findUser(tx, userId, { lock: true });
    if (!user) return false;
    let reason: "locked" | "superuser_throttled" | "bad_current_password" | undefined;
    if (user.lockedUntil && user.lockedUntil.getTime() > now.getTime() && user.role !== "superuser") reason = "locked";
    else if (await addressLockedUntil(tx, user.id, key, now)) reason = "locked";
    else if (user.role === "superuser" && (await superuserThrottled(tx, user.id, key, now))) reason = "superuser_throttled";
    else if (!matches) reason = "bad_current_password";
    if (reason === undefined) return true;
    const locked = reason === "bad_current_password" ? await recordLoginFailure(tx, user, key, now) : undefined;
    tx.audit(actor, {
      action: "login_failure",
      organizationId: user.organization?.id ?? null,
      resourceType: "user",
      resourceId: user.id,
      detail: { reason, address, ...(locked ? { lockedUntil: locked.until.toISOString(), lockScope: locked.scope } : {}) },
    });
    return false;
  });
  if (!ok) throw SigilError.invalidArgument(wrongMessage, "current_password");
}

/**
 * Tokens, sessions, API keys and login throttling. One per server (the JWT
 * signing key is loaded once); build with `AuthManager.create(ra)`.
 */
export class AuthManager {
  /**
   * The HS256 key (RFC 7518 §3.2), imported once: jose imports a raw
   * Uint8Array secret into WebCrypto on every sign and verify, which the
   * access-token check of every RPC would pay each time.
   */
  readonly #secret: webcrypto.CryptoKey;
  /** access tokens jose verified, by their text (#verifiedAccessToken) */
  readonly #verified = new Map<string, AccessTokenClaims>();
  #dummyHash: Promise<string> | undefined;

  private constructor(
    readonly ra: RaContext,
    secret: webcrypto.CryptoKey,
    /** the "aud" service accounts' JWTs must carry (SIGIL_JWT_AUDIENCE; default SIGIL_PUBLIC_URL) */
    readonly jwtAudience: string,
  ) {
    this.#secret = secret;
  }

  /** Loads the JWT signing key (or creates it on first start) from system_settings, encrypted under the master key. */
  static async create(ra: RaContext, opts: { jwtAudience?: string } = {}): Promise<AuthManager> {
    // several instances may start at once: the first insert wins, everyone reads it back
    const stored =
      (await getSetting(ra.store, SIGNING_KEY_SETTING)) ??
      (await putSettingIfAbsent(ra.store, SIGNING_KEY_SETTING, await ra.secrets.seal(ra.store, null, randomBytes(32), SIGNING_KEY_SETTING), ra.clock.now()));
    const secret = await ra.secrets.open(ra.store, stored, SIGNING_KEY_SETTING);
    const key = await webcrypto.subtle.importKey("raw", new Uint8Array(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    return new AuthManager(ra, key, opts.jwtAudience ?? ra.publicUrl);
  }

  #now(): Date {
    return this.ra.clock.now();
  }

  /** bcrypt hash compared against when the user does not exist, so timing does not reveal it */
  #dummy(): Promise<string> {
    this.#dummyHash ??= bcrypt.hash(randomBytes(16).toString("hex"), this.ra.bcryptCost ?? DEFAULT_BCRYPT_COST);
    return this.#dummyHash;
  }

  async #accessToken(user: User, session: Session, now: Date): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + Math.floor(ACCESS_TOKEN_TTL_MS / 1000);
    const token = await new SignJWT({ sid: session.id, gen: session.generation })
      .setProtectedHeader({ alg: "HS256", typ: JWT_TYPE })
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setSubject(user.id)
      .setJti(randomBytes(16).toString("base64url"))
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#secret);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  #newRefreshToken(tx: Tx, session: Session, now: Date): { token: string; expiresAt: Date } {
    const token = newOpaqueToken();
    const expiresAt = new Date(Math.min(now.getTime() + REFRESH_TOKEN_TTL_MS, session.expiresAt.getTime()));
    insertRefreshToken(tx, { id: uuidv7(), session, tokenHash: sha256Hex(token), createdAt: now, expiresAt });
    return { token, expiresAt };
  }

  /**
   * Starts a session for `user` in the caller's transaction after a sign-in
   * verified elsewhere (OpenID Connect, src/ra/oidc/login.ts): the session
   * row, its first refresh token and an access token, as login makes them.
   */
  async openSession(tx: Tx, user: User, opts: { address: string; client: string; lifetimeMs: number }): Promise<TokenPair> {
    const now = this.#now();
    const session = insertLoginSession(tx, {
      id: uuidv7(),
      user,
      generation: user.sessionGeneration,
      createdAt: now,
      expiresAt: new Date(now.getTime() + opts.lifetimeMs),
      clientAddress: opts.address,
      client: opts.client.slice(0, 255) || null,
      lastUsedAt: now,
    });
    const refresh = this.#newRefreshToken(tx, session, now);
    const access = await this.#accessToken(user, session, now);
    return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken: refresh.token, refreshTokenExpiresAt: refresh.expiresAt };
  }

  /**
   * Username (any case) + password -> token pair. Every failure (unknown
   * user, wrong password, inactive or locked account, an organization that
   * requires SSO) gives the same UNAUTHENTICATED error, costs the same
   * bcrypt comparison, and is audited (login_failure, with the reason in the
   * detail, for operators only). The lockout rules are described at
   * LOCKOUT_THRESHOLD. The session lasts the organization's
   * session_lifetime_seconds (SESSION_MAX_TTL_MS without organization).
   * `client` is the caller's user-agent, recorded on the session.
   */
  async login(username: string, password: string, peer: string, client = ""): Promise<LoginResult> {
    if (!username) throw SigilError.invalidArgument("required", "username");
    if (!password) throw SigilError.invalidArgument("required", "password");
    const address = clientAddress(peer);
    const key = throttleKey(address);
    // rule 1 before any bcrypt (and again under the address lock below)
    if (await addressThrottled(this.ra.store, key, this.#now())) throw SigilError.resourceExhausted(LOGIN_THROTTLED, LOGIN_THROTTLED_RETRY);

    const found = await findUserForLogin(this.ra.store, username);
    const hash = found?.passwordHash ?? (await this.#dummy());
    const matches = await bcrypt.compare(password, hash);

    const outcome = await inTransaction(this.ra, async (tx) => {
      const now = this.#now();
      // concurrent guesses from one address key are counted one after the other
      await lockLoginAddress(tx, key);
      if (await addressThrottled(tx, key, now)) return { ok: false as const, throttled: true };
      const user = found ? await findUser(tx, found.id, { lock: true }) : null;
      const org = user?.organization ? await findOrganization(tx, user.organization.id) : null;
      const settings = org ? settingsOf(org) : null;
      let reason: "unknown_user" | "inactive" | "locked" | "bad_password" | "sso_required" | "superuser_throttled" | undefined;
      if (!user) reason = "unknown_user";
      else if (user.lockedUntil && user.lockedUntil.getTime() > now.getTime() && user.role !== "superuser") reason = "locked";
      else if (await addressLockedUntil(tx, user.id, key, now)) reason = "locked";
      else if (user.role === "superuser" && (await superuserThrottled(tx, user.id, key, now))) reason = "superuser_throttled";
      else if (!matches) reason = "bad_password";
      else if (!user.isActive) reason = "inactive";
      else if (settings?.requiredLoginMethod === "sso" && user.role !== "superuser") reason = "sso_required";

      if (reason !== undefined) {
        const locked = reason === "unknown_user" || reason === "bad_password" ? await recordLoginFailure(tx, user, key, now) : undefined;
        tx.audit(anonymousActor(username), {
          action: "login_failure",
          organizationId: user?.organization?.id ?? null,
          resourceType: "user",
          resourceId: user?.id ?? null,
          detail: { reason, address, ...(locked ? { lockedUntil: locked.until.toISOString(), lockScope: locked.scope } : {}) },
        });
        return { ok: false as const, throttled: false };
      }

      const u = user!;
      u.failedLoginCount = 0;
      u.failedLoginWindowStart = null;
      u.lastLoginAt = now;
      await clearUserFailures(tx, u.id, key);
      const lifetimeMs = settings ? settings.sessionLifetimeSeconds * 1000 : SESSION_MAX_TTL_MS;
      const session = insertLoginSession(tx, {
        id: uuidv7(),
        user: u,
        generation: u.sessionGeneration,
        createdAt: now,
        expiresAt: new Date(now.getTime() + lifetimeMs),
        clientAddress: address,
        client: client.slice(0, 255) || null,
        lastUsedAt: now,
      });
      const refresh = this.#newRefreshToken(tx, session, now);
      const access = await this.#accessToken(u, session, now);
      tx.audit(userActor(u), {
        action: "login_success",
        organizationId: u.organization?.id ?? null,
        resourceType: "session",
        resourceId: session.id,
        detail: { address },
      });
      return {
        ok: true as const,
        result: {
          accessToken: access.token,
          accessTokenExpiresAt: access.expiresAt,
          refreshToken: refresh.token,
          refreshTokenExpiresAt: refresh.expiresAt,
          user: u,
        },
      };
    });
    if (!outcome.ok) throw outcome.throttled ? SigilError.resourceExhausted(LOGIN_THROTTLED, LOGIN_THROTTLED_RETRY) : SigilError.unauthenticated(INVALID_CREDENTIALS);
    return outcome.result;
  }

  /**
   * Refresh token -> new token pair; the presented token is used up. A token
   * that was already used revokes its whole family (someone holds a copy).
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    if (!refreshToken) throw SigilError.invalidArgument("required", "refresh_token");
    const outcome = await inTransaction(this.ra, async (tx) => {
      const now = this.#now();
      const rt = await lockRefreshToken(tx, sha256Hex(refreshToken));
      if (!rt) return { ok: false as const };
      const session = await lockLoginSession(tx, rt.session.id);
      const user = await findUser(tx, session.user.id);
      // sessions.user_id is a restricting foreign key and users are never deleted
      if (!user) throw new Error("session without its user");
      if (rt.usedAt) {
        if (!session.revokedAt) {
          session.revokedAt = now;
          session.revokedReason = "refresh_token_reuse";
          tx.audit(anonymousActor(user.username), {
            action: "sessions_invalidate",
            organizationId: user.organization?.id ?? null,
            resourceType: "session",
            resourceId: session.id,
            detail: { reason: "refresh_token_reuse", userId: user.id },
          });
        }
        return { ok: false as const };
      }
      if (
        session.revokedAt ||
        session.expiresAt.getTime() <= now.getTime() ||
        rt.expiresAt.getTime() <= now.getTime() ||
        !user.isActive ||
        session.generation !== user.sessionGeneration
      ) {
        return { ok: false as const };
      }
      rt.usedAt = now;
      session.lastRefreshedAt = now;
      session.lastUsedAt = now;
      const refresh = this.#newRefreshToken(tx, session, now);
      const access = await this.#accessToken(user, session, now);
      return {
        ok: true as const,
        pair: {
          accessToken: access.token,
          accessTokenExpiresAt: access.expiresAt,
          refreshToken: refresh.token,
          refreshTokenExpiresAt: refresh.expiresAt,
        },
      };
    });
    if (!outcome.ok) throw SigilError.unauthenticated(INVALID_REFRESH_TOKEN);
    return outcome.pair;
  }

  /**
   * Ends the caller's session (the access token's family) and, when given,
   * the family of `refreshToken` if it is the caller's. Audited as "logout".
   */
  async logout(auth: Authenticated, refreshToken: string): Promise<void> {
    if (auth.credential.kind !== "session" || auth.principal.kind !== "user") {
      throw SigilError.failedPrecondition("API keys have no session; revoke the key with RevokeApiKey instead");
    }
    const { sessionId } = auth.credential;
    const user = auth.principal.user;
    await inTransaction(this.ra, async (tx) => {
      const now = this.#now();
      const ids = new Set([sessionId]);
      if (refreshToken) {
        const rt = await findRefreshToken(tx, sha256Hex(refreshToken));
        if (rt && rt.session.user.id === user.id) ids.add(rt.session.id);
      }
      const revoked = await revokeLoginSessions(tx, { userId: user.id, ids: [...ids] }, now, "logout");
      tx.audit(auth.actor, {
        action: "logout",
        organizationId: user.organization?.id ?? null,
        resourceType: "session",
        resourceId: sessionId,
        detail: { revokedSessions: revoked },
      });
    });
  }

  /**
   * Revokes every session of `userId` (the caller when empty) and bumps its
   * session generation, so outstanding access tokens stop working at once.
   * Another user's sessions need an admin of its organization (or a
   * superuser); a superuser's only another superuser. Audited as
   * "sessions_invalidate".
   */
  async invalidateAllSessions(actor: Actor, userId: string): Promise<number> {
    if (!userId) {
      if (actor.kind !== "user") throw SigilError.failedPrecondition("service accounts have no sessions; revoke their API keys instead");
      userId = actor.id;
    }
    return inTransaction(this.ra, async (tx) => {
      const now = this.#now();
      const user = await findUser(tx, userId, { lock: true });
      if (!user) throw notFoundFor(actor, "user not found");
      const self = actor.kind === "user" && actor.id === user.id;
      if (!self) {
        authorize(actor, user.organization?.id ?? null, "admin");
        if (user.role === "superuser" && !isSuperuser(actor)) throw SigilError.permissionDenied("only a superuser may act on a superuser");
      }
      const revoked = await endAllSessions(tx, user, "invalidate_all", now);
      tx.audit(actor, {
        action: "sessions_invalidate",
        organizationId: user.organization?.id ?? null,
        resourceType: "user",
        resourceId: user.id,
        detail: { revokedSessions: revoked },
      });
      return revoked;
    });
  }

  /**
   * RFC 7523 §2.1: a JWT signed by a service account's registered key ->
   * an access token (the same HS256 "at+jwt" as users', with `pk` naming
   * the public key instead of a session), valid ACCESS_TOKEN_TTL_MS and
   * never after the key's expiry; no refresh token. The jti is recorded
   * and the exchange audited (service_account_token_exchange) in one
   * transaction. Every refusal is UNAUTHENTICATED (src/ra/jwt-bearer.ts).
   */
  async exchangeJwt(assertion: string): Promise<{ accessToken: string; expiresAt: Date; serviceAccount: ServiceAccount }> {
    if (!assertion) throw SigilError.invalidArgument("required", "assertion");
    if (!isJwtBearer(assertion)) throw SigilError.unauthenticated("the assertion must be a JWT signed with ES256, RS256 or EdDSA");
    return inTransaction(this.ra, async (tx) => {
      const now = this.#now();
      const v = await verifyJwtBearer(this.ra, tx, assertion, { audience: this.jwtAudience, replay: "record" });
      const sa = v.serviceAccount;
      const iat = Math.floor(now.getTime() / 1000);
      let exp = iat + Math.floor(ACCESS_TOKEN_TTL_MS / 1000);
      if (v.key.expiresAt) exp = Math.min(exp, Math.floor(v.key.expiresAt.getTime() / 1000));
      const accessToken = await new SignJWT({ pk: v.key.id })
        .setProtectedHeader({ alg: "HS256", typ: JWT_TYPE })
        .setIssuer(JWT_ISSUER)
        .setAudience(JWT_AUDIENCE)
        .setSubject(sa.id)
        .setJti(randomBytes(16).toString("base64url"))
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(this.#secret);
      tx.audit(serviceAccountActor(sa, v.key.scopes), {
        action: "service_account_token_exchange",
        organizationId: sa.organization.id,
        resourceType: "service_account_public_key",
        resourceId: v.key.id,
        detail: { serviceAccountId: sa.id, kid: v.key.kid, jti: v.jti.slice(0, 64), accessTokenExpiresAt: new Date(exp * 1000).toISOString() },
      });
      return { accessToken, expiresAt: new Date(exp * 1000), serviceAccount: sa };
    });
  }

  /**
   * A bearer credential (access token or API key) -> who is calling. Every
   * failure is the same UNAUTHENTICATED error. The user or service account
   * is read fresh, so role, flag and activation changes apply at once.
   * `tokenTime` (a long-running call re-checking the credential it started
   * with) judges the access token's own exp at that time instead of now;
   * everything else (session, user, API key) is checked as of now.
   */
  async authenticate(bearer: string, tokenTime?: Date): Promise<Authenticated> {
    if (bearer.startsWith(API_KEY_PREFIX)) return this.#authenticateApiKey(bearer);
    // a service account's own JWT (RFC 7523): its jti is used up by this call; a re-check (tokenTime) of the same call does not count as a replay
    if (isJwtBearer(bearer)) {
      const v = await verifyJwtBearer(this.ra, this.ra.store, bearer, { audience: this.jwtAudience, replay: tokenTime ? "skip" : "record", currentDate: tokenTime });
      return {
        actor: serviceAccountActor(v.serviceAccount, v.key.scopes),
        credential: { kind: "jwtBearer", publicKeyId: v.key.kid, expiresAt: v.expiresAt },
        principal: { kind: "serviceAccount", serviceAccount: v.serviceAccount },
      };
    }
    return this.#authenticateAccessToken(bearer, tokenTime);
  }

  /**
   * The claims of an access token whose signature (HS256 only), typ, iss,
   * aud and required claims are valid and that is live at `at` (RFC 7519
   * §4.1.4 exp, §4.1.5 nbf), or UNAUTHENTICATED. Everything but the time
   * checks is a property of the token's text, so a token jose accepted once
   * is remembered (VERIFIED_TOKEN_CACHE_MAX entries, dropped once expired)
   * and its later calls only compare exp and nbf with `at`: every call still
   * reads the session and user (revocation, deactivation and role changes
   * stay immediate); only the HMAC and header/claims parsing are saved.
   */
  async #verifiedAccessToken(token: string, at: Date): Promise<AccessTokenClaims> {
    const seconds = Math.floor(at.getTime() / 1000);
    const known = this.#verified.get(token);
    if (known) {
      // jose's own rules: expired when exp <= now, not yet valid when nbf > now (no clock tolerance)
      if (known.exp > seconds && (known.nbf === undefined || known.nbf <= seconds)) return known;
      if (known.exp <= seconds) this.#verified.delete(token);
      throw SigilError.unauthenticated(INVALID_TOKEN);
    }
    let payload: AccessTokenClaims;
    try {
      ({ payload } = (await jwtVerify(token, this.#secret, {
        algorithms: ["HS256"],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        typ: JWT_TYPE,
        currentDate: at,
        requiredClaims: ["sub", "jti", "exp", "iat"],
      })) as { payload: AccessTokenClaims });
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw SigilError.unauthenticated(INVALID_TOKEN);
      throw e;
    }
    if (this.#verified.size >= VERIFIED_TOKEN_CACHE_MAX) {
      // oldest first (a Map iterates in insertion order)
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(token, payload);
    return payload;
  }

  async #authenticateAccessToken(token: string, tokenTime?: Date): Promise<Authenticated> {
    const now = this.#now();
    const payload = await this.#verifiedAccessToken(token, tokenTime ?? now);
    if (typeof (payload as { pk?: unknown }).pk === "string" && payload.sub && payload.exp !== undefined) {
      // an access token of ExchangeJwt: usable while its public key is (revocation ends it at once)
      const key = await usableExchangedKey(this.ra.store, (payload as { pk: string }).pk, payload.sub, now);
      if (!key) throw SigilError.unauthenticated(INVALID_TOKEN);
      return {
        actor: serviceAccountActor(key.serviceAccount, key.scopes),
        credential: { kind: "serviceAccountToken", publicKeyId: key.kid, expiresAt: new Date(payload.exp * 1000) },
        principal: { kind: "serviceAccount", serviceAccount: key.serviceAccount },
      };
    }
    if (typeof payload.sid !== "string" || typeof payload.gen !== "number" || !payload.sub || payload.exp === undefined) {
      throw SigilError.unauthenticated(INVALID_TOKEN);
    }
    // the session and its user in one prepared read (a session's user_id is a restricting foreign key: the user exists)
    const session = await findAccessSession(this.ra.store, payload.sid);
    const user = session?.user;
    if (
      !session ||
      !user ||
      session.revokedAt ||
      session.expiresAt.getTime() <= now.getTime() ||
      user.id !== payload.sub ||
      !user.isActive ||
      user.sessionGeneration !== payload.gen ||
      session.generation !== payload.gen
    ) {
      throw SigilError.unauthenticated(INVALID_TOKEN);
    }
    if (!session.lastUsedAt || now.getTime() - session.lastUsedAt.getTime() >= SESSION_LAST_USED_RESOLUTION_MS) {
      await touchLoginSession(this.ra.store, session.id, now);
      session.lastUsedAt = now;
    }
    return {
      actor: userActor(user),
      credential: { kind: "session", sessionId: session.id, tokenId: payload.jti ?? "", expiresAt: new Date(payload.exp * 1000) },
      principal: { kind: "user", user },
    };
  }

  async #authenticateApiKey(key: string): Promise<Authenticated> {
    const now = this.#now();
    const hash = sha256Hex(key);
    const row = await findApiKeyByHash(this.ra.store, hash);
    if (
      !row ||
      // defence in depth: the lookup is by hash already
      !timingSafeEqual(Buffer.from(row.keyHash, "hex"), Buffer.from(hash, "hex")) ||
      row.revokedAt ||
      (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) ||
      !row.serviceAccount.isActive
    ) {
      throw SigilError.unauthenticated(INVALID_TOKEN);
    }
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= API_KEY_LAST_USED_RESOLUTION_MS) {
      await touchApiKey(this.ra.store, row.id, now);
      row.lastUsedAt = now;
    }
    const sa = row.serviceAccount;
    return {
      actor: serviceAccountActor(sa, row.scopes),
      credential: { kind: "apiKey", apiKeyId: row.id, expiresAt: row.expiresAt ?? null },
      principal: { kind: "serviceAccount", serviceAccount: sa },
    };
  }
}
