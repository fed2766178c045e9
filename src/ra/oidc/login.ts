/**
 * Operator sign-in with OpenID Connect (issue 13 item 5, docs/sso.md): the
 * authorization code flow (OIDC Core §3.1) with PKCE (RFC 7636, S256).
 *
 * BeginSsoLogin picks the provider, fetches its discovery document, and
 * stores the sign-in in progress (oidc_logins): the state and a binding
 * secret as SHA-256 hashes, the nonce, and the code verifier sealed; it
 * answers the authorization URL, the state and the binding (kept by the
 * client, never in a URL: it ties the redirect to the client that began the
 * sign-in, so a code and state planted by someone else do not complete,
 * RFC 9700 §4.7 login CSRF). Single use, SSO_LOGIN_TTL_MS.
 *
 * CompleteSsoLogin uses the state up (first, in its own transaction: a
 * replay fails even if the rest does), exchanges the code with the
 * verifier, validates the ID token (OIDC Core §3.1.3.7), merges UserInfo
 * claims (§5.3.4: same sub), requires a verified email in an allowed
 * domain, maps claims to a role, links the user by (provider, sub) —
 * to the organization's user of that email, or a new user with JIT
 * provisioning — and starts a session as a password login does. Every
 * refusal after the state was found is audited (login_failure with the
 * reason); the user's role and flags follow the mapping at every sign-in.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { SigilError, isSigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import { CAPABILITIES } from "../../core/types.js";
import type { IdentityProvider, User } from "../../db/entities/index.js";
import {
  enabledIdentityProviders,
  findIdentityProvider,
  insertUserIdentity,
  lockOrganizationUserByEmail,
  lockUserIdentity,
  userLinkedToProvider,
} from "../../db/store/identity-providers.js";
import { countLiveOidcLogins, insertOidcLogin, lockOidcLoginByState, pruneOidcLogins } from "../../db/store/oidc-logins.js";
import { findOrganization, findOrganizationBySlug } from "../../db/store/organizations.js";
import { emailHolder, findUser, insertUser, usernameHolder } from "../../db/store/users.js";
import type { Actor } from "../actor.js";
import { clientAddress, userActor, type AuthManager, type LoginResult } from "../auth.js";
import { inTransaction, type RaContext, type Tx } from "../context.js";
import { requireId } from "../input.js";
import { settingsOf } from "../organization-settings.js";
import { sha256Hex } from "../sessions.js";
import { applyFlags } from "../users.js";
import { isLoopbackHost, type ProviderMetadata } from "./client.js";
import { mapClaims, type MappingOutcome } from "./mapping.js";
import { clientSecretAad, oidcClientOf } from "./providers.js";

/** How long a sign-in may take from BeginSsoLogin to CompleteSsoLogin. */
export const SSO_LOGIN_TTL_MS = 10 * 60 * 1000;
/** Clock skew allowed on the ID token's exp / iat (OIDC Core §3.1.3.7 items 9, 10). */
export const ID_TOKEN_CLOCK_TOLERANCE_S = 60;
/** An ID token issued longer ago than this is refused (§3.1.3.7 item 10). */
export const ID_TOKEN_MAX_AGE_S = SSO_LOGIN_TTL_MS / 1000;
/** Marks a user created by SSO as having no password (not a bcrypt hash: every password compare fails). */
export const NO_PASSWORD_HASH = "!sso";
/** Signature algorithms accepted on ID tokens (asymmetric only: the client secret is never a verification key here). */
export const ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

/**
 * Sign-ins in progress one provider may have (BeginSsoLogin needs no
 * credential and stores a row): beyond it RESOURCE_EXHAUSTED until some
 * complete or expire.
 */
export const MAX_LIVE_SSO_LOGINS = 10_000;
export const SSO_TOO_MANY = "too many sign-ins are in progress for this identity provider; try again in a few minutes";

