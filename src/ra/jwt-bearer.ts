/**
 * Key-pair authentication of service accounts (issue 13 item 4,
 * docs/service-auth.md): the JWT bearer profile of RFC 7523.
 *
 * A service account registers public keys (ES256 on P-256, RS256 with RSA
 * of at least 2048 bits, EdDSA on Ed25519), each identified by its RFC 7638
 * thumbprint. A client signs a short JWT with the private key, which never
 * leaves it, and either exchanges it for an access token
 * (AuthService.ExchangeJwt, RFC 7523 §2.1) or presents it directly as the
 * bearer credential of any RPC. The checks (RFC 7523 §3):
 *  - header: alg one of ES256 / RS256 / EdDSA and equal to the key's, kid =
 *    a registered key of the service account (RFC 7515 §4.1.4);
 *  - iss = sub = the service account id (§3 items 1, 2);
 *  - aud = this instance's JWT audience (§3 item 3; SIGIL_JWT_AUDIENCE);
 *  - exp present and in the future, at most JWT_MAX_LIFETIME_S after iat
 *    (§3 item 4); iat not in the future; nbf, when present, passed (§3
 *    item 5); each with JWT_CLOCK_SKEW_S of tolerance;
 *  - jti present and never seen before for this service account (§3 item
 *    7): recorded in jwt_bearer_jtis until exp, atomically;
 *  - the key neither revoked nor expired, the service account active.
 * Every refusal is UNAUTHENTICATED. Before the signature is verified the
 * message is one and the same (unknown key, bad signature, revoked or
 * expired key, inactive account): nothing about registered keys leaks. The
 * claim checks after it name the claim, which only the key holder sees.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK } from "jose";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import { canonicalJwk } from "../core/jwk.js";
import type { ServiceAccount, ServiceAccountPublicKey } from "../db/entities/index.js";
import { recordJwtId } from "../db/store/jwt-replay.js";
import { findServiceAccount } from "../db/store/service-accounts.js";
import {
  findServiceAccountPublicKey,
  findServiceAccountPublicKeyById,
  insertServiceAccountPublicKey,
  listServiceAccountPublicKeys as listPublicKeyRows,
  publicKeyRegistered,
  touchServiceAccountPublicKey,
} from "../db/store/service-account-keys.js";
import type { Session } from "../db/store/session.js";
import { authorize } from "../policy/permissions.js";
import { normalizeScopes } from "../policy/scopes.js";
import type { Actor } from "./actor.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { requireId, requireName } from "./input.js";
import type { Page } from "./organizations.js";
import { nextPageToken, type PageRequest } from "./paging.js";

/** JWS algorithms a registered key may use (RFC 7518 §3.1, RFC 8037 §3.1). */
export const JWT_BEARER_ALGORITHMS = ["ES256", "RS256", "EdDSA"] as const;
export type JwtBearerAlgorithm = (typeof JWT_BEARER_ALGORITHMS)[number];
/** Longest a JWT may live: exp - iat (RFC 7523 §3 item 4 lets the server bound it). */
export const JWT_MAX_LIFETIME_S = 300;
/** Clock skew allowed on exp, iat and nbf (RFC 7523 §3 items 4, 5: "some small leeway"). */
export const JWT_CLOCK_SKEW_S = 60;
/** Smallest RSA modulus accepted for RS256. */
export const MIN_RSA_BITS = 2048;
/** Longest jti stored (the column's length). */
export const MAX_JTI_LENGTH = 255;
/** Update service_account_public_keys.last_used_at at most this often per key. */
export const PUBLIC_KEY_LAST_USED_RESOLUTION_MS = 60 * 1000;

/** The one message before the signature is verified (no oracle on keys or accounts). */
export const INVALID_JWT = "invalid JWT: unknown, revoked or expired key, inactive service account, or bad signature";
export const PUBLIC_KEY_NOT_FOUND = "public key not found";
const SERVICE_ACCOUNT_NOT_FOUND = "service account not found";

// ---------------------------------------------------------------------------
// Registration

