/**
 * The JWS objects nested inside an ACME request's payload, verified in one
 * place: the key rollover's inner JWS (RFC 8555 §7.3.5, signed by the new
 * account key) and the External Account Binding (§7.3.4, MACed with the EAB
 * key). Both are flattened JWS (RFC 7515 §7.2.2) with a protected header
 * only; both are checked by the same decoder and the same signature check,
 * with the algorithm list of their kind (src/core/jws-algorithms.ts: the
 * outer JWS's list for keyChange, HS* for EAB).
 *
 * Keys are identified by the RFC 7638 thumbprint of their canonical JWK
 * (the JWK as node:crypto re-encodes the key), never by the text a client
 * sent: base64url trailing bits or an RSA modulus' leading zero byte give
 * another text for the same key.
 */
import { calculateJwkThumbprint, type JWK } from "jose";
import { createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify, type JsonWebKey, type KeyObject } from "node:crypto";
import { canonicalJwk, publicJwk } from "../../core/jwk.js";
import { ALG_SPECS, EAB_HASHES, isAcceptedAlg, isEabAlg, type AcceptedAlg, type EabAlg } from "../../core/jws-algorithms.js";
import { ACME_MESSAGES, acmeErr } from "./errors.js";

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** Fixed messages of the inner-JWS rules (tests and clients see them). */
export const INNER_JWS_MESSAGES = {
  notJws: (what: string) => `${what} must be a flattened JWS (protected, payload and signature strings)`,
  notJson: (what: string) => `${what} is not base64url-encoded JSON`,
  headerNotObject: (what: string) => `${what} protected header must be a JSON object`,
  payloadNotObject: (what: string) => `${what} payload must be a JSON object`,
  badAlg: (what: string, algs: readonly string[]) => `${what} alg must be one of ${algs.join(", ")}`,
  nonce: (what: string) => `${what} must not carry a nonce`,
  keyChangeJwk: "keyChange inner JWS must carry jwk (the new key) and no kid",
  privateJwk: "keyChange inner JWS jwk must be a public key",
  keyChangeUrl: "keyChange inner JWS url must equal the outer url",
  keyChangeSignature: "keyChange inner JWS signature does not verify with its jwk",
  keyChangeAccount: "keyChange payload account must be the signing account",
  keyChangeOldKeyJwk: "keyChange payload oldKey is not a JWK",
  keyChangeOldKey: "keyChange oldKey is not the account's current key",
  eabUrl: "externalAccountBinding url must be the newAccount URL",
  eabPayload: "externalAccountBinding payload must be the account key",
} as const;

const B64URL = /^[A-Za-z0-9_-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------
// keys

// publicJwk / canonicalJwk: src/core/jwk.ts (shared with the transport's outer JWS), re-exported here
export { canonicalJwk, publicJwk };

/** a public key from a JWK (private members ignored); throws when it is not a usable key */
export function importPublicJwk(jwk: unknown): KeyObject {
  if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) throw new Error("not a JWK object");
  return createPublicKey({ key: publicJwk(jwk as JWK) as JsonWebKey, format: "jwk" });
}

/** RFC 7638 SHA-256 thumbprint of the key's canonical JWK: the key's identity everywhere */
export async function keyThumbprint(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(canonicalJwk(key), "sha256");
}

// ---------------------------------------------------------------------------
// the shared decoder and signature check

interface Decoded {
  jws: FlattenedJws;
  header: Record<string, unknown>;
  payload: unknown;
}

function b64json(s: string, what: string): unknown {
  if (!B64URL.test(s)) throw acmeErr.malformed(INNER_JWS_MESSAGES.notJson(what));
  try {
    return JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  } catch {
    throw acmeErr.malformed(INNER_JWS_MESSAGES.notJson(what));
  }
}

/** RFC 7515 §7.2.2 flattened serialization with a protected header only (no `header`, no `signatures`) */
function decodeFlattened(value: unknown, what: string): Decoded {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw acmeErr.malformed(INNER_JWS_MESSAGES.notJws(what));
  const v = value as Record<string, unknown>;
  const { protected: p, payload, signature } = v;
  if (typeof p !== "string" || typeof payload !== "string" || typeof signature !== "string" || "signatures" in v || "header" in v) {
    throw acmeErr.malformed(INNER_JWS_MESSAGES.notJws(what));
  }
  const header = b64json(p, what);
  if (!header || typeof header !== "object" || Array.isArray(header)) throw acmeErr.malformed(INNER_JWS_MESSAGES.headerNotObject(what));
  return { jws: { protected: p, payload, signature }, header: header as Record<string, unknown>, payload: b64json(payload, what) };
}

/**
 * RFC 7515 §5.2 signature (or MAC) check: `crit` may only name `b64` and the
 * payload must then still be base64url (b64 true); an asymmetric key must fit
 * its alg (RFC 7518 §3.1: kty, curve, RSA at least 2048 bits); HMACs compare
 * in constant time.
 */
