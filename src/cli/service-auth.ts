/**
 * The CLI side of key-pair authentication (RFC 7523, docs/service-auth.md):
 * a JWT signed with a service account's private key, which never leaves
 * the machine. `sigil sa jwt` prints one (for "authorization: Bearer"),
 * `sigil login --service-account` exchanges one for an access token.
 */
import { randomUUID, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { calculateJwkThumbprint, SignJWT } from "jose";
import { canonicalJwk } from "../core/jwk.js";
import { UsageError } from "./admin-client.js";

/** How long the CLI's JWTs live (the server accepts at most 300 s). */
export const CLI_JWT_LIFETIME_S = 120;

/** The signing algorithm of a private key: ES256 (P-256), RS256 (RSA) or EdDSA (Ed25519). */
function algorithmOf(key: KeyObject): "ES256" | "RS256" | "EdDSA" {
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  throw new UsageError("the private key must be EC P-256, RSA or Ed25519");
}

/** Reads a PEM private key (PKCS#8, or SEC1 / PKCS#1) from `file`. */
export function readPrivateKey(file: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read the private key ${file}: ${(e as Error).message}`);
  }
  try {
    return createPrivateKey({ key: text, format: "pem" });
  } catch {
    throw new UsageError(`${file} is not a PEM private key`);
  }
}

/**
 * A JWT for the service account (RFC 7523 §3: iss = sub = the account,
 * aud, iat, exp 2 minutes later, a fresh jti) with "kid" the RFC 7638
 * thumbprint of the key's public part: the key id the server returned at
 * registration.
 */
export async function signServiceAccountJwt(key: KeyObject, serviceAccountId: string, audience: string, now = new Date()): Promise<string> {
  const alg = algorithmOf(key);
  const kid = await calculateJwkThumbprint(canonicalJwk(createPublicKey(key)), "sha256");
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .setIssuer(serviceAccountId)
    .setSubject(serviceAccountId)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + CLI_JWT_LIFETIME_S)
    .setJti(randomUUID())
    .sign(key);
}

/** --audience, else $SIGIL_JWT_AUDIENCE: the server's SIGIL_JWT_AUDIENCE (default its SIGIL_PUBLIC_URL). */
export function audienceOf(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  const a = (typeof values.audience === "string" && values.audience) || env.SIGIL_JWT_AUDIENCE;
  if (!a) throw new UsageError("--audience (or $SIGIL_JWT_AUDIENCE) is required: the server's SIGIL_JWT_AUDIENCE, by default its SIGIL_PUBLIC_URL");
  return a;
}