/** A parsed public key: its canonical JWK, the algorithm its JWTs use and its RFC 7638 thumbprint. */
export interface ParsedPublicKey {
  jwk: JWK;
  algorithm: JwtBearerAlgorithm;
  kid: string;
}

/**
 * A PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----") or a public JWK
 * (JSON) -> the key; INVALID_ARGUMENT on `field` for anything else:
 * private keys, other key types or curves, RSA below MIN_RSA_BITS.
 */
export async function parsePublicKey(input: string, field = "public_key"): Promise<ParsedPublicKey> {
  const text = input.trim();
  if (!text) throw SigilError.invalidArgument("required", field);
  if (text.length > 16_384) throw SigilError.invalidArgument("too long for a public key", field);
  let key: KeyObject;
  if (text.startsWith("{")) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(text) as JWK;
    } catch {
      throw SigilError.invalidArgument("not valid JSON (expected a PEM public key or a JWK)", field);
    }
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw SigilError.invalidArgument("a JWK must be a JSON object", field);
    if ("d" in jwk || "p" in jwk || "k" in jwk) throw SigilError.invalidArgument("this is private key material: register the public key only", field);
    try {
      key = createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" });
    } catch {
      throw SigilError.invalidArgument("not a usable public JWK", field);
    }
  } else {
    if (/PRIVATE KEY-----/.test(text)) throw SigilError.invalidArgument("this is private key material: register the public key only", field);
    if (!/^-----BEGIN PUBLIC KEY-----/.test(text)) throw SigilError.invalidArgument('expected a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or a JWK', field);
    try {
      key = createPublicKey({ key: text, format: "pem" });
    } catch {
      throw SigilError.invalidArgument("not a valid PEM public key", field);
    }
  }
  let algorithm: JwtBearerAlgorithm;
  const type = key.asymmetricKeyType;
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") algorithm = "ES256";
  else if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw SigilError.invalidArgument(`RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${bits})`, field);
    algorithm = "RS256";
  } else if (type === "ed25519") algorithm = "EdDSA";
  else throw SigilError.invalidArgument("unsupported key type: use an EC P-256 (ES256), RSA >= 2048 bits (RS256) or Ed25519 (EdDSA) key", field);
  const jwk = canonicalJwk(key);
  return { jwk, algorithm, kid: await calculateJwkThumbprint(jwk, "sha256") };
}

async function loadServiceAccount(s: Session, id: string): Promise<ServiceAccount> {
  const sa = await findServiceAccount(s, id);
  if (!sa) throw SigilError.notFound(SERVICE_ACCOUNT_NOT_FOUND);
  return sa;
}

/** Registers a public key of a service account (organization admins). Audited as service_account_public_key_register. */
export async function registerPublicKey(
  ctx: RaContext,
  actor: Actor,
  input: { serviceAccountId: string; name: string; publicKey: string; expiresAt?: Date; scopes: readonly string[] },
): Promise<ServiceAccountPublicKey> {
  const saId = requireId(input.serviceAccountId, "service_account_id");
  const name = requireName(input.name, "name", 128);
  if (input.expiresAt && input.expiresAt.getTime() <= ctx.clock.now().getTime()) throw SigilError.invalidArgument("must be in the future", "expires_at");
  const scopes = normalizeScopes(input.scopes);
  const parsed = await parsePublicKey(input.publicKey);
  return inTransaction(ctx, async (tx) => {
    const sa = await loadServiceAccount(tx, saId);
    authorize(actor, sa.organization.id, "admin");
    if (await publicKeyRegistered(tx, sa.id, parsed.kid)) {
      throw SigilError.alreadyExists("this key is (or was) registered for the service account; a revoked key cannot come back: use a new key", "public_key");
    }
    const key = insertServiceAccountPublicKey(tx, {
      id: uuidv7(),
      serviceAccount: sa,
      kid: parsed.kid,
      name,
      algorithm: parsed.algorithm,
      jwk: parsed.jwk as Record<string, unknown>,
      scopes,
      createdById: actor.kind === "user" ? actor.id : null,
      createdAt: ctx.clock.now(),
      expiresAt: input.expiresAt ?? null,
    });
    tx.audit(actor, {
      action: "service_account_public_key_register",
      organizationId: sa.organization.id,
      resourceType: "service_account_public_key",
      resourceId: key.id,
      detail: { serviceAccountId: sa.id, kid: key.kid, name, algorithm: key.algorithm, scopes, expiresAt: key.expiresAt?.toISOString() ?? null },
    });
    return key;
  });
}