export const SSO_NOT_CONFIGURED = "single sign-on is not configured for this organization";
export const SSO_SEVERAL_PROVIDERS = "the organization has several identity providers: give identity_provider_id";
export const SSO_INVALID_STATE = "this sign-in is unknown, expired or already used; start again";
export const SSO_INVALID_ID_TOKEN = "the identity provider's ID token is not valid";
export const SSO_EMAIL_MISSING = "the identity provider did not assert an email address";
export const SSO_EMAIL_UNVERIFIED = "the identity provider has not verified this email address";
export const SSO_DOMAIN_NOT_ALLOWED = "this email domain may not sign in to the organization";
export const SSO_NO_ROLE = "no role is mapped to this account";
export const SSO_UNKNOWN_USER = "no user is linked to this account and the organization does not create users on first sign-in";
export const SSO_USER_UNUSABLE = "this account cannot sign in to the organization; ask an organization admin";
/**
 * The organization's account of this email had its email set by its own user (never verified by Sigil):
 * linking by it would hand the provider's subject, and its mapped role, to whoever typed the address.
 */
export const SSO_EMAIL_NOT_CONFIRMED =
  "an account with this email exists, but its email was set by its user, not by an administrator; an organization admin must set it before it can be linked";

/** Why a sign-in was refused (audit detail `reason`). */
export type SsoFailureReason =
  | "sso_state_used"
  | "sso_state_expired"
  | "sso_binding_mismatch"
  | "sso_provider_disabled"
  | "sso_code_refused"
  | "sso_bad_id_token"
  | "sso_userinfo_mismatch"
  | "sso_email_missing"
  | "sso_email_unverified"
  | "sso_domain_not_allowed"
  | "sso_no_role"
  | "sso_unknown_user"
  | "sso_user_inactive"
  | "sso_user_unusable"
  | "sso_email_not_confirmed";

const b64url = (b: Buffer) => b.toString("base64url");
/** 256 random bits, base64url (43 characters: also a valid PKCE code_verifier, RFC 7636 §4.1). */
const secretToken = () => b64url(randomBytes(32));

function verifierAad(loginId: string): string {
  return `oidc_login:${loginId}:code_verifier`;
}

/** A redirect URI Sigil lets a sign-in use: https, or http on a loopback IP literal (RFC 8252 §7.3, §8.3); no fragment (RFC 6749 §3.1.2). */
export function requireRedirectUri(value: string, field = "redirect_uri"): string {
  if (!value) throw SigilError.invalidArgument("required", field);
  if (value.length > 2048) throw SigilError.invalidArgument("at most 2048 characters", field);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw SigilError.invalidArgument("not a URL", field);
  }
  if (u.hash || value.includes("#")) throw SigilError.invalidArgument("must not have a fragment", field);
  if (u.username || u.password) throw SigilError.invalidArgument("must not carry credentials", field);
  const loopbackIp = u.hostname === "127.0.0.1" || u.hostname === "[::1]";
  if (!(u.protocol === "https:" || (u.protocol === "http:" && loopbackIp))) {
    throw SigilError.invalidArgument("an https URL, or http://127.0.0.1:PORT/... for a native client (RFC 8252 §7.3)", field);
  }
  return value;
}

export interface BeginSsoLoginResult {
  authorizationUrl: string;
  state: string;
  binding: string;
  expiresAt: Date;
  identityProviderId: string;
}

async function chooseProvider(ctx: RaContext, input: { organization: string; identityProviderId: string }): Promise<IdentityProvider> {
  if (input.identityProviderId) {
    const id = requireId(input.identityProviderId, "identity_provider_id");
    const p = await findIdentityProvider(ctx.store, id);
    if (!p || !p.enabled) throw SigilError.notFound(SSO_NOT_CONFIGURED);
    if (input.organization) {
      const org = await findOrganizationBySlug(ctx.store, input.organization);
      if (!org || org.id !== p.organization.id) throw SigilError.notFound(SSO_NOT_CONFIGURED);
    }
    return p;
  }
  if (!input.organization) throw SigilError.invalidArgument("give organization or identity_provider_id", "organization");
  if (input.organization.length > 63) throw SigilError.notFound(SSO_NOT_CONFIGURED);
  const org = await findOrganizationBySlug(ctx.store, input.organization);
  const providers = org ? await enabledIdentityProviders(ctx.store, org.id) : [];
  if (providers.length === 0) throw SigilError.notFound(SSO_NOT_CONFIGURED);
  if (providers.length > 1) throw SigilError.failedPrecondition(SSO_SEVERAL_PROVIDERS, { type: "SSO_SEVERAL_PROVIDERS", subject: "identity_provider_id" });
  return providers[0]!;
}