export function verifyFlattenedJws(jws: FlattenedJws, header: Record<string, unknown>, key: KeyObject | Buffer): boolean {
  if (header.crit !== undefined) {
    if (!Array.isArray(header.crit) || header.crit.length === 0 || header.crit.some((c) => c !== "b64")) return false;
    if (header.b64 !== true) return false;
  }
  if (!B64URL.test(jws.protected) || !B64URL.test(jws.payload) || !B64URL.test(jws.signature)) return false;
  const input = Buffer.from(`${jws.protected}.${jws.payload}`, "ascii");
  const signature = Buffer.from(jws.signature, "base64url");
  const alg = header.alg;
  try {
    if (Buffer.isBuffer(key)) {
      if (!isEabAlg(alg)) return false;
      const mac = createHmac(EAB_HASHES[alg], key).update(input).digest();
      return mac.length === signature.length && timingSafeEqual(mac, signature);
    }
    if (!isAcceptedAlg(alg)) return false;
    const spec = ALG_SPECS[alg];
    const jwk = key.export({ format: "jwk" }) as JWK;
    if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) return false;
    if (spec.minRsaBits && (key.asymmetricKeyDetails?.modulusLength ?? 0) < spec.minRsaBits) return false;
    return cryptoVerify(spec.hash, input, spec.p1363 ? { key, dsaEncoding: "ieee-p1363" } : key, signature);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// RFC 8555 §7.3.5 key rollover

export interface KeyChangeInput {
  /** the outer JWS's payload: the inner JWS */
  inner: unknown;
  /** the outer JWS's `url` (the keyChange URL) */
  outerUrl: string;
  /** the outer JWS's `kid`: the account URL */
  accountUrl: string;
  /** the account's current key (its stored JWK) */
  accountJwk: JWK;
}

export interface VerifiedKeyChange {
  /** the new key, canonical */
  newJwk: JWK;
  /** RFC 7638 thumbprint of newJwk */
  newThumbprint: string;
  alg: AcceptedAlg;
}

/**
 * RFC 8555 §7.3.5: the inner JWS is a flattened JWS signed with the new key,
 * whose protected header has `jwk` (the new key), no `kid`, no `nonce` and
 * the outer `url`; its payload names the account (`account` = the outer
 * `kid`) and its current key (`oldKey`). Everything but a wrong oldKey is
 * malformed; a wrong oldKey is unauthorized. The caller verified the outer
 * JWS with the account's key.
 */
export async function verifyKeyChange(input: KeyChangeInput): Promise<VerifiedKeyChange> {
  const what = "keyChange inner JWS";
  const { jws, header, payload } = decodeFlattened(input.inner, what);
  if (!isAcceptedAlg(header.alg)) throw acmeErr.malformed(INNER_JWS_MESSAGES.badAlg(what, Object.keys(ALG_SPECS)));
  const jwk = header.jwk;
  if (!jwk || typeof jwk !== "object" || Array.isArray(jwk) || header.kid !== undefined) throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeJwk);
  if ("d" in jwk || "p" in jwk || "k" in jwk) throw acmeErr.malformed(INNER_JWS_MESSAGES.privateJwk);
  if (header.nonce !== undefined) throw acmeErr.malformed(INNER_JWS_MESSAGES.nonce(what));
  if (header.url !== input.outerUrl) throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeUrl);
  let newKey: KeyObject;
  try {
    newKey = importPublicJwk(jwk);
  } catch {
    throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeSignature);
  }
  if (!verifyFlattenedJws(jws, header, newKey)) throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeSignature);
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) throw acmeErr.malformed(INNER_JWS_MESSAGES.payloadNotObject(what));
  const body = payload as Record<string, unknown>;
  if (body.account !== input.accountUrl) throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeAccount);
  let oldThumbprint: string;
  try {
    oldThumbprint = await keyThumbprint(importPublicJwk(body.oldKey));
  } catch {
    throw acmeErr.malformed(INNER_JWS_MESSAGES.keyChangeOldKeyJwk);
  }
  if (oldThumbprint !== (await keyThumbprint(importPublicJwk(input.accountJwk)))) throw acmeErr.unauthorized(INNER_JWS_MESSAGES.keyChangeOldKey);
  return { newJwk: canonicalJwk(newKey), newThumbprint: await keyThumbprint(newKey), alg: header.alg };
}

// ---------------------------------------------------------------------------
// RFC 8555 §7.3.4 External Account Binding

export interface ExternalAccountBinding {
  /** the EAB key id (lower case) */
  kid: string;
  alg: EabAlg;
  jws: FlattenedJws;
  header: Record<string, unknown>;
}

/**
 * RFC 8555 §7.3.4: a flattened JWS MACed (HS256/384/512) with the EAB key,
 * protected header `kid` = the EAB key id, `url` = the newAccount URL, no
 * `nonce`; its payload is the account key. A shape error is malformed; a
 * binding for another URL, an impossible kid or another key is unauthorized.
 * The MAC is checked by verifyExternalAccountBinding once the key is read.
 */
export async function parseExternalAccountBinding(value: unknown, expect: { newAccountUrl: string; accountThumbprint: string }): Promise<ExternalAccountBinding> {
  const what = "externalAccountBinding";
  const { jws, header, payload } = decodeFlattened(value, what);
  if (!isEabAlg(header.alg)) throw acmeErr.malformed(INNER_JWS_MESSAGES.badAlg(what, Object.keys(EAB_HASHES)));
  if (header.nonce !== undefined) throw acmeErr.malformed(INNER_JWS_MESSAGES.nonce(what));
  if (header.url !== expect.newAccountUrl) throw acmeErr.unauthorized(INNER_JWS_MESSAGES.eabUrl);
  if (typeof header.kid !== "string" || !UUID.test(header.kid)) throw acmeErr.unauthorized(ACME_MESSAGES.eabInvalid);
  let thumbprint: string | undefined;
  try {
    thumbprint = await keyThumbprint(importPublicJwk(payload));
  } catch {
    thumbprint = undefined;
  }
  if (thumbprint !== expect.accountThumbprint) throw acmeErr.unauthorized(INNER_JWS_MESSAGES.eabPayload);
  return { kid: header.kid.toLowerCase(), alg: header.alg, jws, header };
}

/** the binding's MAC, with the EAB key's HMAC secret */
export function verifyExternalAccountBinding(binding: ExternalAccountBinding, hmacKey: Buffer): boolean {
  return verifyFlattenedJws(binding.jws, binding.header, hmacKey);
}