/** A page of a service account's public keys (members of its organization). */
export async function listPublicKeys(
  ctx: RaContext,
  actor: Actor,
  input: { serviceAccountId: string; includeRevoked: boolean },
  page: PageRequest,
): Promise<Page<ServiceAccountPublicKey>> {
  const saId = requireId(input.serviceAccountId, "service_account_id");
  const sa = await loadServiceAccount(ctx.store, saId);
  authorize(actor, sa.organization.id, "read");
  const { items, total } = await listPublicKeyRows(ctx.store, { serviceAccountId: sa.id, includeRevoked: input.includeRevoked }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Revokes a public key (organization admins): its JWTs and the access tokens exchanged for them stop at once. Audited. */
export async function revokePublicKey(ctx: RaContext, actor: Actor, input: { serviceAccountId: string; keyId: string }): Promise<ServiceAccountPublicKey> {
  const saId = requireId(input.serviceAccountId, "service_account_id");
  if (!input.keyId) throw SigilError.invalidArgument("required", "key_id");
  return inTransaction(ctx, async (tx) => {
    const sa = await loadServiceAccount(tx, saId);
    authorize(actor, sa.organization.id, "admin");
    const key = await findServiceAccountPublicKey(tx, sa.id, input.keyId.slice(0, 64), { lock: true });
    if (!key) throw SigilError.notFound(PUBLIC_KEY_NOT_FOUND);
    if (key.revokedAt) throw SigilError.failedPrecondition("the public key is already revoked");
    key.revokedAt = ctx.clock.now();
    tx.audit(actor, {
      action: "service_account_public_key_revoke",
      organizationId: sa.organization.id,
      resourceType: "service_account_public_key",
      resourceId: key.id,
      detail: { serviceAccountId: sa.id, kid: key.kid },
    });
    return key;
  });
}

// ---------------------------------------------------------------------------
// Verification

/** A JWT that passed every check: the service account and the key that signed it. */
export interface VerifiedJwtBearer {
  serviceAccount: ServiceAccount;
  key: ServiceAccountPublicKey;
  jti: string;
  /** the JWT's exp */
  expiresAt: Date;
}

/** Whether a bearer credential looks like a service account's JWT (a JWS whose alg is one of JWT_BEARER_ALGORITHMS). */
export function isJwtBearer(credential: string): boolean {
  if (credential.split(".").length !== 3) return false;
  try {
    const { alg } = decodeProtectedHeader(credential);
    return (JWT_BEARER_ALGORITHMS as readonly string[]).includes(alg ?? "");
  } catch {
    return false;
  }
}

function refuse(message = INVALID_JWT): never {
  throw SigilError.unauthenticated(message);
}

/** The key is usable now: not revoked, not expired, its service account active. */
export function keyUsable(key: ServiceAccountPublicKey, sa: ServiceAccount, now: Date): boolean {
  return !key.revokedAt && !(key.expiresAt && key.expiresAt.getTime() <= now.getTime()) && sa.isActive;
}

/**
 * Verifies a service account's JWT (the checks in the header comment).
 * `replay`: "record" records the jti (refusing a seen one) in `s` (the
 * root store, or the transaction of an exchange); "skip" for a long-running
 * call re-checking the JWT it was accepted with (`currentDate` then is the
 * call's start, for exp).
 */
export async function verifyJwtBearer(
  ctx: RaContext,
  s: Session | Tx,
  token: string,
  opts: { audience: string; replay: "record" | "skip"; currentDate?: Date },
): Promise<VerifiedJwtBearer> {
  const now = ctx.clock.now();
  let kid: string | undefined;
  let alg: string | undefined;
  let sub: string | undefined;
  try {
    ({ kid, alg } = decodeProtectedHeader(token));
    ({ sub } = decodeJwt(token));
  } catch {
    refuse("malformed JWT");
  }
  if (!alg || !(JWT_BEARER_ALGORITHMS as readonly string[]).includes(alg)) refuse(`the JWT's alg must be one of ${JWT_BEARER_ALGORITHMS.join(", ")}`);
  if (typeof kid !== "string" || !kid || kid.length > 64) refuse('the JWT header needs "kid": the key id (RFC 7638 thumbprint) of a registered key');
  if (typeof sub !== "string" || !/^[0-9a-f-]{36}$/i.test(sub)) refuse('the JWT needs "sub" (and "iss"): the service account id');
  const key = await findServiceAccountPublicKey(s, sub, kid);
  const sa = key?.serviceAccount;
  if (!key || !sa || key.algorithm !== alg) refuse();
  let payload: { jti?: unknown; iat?: number; exp?: number; nbf?: number };
  try {
    const publicKey = await importJWK(key.jwk as JWK, alg);
    ({ payload } = await jwtVerify(token, publicKey, {
      algorithms: [alg],
      issuer: sa.id,
      subject: sa.id,
      audience: opts.audience,
      currentDate: opts.currentDate ?? now,
      clockTolerance: JWT_CLOCK_SKEW_S,
      requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti"],
    }));
  } catch (e) {
    if (e instanceof joseErrors.JWSSignatureVerificationFailed || e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JOSENotSupported) refuse();
    if (e instanceof joseErrors.JWTExpired) refuse("the JWT has expired");
    if (e instanceof joseErrors.JWTClaimValidationFailed) {
      switch (e.claim) {
        case "aud":
          refuse(`the JWT's aud must be this server's audience "${opts.audience}"`);
        case "iss":
        case "sub":
          refuse('the JWT\'s "iss" and "sub" must both be the service account id');
        case "nbf":
          refuse("the JWT is not valid yet (nbf)");
        case "iat":
          refuse("the JWT's iat is invalid");
        default:
          refuse(`the JWT lacks or has an invalid "${e.claim}" claim`);
      }
    }
    if (e instanceof joseErrors.JOSEError) refuse();
    throw e;
  }
  if (!keyUsable(key, sa, now)) refuse();
  const { iat, exp, jti } = payload as { iat: number; exp: number; jti: unknown };
  const nowS = (opts.currentDate ?? now).getTime() / 1000;
  if (iat > nowS + JWT_CLOCK_SKEW_S) refuse("the JWT's iat is in the future");
  if (exp - iat > JWT_MAX_LIFETIME_S) refuse(`the JWT lives too long: exp may be at most ${JWT_MAX_LIFETIME_S} seconds after iat`);
  if (typeof jti !== "string" || !jti || jti.length > MAX_JTI_LENGTH) refuse(`the JWT's jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`);
  const expiresAt = new Date((exp + JWT_CLOCK_SKEW_S) * 1000);
  if (opts.replay === "record") {
    if (!(await recordJwtId(s, { serviceAccountId: sa.id, jti, expiresAt }, now))) refuse("this JWT's jti was already used: sign a new JWT for every use");
    if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() >= PUBLIC_KEY_LAST_USED_RESOLUTION_MS) {
      await touchServiceAccountPublicKey(s, key.id, now);
      key.lastUsedAt = now;
    }
  }
  return { serviceAccount: sa, key, jti, expiresAt: new Date(exp * 1000) };
}

/**
 * The public key behind an access token ExchangeJwt issued, if it is still
 * usable (not revoked or expired, service account active and the token's
 * subject); undefined otherwise.
 */
export async function usableExchangedKey(s: Session, keyRowId: string, serviceAccountId: string, now: Date): Promise<ServiceAccountPublicKey | undefined> {
  const key = await findServiceAccountPublicKeyById(s, keyRowId);
  if (!key || key.serviceAccount.id !== serviceAccountId || !keyUsable(key, key.serviceAccount, now)) return undefined;
  return key;
}