/** BeginSsoLogin: the authorization request (OIDC Core §3.1.2.1) with PKCE (RFC 7636 §4.3). */
export async function beginSsoLogin(ctx: RaContext, input: { organization: string; identityProviderId: string; redirectUri: string }): Promise<BeginSsoLoginResult> {
  const redirectUri = requireRedirectUri(input.redirectUri);
  const provider = await chooseProvider(ctx, input);
  let meta: ProviderMetadata;
  try {
    meta = await oidcClientOf(ctx).discover(provider.issuer);
  } catch (e) {
    throw isSigilError(e) ? e : SigilError.unavailable("the identity provider could not be reached", e);
  }
  const state = secretToken();
  const binding = secretToken();
  const nonce = secretToken();
  const codeVerifier = secretToken();
  // RFC 7636 §4.2: S256 = BASE64URL(SHA256(ASCII(code_verifier)))
  const codeChallenge = b64url(createHash("sha256").update(codeVerifier, "ascii").digest());
  const now = ctx.clock.now();
  const expiresAt = new Date(now.getTime() + SSO_LOGIN_TTL_MS);
  await inTransaction(ctx, async (tx) => {
    await pruneOidcLogins(tx, now);
    if ((await countLiveOidcLogins(tx, provider.id, now)) >= MAX_LIVE_SSO_LOGINS) {
      throw SigilError.resourceExhausted(SSO_TOO_MANY, { retryAfterMs: SSO_LOGIN_TTL_MS, reason: "SSO_LOGINS_IN_PROGRESS" });
    }
    const id = uuidv7();
    insertOidcLogin(tx, {
      id,
      providerId: provider.id,
      stateHash: sha256Hex(state),
      bindingHash: sha256Hex(binding),
      nonce,
      codeVerifierEncrypted: await ctx.secrets.seal(tx, provider.organization.id, Buffer.from(codeVerifier, "ascii"), verifierAad(id)),
      redirectUri,
      createdAt: now,
      expiresAt,
    });
  });
  const url = new URL(meta.authorization_endpoint);
  const params: Record<string, string> = {
    response_type: "code",
    client_id: provider.clientId,
    redirect_uri: redirectUri,
    scope: provider.scopes.join(" "),
    state,
    nonce,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return { authorizationUrl: url.toString(), state, binding, expiresAt, identityProviderId: provider.id };
}

/** What CompleteSsoLogin answers: the tokens of a login, and whether the user was just created. */
export interface CompleteSsoLoginResult extends LoginResult {
  userCreated: boolean;
}

/** A refusal: the error for the caller and the audit reason. */
class Refusal extends Error {
  constructor(
    readonly error: SigilError,
    readonly reason: SsoFailureReason,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(error.message);
  }
}

function sameSecretHash(storedHex: string, presented: string): boolean {
  const a = Buffer.from(storedHex, "hex");
  const b = Buffer.from(sha256Hex(presented), "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

function anonymous(name: string): Actor {
  return { kind: "system", name: name.slice(0, 255) || "(sso)" };
}

/** The ID token's claims after OIDC Core §3.1.3.7's checks (items 2-3, 6-11; item 1 needs no decryption). */
async function validateIdToken(ctx: RaContext, meta: ProviderMetadata, provider: IdentityProvider, idToken: string, nonce: string): Promise<JWTPayload> {
  const offered = meta.id_token_signing_alg_values_supported?.filter((a) => ID_TOKEN_ALGORITHMS.includes(a));
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, oidcClientOf(ctx).keys(meta), {
      // item 2: iss exactly the issuer of the discovery document
      issuer: provider.issuer,
      // item 3: aud contains our client_id
      audience: provider.clientId,
      // items 6-8: the signature with the provider's keys, by the algorithms it announced (RS256 by default, §3.1.3.7 item 7)
      algorithms: offered && offered.length ? offered : ["RS256"],
      // items 9-10: exp in the future, iat recent
      currentDate: ctx.clock.now(),
      clockTolerance: ID_TOKEN_CLOCK_TOLERANCE_S,
      maxTokenAge: ID_TOKEN_MAX_AGE_S,
      requiredClaims: ["iss", "sub", "aud", "exp", "iat"],
    }));
  } catch (e) {
    if (e instanceof joseErrors.JOSEError) throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_bad_id_token", { check: e.code });
    if (isSigilError(e)) throw e;
    throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_bad_id_token", { check: "key" });
  }
  // items 4-5: several audiences need azp, and azp (when present) is our client_id
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const azp = (payload as { azp?: unknown }).azp;
  if ((aud.length > 1 && azp === undefined) || (azp !== undefined && azp !== provider.clientId)) {
    throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_bad_id_token", { check: "azp" });
  }
  // item 11: the nonce of this sign-in
  const got = (payload as { nonce?: unknown }).nonce;
  if (typeof got !== "string" || got.length !== nonce.length || !timingSafeEqual(Buffer.from(got), Buffer.from(nonce))) {
    throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_bad_id_token", { check: "nonce" });
  }
  if (typeof payload.sub !== "string" || !payload.sub || payload.sub.length > 255) {
    throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_bad_id_token", { check: "sub" });
  }
  return payload;
}

/** A verified email in an allowed domain, lower-cased, or a Refusal. */
function allowedEmail(claims: Record<string, unknown>, provider: IdentityProvider): string {
  const email = claims.email;
  if (typeof email !== "string" || !/^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 254) {
    throw new Refusal(SigilError.permissionDenied(SSO_EMAIL_MISSING), "sso_email_missing");
  }
  // OIDC Core §5.1: email_verified is a boolean (a few providers send the string)
  const verified = claims.email_verified === true || claims.email_verified === "true";
  if (!verified) throw new Refusal(SigilError.permissionDenied(SSO_EMAIL_UNVERIFIED), "sso_email_unverified", { email });
  const domain = email.slice(email.lastIndexOf("@") + 1).toLowerCase();
  if (!provider.allowedEmailDomains.includes(domain)) throw new Refusal(SigilError.permissionDenied(SSO_DOMAIN_NOT_ALLOWED), "sso_domain_not_allowed", { email });
  return email.toLowerCase();
}

/** A free username for a new SSO user: the email when it fits the username rule, else its local part with a suffix. */
async function freeUsername(tx: Tx, email: string): Promise<string> {
  if (/^[A-Za-z0-9._@-]{1,64}$/.test(email) && !(await usernameHolder(tx, email))) return email;
  const local = (email.slice(0, email.lastIndexOf("@")).replace(/[^A-Za-z0-9._-]/g, "") || "user").slice(0, 50);
  for (let i = 0; i < 8; i++) {
    const candidate = `${local}-${randomBytes(4).toString("hex")}`;
    if (!(await usernameHolder(tx, candidate))) return candidate;
  }
  throw SigilError.unavailable("no free username could be found; try again");
}

/** Sets the user's role and flags to the mapping's; returns what changed. */
function applyMapping(user: User, mapped: MappingOutcome): string[] {
  const changed: string[] = [];
  if (user.role !== mapped.role) {
    user.role = mapped.role;
    changed.push("role");
  }
  const flags = Object.fromEntries(CAPABILITIES.map((c) => [c, mapped.capabilities.has(c)]));
  changed.push(...applyFlags(user, flags));
  return changed;
}

/**
 * CompleteSsoLogin: the redirect's code and state, and the binding from
 * BeginSsoLogin -> a session, as AuthManager.login makes one. `peer` and
 * `client` are recorded on the session as for a password login.
 */
export async function completeSsoLogin(
  auth: AuthManager,
  input: { code: string; state: string; binding: string },
  peer: string,
  client = "",
): Promise<CompleteSsoLoginResult> {
  const ctx = auth.ra;
  if (!input.code) throw SigilError.invalidArgument("required", "code");
  if (!input.state) throw SigilError.invalidArgument("required", "state");
  if (!input.binding) throw SigilError.invalidArgument("required", "binding");
  if (input.code.length > 4096) throw SigilError.invalidArgument("at most 4096 characters", "code");
  if (input.state.length > 256 || input.binding.length > 256) throw SigilError.unauthenticated(SSO_INVALID_STATE);
  const address = clientAddress(peer);

  // 1. use the state up, in its own transaction (a replay fails even when a later step does)
  const started = await inTransaction(ctx, async (tx) => {
    const now = ctx.clock.now();
    const login = await lockOidcLoginByState(tx, sha256Hex(input.state));
    if (!login) return { ok: false as const };
    const provider = await findIdentityProvider(tx, login.provider.id, { withSecret: true });
    const refuse = (reason: SsoFailureReason) => {
      tx.audit(anonymous("(sso)"), {
        action: "login_failure",
        organizationId: provider?.organization.id ?? null,
        resourceType: "identity_provider",
        resourceId: login.provider.id,
        detail: { reason, address },
      });
      return { ok: false as const };
    };
    if (login.usedAt) return refuse("sso_state_used");
    login.usedAt = now;
    if (login.expiresAt.getTime() <= now.getTime()) return refuse("sso_state_expired");
    if (!sameSecretHash(login.bindingHash, input.binding)) return refuse("sso_binding_mismatch");
    if (!provider || !provider.enabled) return refuse("sso_provider_disabled");
    const codeVerifier = (await ctx.secrets.open(tx, login.codeVerifierEncrypted, verifierAad(login.id))).toString("ascii");
    const clientSecret = provider.clientSecretEncrypted
      ? (await ctx.secrets.open(tx, provider.clientSecretEncrypted, clientSecretAad(provider.id))).toString("utf8")
      : null;
    return { ok: true as const, provider, codeVerifier, clientSecret, nonce: login.nonce, redirectUri: login.redirectUri };
  });
  if (!started.ok) throw SigilError.unauthenticated(SSO_INVALID_STATE);
  const { provider } = started;
  const orgId = provider.organization.id;

  const audited = async (r: Refusal, subject?: string): Promise<never> => {
    await inTransaction(ctx, async (tx) => {
      tx.audit(anonymous(typeof r.detail.email === "string" ? r.detail.email : (subject ?? "(sso)")), {
        action: "login_failure",
        organizationId: orgId,
        resourceType: "identity_provider",
        resourceId: provider.id,
        detail: { reason: r.reason, address, ...(subject ? { subject } : {}), ...r.detail },
      });
    });
    throw r.error;
  };

  // 2. the code for tokens, the ID token checked, UserInfo merged
  let claims: Record<string, unknown>;
  let subject: string;
  try {
    const oidc = oidcClientOf(ctx);
    const meta = await oidc.discover(provider.issuer);
    let tokens;
    try {
      tokens = await oidc.exchangeCode(meta, {
        clientId: provider.clientId,
        clientSecret: started.clientSecret,
        code: input.code,
        redirectUri: started.redirectUri,
        codeVerifier: started.codeVerifier,
      });
    } catch (e) {
      if (isSigilError(e, "unauthenticated")) throw new Refusal(e, "sso_code_refused");
      throw e;
    }
    const idClaims = await validateIdToken(ctx, meta, provider, tokens.id_token, started.nonce);
    subject = idClaims.sub!;
    claims = { ...idClaims };
    if (tokens.access_token) {
      const info = await oidc.userInfo(meta, tokens.access_token);
      if (info) {
        // OIDC Core §5.3.4: the UserInfo sub must be the ID token's
        if (info.sub !== subject) throw new Refusal(SigilError.unauthenticated(SSO_INVALID_ID_TOKEN), "sso_userinfo_mismatch");
        claims = { ...info, ...idClaims };
      }
    }
  } catch (e) {
    if (e instanceof Refusal) return audited(e);
    throw e;
  }

  // 3. who may sign in, with which role
  let email: string;
  let mapped: MappingOutcome;
  try {
    email = allowedEmail(claims, provider);
    const m = mapClaims(claims, provider.roleMappings, provider.defaultRole ?? null);
    if (!m) throw new Refusal(SigilError.permissionDenied(SSO_NO_ROLE), "sso_no_role", { email });
    mapped = m;
  } catch (e) {
    if (e instanceof Refusal) return audited(e, subject);
    throw e;
  }

  // 4. link (or create) the user and start the session, with the audit entries, in one transaction
  const outcome = await inTransaction(ctx, async (tx) => {
    const now = ctx.clock.now();
    const refuse = (r: Refusal) => {
      tx.audit(anonymous(email), {
        action: "login_failure",
        organizationId: orgId,
        resourceType: "identity_provider",
        resourceId: provider.id,
        detail: { reason: r.reason, address, subject, email },
      });
      return { ok: false as const, error: r.error };
    };
    let user: User | null = null;
    let created = false;
    let linked = false;
    const identity = await lockUserIdentity(tx, provider.id, subject);
    if (identity) {
      user = await findUser(tx, identity.user.id, { lock: true });
      if (!user) throw new Error("identity without its user");
      identity.email = email;
      identity.lastLoginAt = now;
    } else {
      const existing = await lockOrganizationUserByEmail(tx, orgId, email);
      if (existing) {
        // the organization's user of this email (verified by the provider; set by an administrator), in a domain the organization trusts the provider for
        if (await userLinkedToProvider(tx, existing.id, provider.id)) return refuse(new Refusal(SigilError.permissionDenied(SSO_USER_UNUSABLE), "sso_user_unusable"));
        // review R1 HIGH-1: a self-service email is a claim, not a proof (src/ra/users.ts sets the flag)
        if (existing.emailSelfAsserted) return refuse(new Refusal(SigilError.permissionDenied(SSO_EMAIL_NOT_CONFIRMED), "sso_email_not_confirmed"));
        user = existing;
        linked = true;
      } else if (provider.jitProvisioning) {
        if (await emailHolder(tx, email)) return refuse(new Refusal(SigilError.permissionDenied(SSO_USER_UNUSABLE), "sso_user_unusable"));
        user = insertUser(tx, { id: uuidv7(), username: await freeUsername(tx, email), email, passwordHash: NO_PASSWORD_HASH, role: mapped.role, organizationId: orgId });
        created = true;
      } else {
        return refuse(new Refusal(SigilError.permissionDenied(SSO_UNKNOWN_USER), "sso_unknown_user"));
      }
      insertUserIdentity(tx, { id: uuidv7(), user, providerId: provider.id, subject, email, lastLoginAt: now });
    }
    if (user.role === "superuser" || user.organization?.id !== orgId) return refuse(new Refusal(SigilError.permissionDenied(SSO_USER_UNUSABLE), "sso_user_unusable"));
    if (!user.isActive) return refuse(new Refusal(SigilError.permissionDenied(SSO_USER_UNUSABLE), "sso_user_inactive"));
    const changed = applyMapping(user, mapped);
    const actor = userActor(user);
    if (created) {
      tx.audit(actor, {
        action: "user_create",
        organizationId: orgId,
        resourceType: "user",
        resourceId: user.id,
        detail: { username: user.username, role: user.role, flags: [...mapped.capabilities], via: "sso", identityProviderId: provider.id },
      });
    } else if (changed.length) {
      tx.audit(actor, { action: "user_update", organizationId: orgId, resourceType: "user", resourceId: user.id, detail: { changed, via: "sso", identityProviderId: provider.id } });
    }
    if (created || linked) {
      tx.audit(actor, { action: "sso_identity_link", organizationId: orgId, resourceType: "user", resourceId: user.id, detail: { identityProviderId: provider.id, subject, email } });
    }
    user.lastLoginAt = now;
    const org = await findOrganization(tx, orgId);
    const lifetimeMs = settingsOf(org ?? {}).sessionLifetimeSeconds * 1000;
    const pair = await auth.openSession(tx, user, { address, client, lifetimeMs });
    tx.audit(actor, {
      action: "login_success",
      organizationId: orgId,
      resourceType: "user",
      resourceId: user.id,
      detail: { address, method: "sso", identityProviderId: provider.id, matchedRules: mapped.matched },
    });
    return { ok: true as const, result: { ...pair, user, userCreated: created } };
  });
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}
